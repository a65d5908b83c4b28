# Shared setup for scripts/demo and scripts/test: a .venv with the pinned dependencies.
# Sourced, not run. Works on a fresh Debian machine with Python 3.11+ (as root, it installs the
# few Debian packages it needs); a second run with unchanged requirement files installs nothing.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
cd "$ROOT"

say() { printf '==> %s\n' "$*" >&2; }

# Install the Debian packages that are missing (apt-get update only when an install needs it).
ensure_debian_packages() {
    local missing=() package
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$package")
    done
    ((${#missing[@]})) || return 0
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || { say "please install: ${missing[*]} (apt-get install)"; exit 1; }
        sudo=(sudo)
    fi
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get install -y -q "${missing[@]}" \
        || { "${sudo[@]}" apt-get update -q && "${sudo[@]}" apt-get install -y -q "${missing[@]}"; }
}

# The first python3.x on PATH that is 3.11 or newer.
find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3 python3.13 python3.12 python3.11; do
        [[ -n $candidate ]] && command -v "$candidate" >/dev/null || continue
        if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
            echo "$candidate"
            return
        fi
    done
    say "Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)"
    exit 1
}

# Create .venv when missing, then install REQUIREMENTS_FILE pinned by constraints.txt unless a
# stamp shows these exact files were installed already.
ensure_venv() {
    local requirements="$1" python stamp digest
    if [[ ! -x $VENV/bin/python ]]; then
        python="$(find_python)"
        say "creating $VENV with $("$python" -V)"
        if ! "$python" -m venv "$VENV" 2>/dev/null; then
            rm -rf "$VENV"  # Debian splits venv (ensurepip) into its own package
            ensure_debian_packages python3-venv
            "$python" -m venv "$VENV"
        fi
    fi
    stamp="$VENV/.installed-$requirements"
    digest="$( { "$VENV/bin/python" -VV; cat requirements*.txt constraints.txt; } | sha256sum | cut -d' ' -f1)"
    if [[ -f $stamp && $(<"$stamp") == "$digest" ]]; then
        return
    fi
    say "installing $requirements (pinned by constraints.txt)"
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$requirements" -c constraints.txt
    echo "$digest" >"$stamp"
}
