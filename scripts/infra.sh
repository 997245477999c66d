# The deployment, proven offline: infra/template.yaml through three linters, and the Lambda
# packages built as `sam build` builds them. Source it, then call infra_install (pip and
# rustup, before cargo starts), infra_check and infra_build.

source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
source "$(dirname "${BASH_SOURCE[0]}")/ipdb.sh"

# SAM and cargo-lambda share a venv: cargo-lambda finds zig as `python3 -m ziglang`, so the
# python3 first on PATH during `sam build` must be the one that has ziglang.
SAM_VENV="${SAM_VENV:-$PWD/.venv-sam}"
CHECKOV_VENV="${CHECKOV_VENV:-$PWD/.venv-checkov}"
INFRA_TEMPLATE=infra/template.yaml
LAMBDA_BINARIES=(ingest query mta-sts mailbox)

infra_install() {
    venv_tool "$SAM_VENV" sam \
        'aws-sam-cli==1.170.0' 'cfn-lint==1.58.0' 'cargo-lambda==1.9.2'
    # Its own venv: checkov pins boto3 and cfn-lint versions of its own.
    venv_tool "$CHECKOV_VENV" checkov 'checkov==3.3.30'
    # The one install that is not from a package registry: the arm64 standard library.
    if rustup target list --installed | grep -qx aarch64-unknown-linux-gnu ||
        rustup target add aarch64-unknown-linux-gnu >&2; then
        INFRA_ARCH=arm64
    else
        echo "WARNING: rustup could not install aarch64-unknown-linux-gnu; the Lambda" \
            "packages are built for x86_64 instead, and sam build (arm64) is skipped" >&2
        INFRA_ARCH=x86_64
    fi
}

# All three must pass with nothing to report; checkov's only exceptions are the skips written,
# with their reasons, in the template itself.
infra_check() {
    echo "== sam validate --lint" >&2
    # Offline: a region for the SAM translator and dummy credentials, never used.
    AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=offline AWS_SECRET_ACCESS_KEY=offline \
        SAM_CLI_TELEMETRY=0 "$SAM_VENV/bin/sam" validate --lint -t "$INFRA_TEMPLATE"
    echo "== cfn-lint (informational findings included)" >&2
    "$SAM_VENV/bin/cfn-lint" --include-checks I -- "$INFRA_TEMPLATE"
    echo "== checkov" >&2
    # --skip-download: no call to the vendor's platform; the checks ship with the package.
    "$CHECKOV_VENV/bin/checkov" --file "$INFRA_TEMPLATE" --framework cloudformation \
        --compact --quiet --skip-download
}

# The functions with exactly the environment the template gives them, behind a stand-in for
# the Lambda Runtime API, against moto (tests/infra/wiring.py). Needs the debug binaries and
# moto_start.
infra_wiring() {
    "$SAM_VENV/bin/python" tests/infra/wiring.py "$INFRA_TEMPLATE" target/debug \
        tests/fixtures/corpus/email/parsedmarc/twilight.eml
}

# The release packages: `cargo lambda build` one binary at a time, as `sam build` runs it, so
# the sam build that follows finds everything built. Prints each package's size.
infra_build() {
    local arch_flag=--arm64 bin
    # The ingest package carries the IP databases; without them it would build, and store
    # no country or AS.
    ipdb_fetch
    [ "${INFRA_ARCH:-arm64}" = arm64 ] || arch_flag=--x86-64
    for bin in "${LAMBDA_BINARIES[@]}"; do
        echo "== cargo lambda build --release $arch_flag --bin $bin" >&2
        PATH="$SAM_VENV/bin:$PATH" cargo lambda build --release "$arch_flag" --bin "$bin" --locked
    done
    if [ "${INFRA_ARCH:-arm64}" = arm64 ]; then
        echo "== sam build" >&2
        PATH="$SAM_VENV/bin:$PATH" SAM_CLI_TELEMETRY=0 \
            sam build -t "$INFRA_TEMPLATE" --build-dir target/sam-build
    fi
    "$SAM_VENV/bin/python" scripts/package_sizes.py target/lambda "${LAMBDA_BINARIES[@]}"
}
