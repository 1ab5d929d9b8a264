#!/usr/bin/env bash
# Download and unpack the real photographs that scripts/make_photo_benchmark.py builds the
# real-photo evaluation set and the codebook training pool from.
#
#   bash scripts/fetch-photo-sources.sh [DIR]        (default: build/photo-sources)
#
# Debian packages come with `apt-get download` + `dpkg -x` (run `apt-get update` once first);
# scikit-image's bundled sample photos come from its wheel with `pip download`. Each source is
# unpacked into DIR/<name>/ with only its image files kept, its version in DIR/<name>/.version
# and the archive's SHA-256 in DIR/<name>/.sha256. A source already unpacked is skipped, so the
# script can be re-run after an interruption. About 200 MB of downloads, 110 MB kept.
#
# The two pools are disjoint by package (make_photo_benchmark.py lists which files it takes):
#   train (codebook k-means): endless-sky-data, opencv-doc
#   eval  (benchmark):        lomiri-wallpapers-16.04, lomiri-wallpapers-20.04, lxqt-themes,
#                             tuxpaint-data, palapeli-data, scribus-template, kphotoalbum,
#                             libjxl-testdata, scikit-image (pip)
# The packages set aside for independent evaluation are refused by hash (see README/issue 12);
# they are never downloaded here.
set -euo pipefail

DIR=${1:-build/photo-sources}
PYTHON=${PYTHON:-python3}
DEB_PACKAGES=(
  endless-sky-data opencv-doc
  lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 lxqt-themes tuxpaint-data palapeli-data
  scribus-template kphotoalbum libjxl-testdata
)
SKIMAGE_VERSION=0.26.0
# where a package's photos are: the rest of it is not kept
declare -A KEEP_UNDER=(
  [endless-sky-data]=usr/share/games/endless-sky/images/land
  [opencv-doc]=usr/share/doc/opencv-doc/examples
  [tuxpaint-data]=usr/share/tuxpaint/templates
)
# sha256(name)[:16] of the packages reserved for independent evaluation
RESERVED=(154b36408ea7e555 5bbd778c4ceba49a bc15b2c541ef0fd5 0dc7277e6a8bc477 1f4c7eefd27b2455)

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

keep_images_only() {
  local under=${KEEP_UNDER[$2]:-}
  if [ -n "$under" ]; then
    mv "$1" "$1.all" && mkdir -p "$1/$(dirname "$under")"
    mv "$1.all/$under" "$1/$under" && rm -rf "$1.all"
  fi
  find "$1" -type f ! \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) -delete
  find "$1" -type l -delete
  find "$1" -depth -type d -empty -delete
  mkdir -p "$1"
}

mkdir -p "$DIR/.downloads"
DIR=$(cd "$DIR" && pwd)

for pkg in "${DEB_PACKAGES[@]}"; do
  refuse_reserved "$pkg"
  if [ -f "$DIR/$pkg/.version" ]; then
    echo "$pkg: already unpacked ($(cat "$DIR/$pkg/.version"))"
    continue
  fi
  rm -f "$DIR/.downloads/${pkg}"_*.deb
  if ! (cd "$DIR/.downloads" && apt-get download "$pkg" >"$DIR/.downloads/apt.log" 2>&1); then
    cat "$DIR/.downloads/apt.log" >&2
    echo "$pkg: apt-get download failed (run 'apt-get update' first?)" >&2
    exit 1
  fi
  deb=$(ls "$DIR/.downloads/${pkg}"_*.deb | head -n 1)
  rm -rf "$DIR/$pkg.tmp" && mkdir -p "$DIR/$pkg.tmp"
  dpkg -x "$deb" "$DIR/$pkg.tmp"
  keep_images_only "$DIR/$pkg.tmp" "$pkg"
  dpkg-deb -f "$deb" Version > "$DIR/$pkg.tmp/.version"
  sha256sum "$deb" | cut -d' ' -f1 > "$DIR/$pkg.tmp/.sha256"
  rm -rf "$DIR/$pkg" && mv "$DIR/$pkg.tmp" "$DIR/$pkg"
  rm -f "$deb"
  echo "$pkg: $(cat "$DIR/$pkg/.version"), $(find "$DIR/$pkg" -type f ! -name '.*' | wc -l) images"
done

name=scikit-image
if [ -f "$DIR/$name/.version" ]; then
  echo "$name: already unpacked ($(cat "$DIR/$name/.version"))"
else
  rm -f "$DIR/.downloads/"scikit_image-*.whl
  # the sample photos are the same in every wheel: ask for one fixed platform's
  "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: \
    --platform manylinux_2_28_x86_64 --python-version 3.11 --implementation cp --abi cp311 \
    -d "$DIR/.downloads" "scikit-image==$SKIMAGE_VERSION"
  whl=$(ls "$DIR/.downloads/"scikit_image-*.whl | head -n 1)
  rm -rf "$DIR/$name.tmp" && mkdir -p "$DIR/$name.tmp"
  "$PYTHON" - "$whl" "$DIR/$name.tmp" <<'PY'
import sys
import zipfile

with zipfile.ZipFile(sys.argv[1]) as z:
    for n in z.namelist():
        if n.startswith("skimage/data/") and n.lower().endswith((".png", ".jpg", ".jpeg")):
            z.extract(n, sys.argv[2])
PY
  echo "$SKIMAGE_VERSION" > "$DIR/$name.tmp/.version"
  sha256sum "$whl" | cut -d' ' -f1 > "$DIR/$name.tmp/.sha256"
  rm -rf "$DIR/$name" && mv "$DIR/$name.tmp" "$DIR/$name"
  rm -f "$whl"
  echo "$name: $SKIMAGE_VERSION, $(find "$DIR/$name" -type f ! -name '.*' | wc -l) images"
fi
rm -f "$DIR/.downloads/apt.log"
rmdir "$DIR/.downloads" 2>/dev/null || true
echo "sources in $DIR"
