#!/usr/bin/env bash
# Fuzz each entry point for SECONDS (default 600) after seeding from the test fixtures.
# Needs cargo-fuzz (`cargo install cargo-fuzz`); the stable toolchain works with RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-600}"
fixtures=../tests/fixtures
mkdir -p corpus/mail corpus/xml corpus/json corpus/store
cp "$fixtures"/corpus/email/*/*.eml "$fixtures"/corpus/tlsrpt/*/*.eml corpus/mail/
cp "$fixtures"/corpus/aggregate/parsedmarc/*.gz "$fixtures"/corpus/aggregate/parsedmarc/*.zip corpus/mail/
find "$fixtures"/corpus/aggregate -name '*.xml' -size -100k -exec cp {} corpus/xml/ \;
cp "$fixtures"/corpus/tlsrpt/*/*.json corpus/json/
cp corpus/xml/* corpus/json/* corpus/store/
# store: with RAMPART_FUZZ_AWS_ENDPOINT set (a moto server), FEATURES=aws also writes to it.
for target in ${TARGETS:-mail xml json store}; do
  features=()
  if [ "$target" = store ] && [ -n "${FEATURES:-}" ]; then features=(--features "$FEATURES"); fi
  RUSTC_BOOTSTRAP=1 cargo fuzz run "${features[@]}" "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=262144 -print_final_stats=1
done
