#!/usr/bin/env bash
# The size of the light install: a fresh virtual environment, `pip install .` (the core: no
# PyTorch, no FAISS), then the size of its site-packages (byte-compiled files included, as pip
# writes them), without and with the pip and setuptools every new environment starts with,
# and of each of the largest packages in it.
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
total=$(du -sk "$SP" | cut -f1)
# what `python -m venv` put there before the install: pip, setuptools and their parts
seed=$(cd "$SP" && du -skc pip pip-*.dist-info setuptools setuptools-*.dist-info pkg_resources \
    _distutils_hack distutils-precedence.pth 2>/dev/null | tail -1 | cut -f1)
echo "site-packages: $(( (total - seed) / 1024 )) MB installed by visual-search and its" \
    "dependencies; $(( total / 1024 )) MB with the virtual environment's own pip and setuptools"
echo "largest:"
du -sm "$SP"/* | sort -rn | head -8
