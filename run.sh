#!/usr/bin/env bash
# One entry point for a fresh machine: installs what is missing into .venv
# (once), then runs the comparison, the tests or any featadapt command.
#   ./run.sh compare [featadapt compare options]   the side-by-side comparison
#   ./run.sh test [pytest options]                  the test suite
set -euo pipefail
cd "$(dirname "$0")"
VENV="${VENV:-.venv}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.14.1 torchvision==0.29.1}"
STAMP="$VENV/.featadapt-installed"
want="$(cat setup.cfg pyproject.toml | sha1sum | cut -c1-16) $TORCH_SPEC"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  echo "[run.sh] installing into $VENV (first run takes a few minutes)..." >&2
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  # shellcheck disable=SC2086
  "$VENV/bin/python" -m pip install -q $TORCH_SPEC
  "$VENV/bin/python" -m pip install -q -e ".[test]"
  echo "$want" > "$STAMP"
fi
cmd="${1:-compare}"
[ $# -gt 0 ] && shift
case "$cmd" in
  compare) exec "$VENV/bin/python" -m avalanche_featadapt.compare "$@" ;;
  test) exec "$VENV/bin/python" -m pytest "$@" ;;
  *) exec "$VENV/bin/python" -m avalanche_featadapt."$cmd" "$@" ;;
esac
