# Mailbox intake tests (tests/mailbox.rs) run Dovecot from Debian's packages on 127.0.0.1.
# Source it, then call mailbox_install before the cargo builds. The package's own service
# is not used: each test starts its own server in a fresh folder, without root's config.

mailbox_install() {
    command -v dovecot >/dev/null && return 0
    echo "installing dovecot-imapd from apt (about 20 s, once)" >&2
    local sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq >&2
    # policy-rc.d answering 101 keeps the package's service from starting on ports 143/993.
    local policy=/usr/sbin/policy-rc.d
    local had_policy=0
    [[ -e $policy ]] && had_policy=1
    if [[ $had_policy -eq 0 ]]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod +x "$policy"
    fi
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq dovecot-imapd >&2
    if [[ $had_policy -eq 0 ]]; then
        "${sudo[@]}" rm -f "$policy"
    fi
}
