# venv_tool VENV PROGRAM SPEC...: installs the pip requirements SPEC... into the virtualenv VENV
# unless VENV/bin/PROGRAM is there already. Sourced by moto.sh, schemathesis.sh and clients.sh.
venv_tool() {
    local venv=$1 program=$2
    shift 2
    if [ -x "$venv/bin/$program" ]; then
        return
    fi
    echo "installing $* into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
}
