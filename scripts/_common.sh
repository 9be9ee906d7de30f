# Shared by scripts/test and scripts/demo (sourced, not run).

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# apt_install PACKAGE...: install Debian packages, quietly.
apt_install() {
    echo "==> apt-get install $*"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# ensure_venv: .venv with pip, made with $PYTHON (python3 by default). Debian ships
# venv's pip bootstrap separately (python3-venv): installed when missing.
ensure_venv() {
    PYTHON=${PYTHON:-python3}
    if [ -x .venv/bin/python ]; then
        return
    fi
    echo "==> creating .venv"
    if ! "$PYTHON" -m venv .venv >/dev/null 2>&1; then
        rm -rf .venv
        apt_install python3-venv
        "$PYTHON" -m venv .venv
    fi
}

# have_postgres: PostgreSQL's server binaries are installed (on PATH, or where Debian puts them).
have_postgres() {
    command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}
