# Fetches the offline IP databases that ingest bundles (country, ASN) into data/ipdb/.
# Sourced by scripts/test and scripts/infra.sh; `bash scripts/ipdb.sh` runs it alone.
#
# Both come from the npm registry (fetched with curl: npm itself is not needed), pinned by
# version and SHA-256 (see docs/sources.md):
# - @ip-location-db/geo-whois-asn-country-mmdb: country, already a MaxMind DB;
# - @ip-location-db/asn: ASN and AS organisation, as CSV ranges, which scripts/asn_mmdb.py
#   turns into a MaxMind DB (mmdb-writer, in .venv-ipdb) so both are read the same way.
# Nothing is fetched when data/ipdb/ already holds this version.

IPDB_VERSION=2.3.2026061719
# Changes when scripts/asn_mmdb.py writes a different database from the same data.
IPDB_BUILD="$IPDB_VERSION-2"
IPDB_COUNTRY_SHA256=91757a1b06cdcd1955f292e4c4cfc54e091204f998e159a3187f7a2ef3724be0
IPDB_ASN_SHA256=b9425daf2f011c28f8586685d4f89166e77627e2c15fd93c6262c3e2dead6153

ipdb_fetch() {
    local dir=data/ipdb
    if [[ -f $dir/VERSION && $(cat "$dir/VERSION") == "$IPDB_BUILD" ]]; then
        return 0
    fi
    local work
    work=$(mktemp -d)
    echo "ipdb: fetching @ip-location-db $IPDB_VERSION from the npm registry" >&2
    local registry=https://registry.npmjs.org/@ip-location-db
    curl -fsSL --retry 3 -o "$work/ip-location-db-geo-whois-asn-country-mmdb-$IPDB_VERSION.tgz" \
        "$registry/geo-whois-asn-country-mmdb/-/geo-whois-asn-country-mmdb-$IPDB_VERSION.tgz"
    curl -fsSL --retry 3 -o "$work/ip-location-db-asn-$IPDB_VERSION.tgz" \
        "$registry/asn/-/asn-$IPDB_VERSION.tgz"
    local country="$work/ip-location-db-geo-whois-asn-country-mmdb-$IPDB_VERSION.tgz"
    local asn="$work/ip-location-db-asn-$IPDB_VERSION.tgz"
    echo "$IPDB_COUNTRY_SHA256  $country" | sha256sum --check --quiet
    echo "$IPDB_ASN_SHA256  $asn" | sha256sum --check --quiet
    mkdir -p "$work/country" "$work/asn"
    tar -xzf "$country" -C "$work/country"
    tar -xzf "$asn" -C "$work/asn"

    if [[ ! -x .venv-ipdb/bin/python ]]; then
        python3 -m venv .venv-ipdb
    fi
    .venv-ipdb/bin/pip install --quiet --disable-pip-version-check 'mmdb-writer==0.2.7' 'netaddr==1.3.0'

    rm -rf "$dir.new"
    mkdir -p "$dir.new/licences"
    cp "$work/country/package/geo-whois-asn-country.mmdb" "$dir.new/country.mmdb"
    .venv-ipdb/bin/python scripts/asn_mmdb.py "$work/asn/package" "$dir.new/asn.mmdb"
    cp "$work/country/package/NRO_LICENSE" "$dir.new/licences/country-NRO_LICENSE"
    for f in DBIP-LICENSE NRO_LICENSE ROUTEVIEWS-LICENSE MODIFICATIONS; do
        cp "$work/asn/package/$f" "$dir.new/licences/asn-$f"
    done
    echo "$IPDB_BUILD" >"$dir.new/VERSION"
    rm -rf "$dir" "$work"
    mv "$dir.new" "$dir"
    ls -l "$dir"/*.mmdb >&2
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    cd "$(dirname "$0")/.."
    ipdb_fetch
fi
