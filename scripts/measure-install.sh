#!/usr/bin/env bash
# The size of the light install: a fresh virtual environment, `pip install .` (the core: no
# PyTorch), then the size of its site-packages and of each of the largest packages in it.
#
#   bash scripts/measure-install.sh [DIR]        (default: a temporary folder)
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-$(mktemp -d)}
python3 -m venv "$DIR/venv"
"$DIR/venv/bin/python" -m pip install --quiet --upgrade pip
"$DIR/venv/bin/python" -m pip install --quiet .
SP=$("$DIR/venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
if "$DIR/venv/bin/python" -c "import torch" 2>/dev/null; then
  echo "torch is installed: this is not the light install" >&2
  exit 1
fi
echo "site-packages: $(du -sm "$SP" | cut -f1) MB (pip and setuptools included)"
echo "largest:"
du -sm "$SP"/* | sort -rn | head -8
