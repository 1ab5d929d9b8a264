#!/usr/bin/env bash
# Every throughput figure of a GPU machine as one JSON object on stdout (progress on stderr),
# (more than five minutes on one H200: --only runs some sections); nothing is downloaded.
#   scripts/gpu-bench.sh [--small] [--quick] [--only extract index local unchanged train faiss] [--photos DIR] [--out FILE]
# --small runs it at toy sizes, on a CPU in about a minute; --quick cuts the local section to
# 256 photos at 1024x768 with no CPU index beside them.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${VIRTUAL_ENV:-}" && -f .venv/bin/activate ]]; then
    . .venv/bin/activate
fi
exec python -m engine.bench.gpu_suite "$@"
