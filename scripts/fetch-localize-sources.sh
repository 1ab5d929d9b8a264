#!/usr/bin/env bash
# Download and unpack the real photographs that scripts/make_localize_benchmark.py builds the
# click-to-localize set from (issue 23).
#
#   bash scripts/fetch-localize-sources.sh [DIR]     (default: build/localize-sources)
#
# Two splits, disjoint by package:
#   test (held out, final figures only): the real-photo retrieval benchmark's eval pool,
#        fetched by scripts/fetch-photo-sources.sh into the same DIR (that script also fetches
#        the codebook pool, which this benchmark does not use)
#   tune (choosing thresholds):          gcompris-qt-data, whose photographs (animals,
#        monuments, musicians, sea life) sit in Qt resource bundles (.rcc); they are unpacked
#        here with PySide6's QResource (run with the project's Python: PYTHON=...)
# Run `apt-get update` once first. About 250 MB of downloads. A source already unpacked is
# skipped. The packages reserved for independent evaluation are refused by the hash of their
# name and never downloaded.
set -euo pipefail

DIR=${1:-build/localize-sources}
PYTHON=${PYTHON:-python3}
HERE=$(cd "$(dirname "$0")" && pwd)
# sha256(name)[:16] of the packages reserved for independent evaluation
RESERVED=(154b36408ea7e555 5bbd778c4ceba49a bc15b2c541ef0fd5 0dc7277e6a8bc477 1f4c7eefd27b2455)
# gcompris-qt-data resource bundles whose pictures are photographs (the others are drawings)
GCOMPRIS_RCC=(erase explore_monuments explore_world_animals explore_farm_animals
  explore_world_music clickgame)

refuse_reserved() {
  local h
  h=$(printf %s "$1" | sha256sum | cut -c1-16)
  for r in "${RESERVED[@]}"; do
    if [ "$h" = "$r" ]; then
      echo "refusing $1: reserved for independent evaluation" >&2
      exit 2
    fi
  done
}

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)

# the test split: the retrieval benchmark's sources
PYTHON="$PYTHON" bash "$HERE/fetch-photo-sources.sh" "$DIR"

# the tune split
pkg=gcompris-qt-data
refuse_reserved "$pkg"
if [ -f "$DIR/$pkg/.version" ]; then
  echo "$pkg: already unpacked ($(cat "$DIR/$pkg/.version"))"
else
  mkdir -p "$DIR/.downloads"
  rm -f "$DIR/.downloads/${pkg}"_*.deb
  if ! (cd "$DIR/.downloads" && apt-get download "$pkg" >"$DIR/.downloads/apt.log" 2>&1); then
    cat "$DIR/.downloads/apt.log" >&2
    echo "$pkg: apt-get download failed (run 'apt-get update' first?)" >&2
    exit 1
  fi
  deb=$(ls "$DIR/.downloads/${pkg}"_*.deb | head -n 1)
  rm -rf "$DIR/$pkg.tmp" "$DIR/.downloads/x" && mkdir -p "$DIR/$pkg.tmp" "$DIR/.downloads/x"
  dpkg -x "$deb" "$DIR/.downloads/x"
  "$PYTHON" - "$DIR/.downloads/x/usr/share/gcompris-qt/rcc" "$DIR/$pkg.tmp" "${GCOMPRIS_RCC[@]}" <<'PY'
import sys
from pathlib import Path

from PySide6.QtCore import QDirIterator, QFile, QIODevice, QResource

rcc, out = Path(sys.argv[1]), Path(sys.argv[2])
for name in sys.argv[3:]:
    bundle = str(rcc / f"{name}.rcc")
    if not QResource.registerResource(bundle):
        raise SystemExit(f"cannot read {bundle}")
    it = QDirIterator(":/gcompris/src/activities", QDirIterator.IteratorFlag.Subdirectories)
    while it.hasNext():
        p = it.next()
        if not p.lower().endswith((".webp", ".jpg", ".jpeg", ".png")):
            continue
        f = QFile(p)
        if not f.open(QIODevice.OpenModeFlag.ReadOnly):
            continue
        dst = out / p.split("/activities/", 1)[1]
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(bytes(f.readAll().data()))
        f.close()
    QResource.unregisterResource(bundle)
PY
  dpkg-deb -f "$deb" Version > "$DIR/$pkg.tmp/.version"
  sha256sum "$deb" | cut -d' ' -f1 > "$DIR/$pkg.tmp/.sha256"
  rm -rf "$DIR/$pkg" && mv "$DIR/$pkg.tmp" "$DIR/$pkg"
  rm -rf "$deb" "$DIR/.downloads/x" "$DIR/.downloads/apt.log"
  rmdir "$DIR/.downloads" 2>/dev/null || true
  echo "$pkg: $(cat "$DIR/$pkg/.version"), $(find "$DIR/$pkg" -type f ! -name '.*' | wc -l) images"
fi
echo "sources in $DIR"
