# Sourced by scripts/demo and scripts/test: find Python >= 3.12 and make .venv.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BAYESKERN_VENV:-$ROOT/.venv}"

_is_py312() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }

find_python() {
  local cand
  if [ -n "${BAYESKERN_PYTHON:-}" ] && _is_py312 "$BAYESKERN_PYTHON"; then echo "$BAYESKERN_PYTHON"; return; fi
  for cand in python3.14 python3.13 python3.12 python3 python; do
    if command -v "$cand" >/dev/null 2>&1 && _is_py312 "$cand"; then command -v "$cand"; return; fi
  done
  # pyenv shims refuse versions that are not selected, so ask pyenv for its interpreters directly.
  if command -v pyenv >/dev/null 2>&1; then
    local root v
    root="$(pyenv root)"
    for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.[0-9]+(\.[0-9]+)?$' | sort -t. -k1,1n -k2,2n -k3,3n -r); do
      cand="$root/versions/$v/bin/python"
      if [ -x "$cand" ] && _is_py312 "$cand"; then echo "$cand"; return; fi
    done
  fi
  return 1
}

ensure_venv() {
  local extras="$1" py stamp
  if [ ! -x "$VENV/bin/python" ] || ! _is_py312 "$VENV/bin/python"; then
    if ! py="$(find_python)"; then
      echo "bayeskern needs Python >= 3.12 (ArviZ 1.x requires it), and none was found on PATH or through pyenv." >&2
      echo "Install one (e.g. 'pyenv install 3.12') or set BAYESKERN_PYTHON=/path/to/python3.12." >&2
      exit 1
    fi
    echo "[setup] creating $VENV with $py ($("$py" --version 2>&1))"
    rm -rf "$VENV"
    "$py" -m venv "$VENV"
  fi
  stamp="$VENV/.installed-$extras-$(cat "$ROOT/pyproject.toml" | cksum | cut -d' ' -f1)"
  if [ ! -f "$stamp" ]; then
    echo "[setup] installing bayeskern[$extras] into $VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip >/dev/null
    "$VENV/bin/python" -m pip install --quiet -e "$ROOT[$extras]"
    rm -f "$VENV"/.installed-"$extras"-*
    touch "$stamp"
  fi
}
