# Installs and starts the moto AWS emulator for tests and benchmarks. Source it, then call
# moto_install and moto_start; moto_start exports RAMPART_TEST_AWS_ENDPOINT and stops the
# server when the calling shell exits.

source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"

MOTO_VENV="${MOTO_VENV:-$PWD/.venv-test}"

moto_install() {
    venv_tool "$MOTO_VENV" moto_server 'moto[server]>=5.1,<6'
    # Not moto's, but the same test environment: the peer the DNS health checks are
    # compared with (tests/checks.rs, tests/tools/checkdmarc_verdicts.py).
    venv_tool "$MOTO_VENV" checkdmarc 'checkdmarc==6.0.4'
    # The SMTP server the alert and digest mails are sent to (tests/alerts.rs): a real one,
    # which refuses lines over RFC 5321's limit and speaks STARTTLS.
    venv_tool "$MOTO_VENV" aiosmtpd 'aiosmtpd==1.4.6'
}

moto_start() {
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # One request at a time: see scripts/moto_serial.py.
    # The request log also lets the ingest benchmark count requests per mail.
    export RAMPART_TEST_MOTO_LOG="${TMPDIR:-/tmp}/rampart-moto-$port.log"
    "$MOTO_VENV/bin/python" scripts/moto_serial.py 127.0.0.1 "$port" >"$RAMPART_TEST_MOTO_LOG" 2>&1 &
    MOTO_PID=$!
    trap 'kill $MOTO_PID 2>/dev/null || true' EXIT
    export RAMPART_TEST_AWS_ENDPOINT="http://127.0.0.1:$port"
    for _ in $(seq 1 150); do
        if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
            "$RAMPART_TEST_AWS_ENDPOINT/moto-api/" 2>/dev/null; then
            echo "moto server on $RAMPART_TEST_AWS_ENDPOINT" >&2
            return
        fi
        if ! kill -0 "$MOTO_PID" 2>/dev/null; then
            echo "moto server failed to start; its log:" >&2
            cat "$RAMPART_TEST_MOTO_LOG" >&2
            return 1
        fi
        sleep 0.2
    done
    echo "moto server did not answer within 30 s" >&2
    return 1
}
