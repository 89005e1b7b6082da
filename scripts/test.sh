#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite (offscreen, offline). Extra arguments go to pytest:
#   ./scripts/test.sh -m "not slow"      ./scripts/test.sh tests/test_packaging.py
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup_env.sh"
cd "$ROOT"
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
exec "$ROOT/.venv/bin/python" -m pytest "$@"
