#!/usr/bin/env bash
# Learn the generic visual-word codebook shipped in resources/codebooks/default.safetensors.
#
#   bash scripts/make-codebook.sh [WORKDIR]          (default: build/codebook)
#
# The photos are the benchmark script's *train* pool (Debian packages endless-sky-data and
# opencv-doc: 307 photographs), which shares no package with the real-photo evaluation set.
# k-means (FAISS; NumPy where the faiss extra is not installed) of 16,384 words over every
# RootSIFT feature of those photos (at most 1,000 per photo), seed 0, 20 iterations: about 6
# minutes on two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-build/codebook}
mkdir -p "$WORK"
bash scripts/fetch-photo-sources.sh "$WORK/sources"
python scripts/make_photo_benchmark.py --out "$WORK/photobench" --seed 0 \
    --sources "$WORK/sources" --train-out "$WORK/pool-train" --quiet
visual-search codebook learn "$WORK/pool-train" --words 16384 --per-photo 1000 --seed 0 \
    --out "$WORK/default.safetensors"
visual-search codebook info "$WORK/default.safetensors"
cp "$WORK/default.safetensors" resources/codebooks/default.safetensors
