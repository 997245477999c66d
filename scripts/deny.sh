# cargo deny over the dependency graph (deny.toml): licences, sources and bans always, and
# the RustSec advisories whenever their database can be fetched. Source it, then call
# deny_install (before the cargo builds) and deny_check.

DENY_VERSION=0.20.2

deny_install() {
    if cargo deny --version 2>/dev/null | grep -qx "cargo-deny $DENY_VERSION"; then
        return
    fi
    echo "installing cargo-deny $DENY_VERSION (cargo install, about 2 minutes)" >&2
    cargo install cargo-deny --locked --version "$DENY_VERSION" >&2
}

deny_check() {
    echo "== cargo deny: licences, sources, bans" >&2
    cargo deny --log-level error check licenses bans sources
    # The database is a git repository on GitHub, which some build machines cannot reach:
    # then the check says so instead of failing, and the other checks still hold.
    if cargo deny --log-level error fetch db >/dev/null 2>&1; then
        echo "== cargo deny: advisories (RustSec)" >&2
        cargo deny --log-level error check advisories
    else
        echo "WARNING: the RustSec advisory database (github.com/RustSec/advisory-db) cannot" \
            "be fetched from this machine; advisories are not checked" >&2
    fi
}
