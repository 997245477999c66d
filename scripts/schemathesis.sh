# Installs schemathesis and runs it against a live `rampart serve`. Source it, then call
# schemathesis_install (before cargo: pip and rustc slow each other on two cores) and
# schemathesis_run after the binaries are built.

source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"

API_VENV="${API_VENV:-$PWD/.venv-api}"

schemathesis_install() {
    venv_tool "$API_VENV" schemathesis 'schemathesis>=4.32,<5'
}

# Serves the bundled samples from a fresh data folder on a free port and fuzzes every
# operation of /openapi.json: no 5xx, every status and content type documented, every body
# and header as the document says. The seed is fixed so a failure reproduces.
schemathesis_run() {
    local data port url serve_pid status
    data=$(mktemp -d)
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    target/debug/rampart serve --data "$data" --listen "127.0.0.1:$port" >"$data/serve.log" 2>&1 &
    serve_pid=$!
    url="http://127.0.0.1:$port"
    for _ in $(seq 1 150); do
        grep -q "Rampart API:" "$data/serve.log" 2>/dev/null && break
        if ! kill -0 "$serve_pid" 2>/dev/null; then
            cat "$data/serve.log" >&2
            return 1
        fi
        sleep 0.2
    done
    status=0
    "$API_VENV/bin/schemathesis" run "$url/openapi.json" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
        --max-examples 100 --seed 1 --no-color --generation-database none || status=$?
    kill "$serve_pid" 2>/dev/null || true
    wait "$serve_pid" 2>/dev/null || true
    if [ "$status" -ne 0 ]; then
        echo "schemathesis failed; the server's log:" >&2
        cat "$data/serve.log" >&2
    fi
    rm -rf "$data"
    return "$status"
}
