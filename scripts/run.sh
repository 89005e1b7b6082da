#!/usr/bin/env bash
# Set up (if needed) and start Diffusion Lab with its bundled datasets and models.
#   ./scripts/run.sh [--self-test | --version]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup_env.sh"
exec "$ROOT/.venv/bin/python" -m desktop_app "$@"
