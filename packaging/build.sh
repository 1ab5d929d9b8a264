#!/usr/bin/env bash
# Build the one-folder bundle and check it: packaging/build.sh [OUT_DIR]
# The bundle lands in OUT_DIR/visual-search (default: dist/visual-search); it is then run with
# --self-test from a directory outside the source tree, with PYTHONPATH unset.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-dist}
python -m pip install --quiet "pyinstaller>=6"
start=$(date +%s)
pyinstaller --noconfirm --clean --distpath "$OUT" --workpath build/pyinstaller \
    packaging/visual-search.spec
end=$(date +%s)
echo "build time: $((end - start)) s"
du -sh "$OUT/visual-search"
app="$(cd "$OUT/visual-search" && pwd)/visual-search"
(cd "$(mktemp -d)" && env -u PYTHONPATH "$app" --self-test)
echo "self-test passed"
