"""Turns @ip-location-db/asn's CSV ranges into one MaxMind DB (IPv4 inside IPv6).

Usage: asn_mmdb.py PACKAGE_DIR OUT.mmdb

Each row `first,last,asn,organisation` becomes the networks covering that range, with
{"autonomous_system_number", "autonomous_system_organization"}: the field names of MaxMind's
GeoLite2-ASN, so the reader is the same as for any ASN database. Deterministic: the same CSV
gives the same bytes.
"""

import csv
import sys

from mmdb_writer import MMDBWriter
from netaddr import IPRange, IPSet


def main(package: str, out: str) -> None:
    writer = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type="rampart-asn",
        languages=["en"],
        description={"en": "ASN by @ip-location-db/asn (RouteViews, RIRs, DB-IP; CC BY 4.0)"},
        # GeoLite2-ASN's type; "auto" would pick the smallest, which readers decoding into a
        # 32-bit field refuse.
        int_type="uint32",
    )
    rows = 0
    for name in ("asn-ipv4.csv", "asn-ipv6.csv"):
        with open(f"{package}/{name}", encoding="utf-8", newline="") as f:
            for first, last, asn, org in csv.reader(f):
                writer.insert_network(
                    IPSet(IPRange(first, last)),
                    {
                        "autonomous_system_number": int(asn),
                        "autonomous_system_organization": org,
                    },
                )
                rows += 1
    writer.to_db_file(out)
    print(f"asn_mmdb: {rows} ranges -> {out}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
