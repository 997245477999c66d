# Real MTA-STS and TLS-RPT clients against `rampart serve` (tests/clients/real_clients.py).
# Source it, then call clients_install (pip, before cargo starts) and clients_run.

source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"

CLIENTS_VENV="${CLIENTS_VENV:-$PWD/.venv-clients}"

clients_install() {
    venv_tool "$CLIENTS_VENV" mta-sts-query \
        'postfix-mta-sts-resolver==1.5.1' 'tlsrpt-reporter==0.6.0' 'dnslib==0.9.26'
}

# clients_run RAMPART_BINARY: in new mount and network namespaces (root), so the test can use
# ports 53 and 443 and its own resolv.conf while the host stays untouched.
clients_run() {
    local rampart=$1
    if ! unshare -mn --propagation private true 2>/dev/null; then
        echo "the real-client tests need root for unshare -mn (network and mount namespaces)" >&2
        return 1
    fi
    unshare -mn --propagation private \
        "$CLIENTS_VENV/bin/python" tests/clients/real_clients.py "$rampart" tests/fixtures/corpus
}
