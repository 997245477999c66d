# The dashboard in a real browser (tests/ui): Debian's Chromium from apt, playwright-core,
# axe-core and the OpenID provider of the sign-in test (oidc-provider) from npm (versions
# pinned in tests/ui/package-lock.json; no browser download). Source it, then call ui_install (before the cargo builds) and ui_run BIN.

UI_CHROMIUM=${RAMPART_CHROMIUM:-/usr/bin/chromium}

ui_install() {
    local packages=()
    [[ -x "$UI_CHROMIUM" ]] || packages+=(chromium)
    command -v npm >/dev/null || packages+=(nodejs npm)
    if [[ ${#packages[@]} -gt 0 ]]; then
        echo "installing ${packages[*]} from apt (about 90 s, once)" >&2
        local sudo=()
        [[ $(id -u) -eq 0 ]] || sudo=(sudo)
        "${sudo[@]}" apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${packages[@]}" >&2
    fi
    (cd tests/ui && npm ci --no-audit --no-fund --loglevel=error >&2)
}

ui_run() {
    echo "== dashboard: every screen in Chromium (screenshots in tests/ui/screenshots/)" >&2
    RAMPART_BIN="$1" RAMPART_CHROMIUM="$UI_CHROMIUM" node --test tests/ui/dashboard.test.mjs
    echo "== sign-in: OpenID Connect in Chromium against a provider on 127.0.0.1" >&2
    RAMPART_BIN="$1" RAMPART_CHROMIUM="$UI_CHROMIUM" node --test tests/ui/sign-in.test.mjs
}
