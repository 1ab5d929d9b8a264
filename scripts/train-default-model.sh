#!/usr/bin/env bash
# Train the bundled default model on generated objects, measure it on a fresh generated set of
# unseen objects next to the untrained network and geometric verification alone, and install
# it (float16) in resources/models/default.
#
#   bash scripts/train-default-model.sh [WORK_DIR]
#
# CPU only, no download; seed 0 for training, seed 2026 for the evaluation set (whose objects
# come from the generator's evaluation range, never drawn in training). About 500 steps of
# 64 photos at 160 px: about 25 minutes on two cores. Figures go to WORK_DIR/figures.json.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-build/default-model}
mkdir -p "$WORK"

visual-search train synthetic --method gem --backbone resnet18 --pretrained none \
  --image-size 160 --batch-size 64 --views 4 --epochs 5 --steps-per-epoch 100 \
  --optimizer adamw --lr 0.001 --weight-decay 0.0001 --warmup-epochs 0.2 \
  --curriculum 0.5 --temperature 0.1 --seed 0 --workers 1 --out "$WORK/run" \
  $( [ -f "$WORK/run/state.json" ] && echo --resume )

visual-search synth eval --out "$WORK/eval" --seed 2026 --queries 30 --positives 6 \
  --distractors 100

# the network is what is measured here (--pipeline global); the default search adds local features
EVAL=(--gnd "$WORK/eval/gnd_synth.pkl" --images "$WORK/eval/jpg" --image-size 512 --pipeline global --json)
visual-search export "$WORK/run/model" "$WORK/model" --half --image-size 512
visual-search evaluate "${EVAL[@]}" --model "$WORK/model" > "$WORK/trained.json"
visual-search evaluate "${EVAL[@]}" --model gem:resnet18 --pretrained none > "$WORK/untrained-r18.json"
visual-search evaluate "${EVAL[@]}" --model gem:resnet50 --pretrained none > "$WORK/untrained-r50.json"
# geometric verification alone: every database photo verified, ordered by inliers
visual-search evaluate "${EVAL[@]}" --model gem:resnet18 --pretrained none --rerank 1000 \
  > "$WORK/geometric.json"
visual-search evaluate "${EVAL[@]}" --model "$WORK/model" --rerank 100 > "$WORK/trained-rerank.json"

python - "$WORK" <<'PY'
import json, sys
from pathlib import Path
work = Path(sys.argv[1])
rows = {}
for name in ("untrained-r50", "untrained-r18", "trained", "geometric", "trained-rerank"):
    r = json.loads((work / f"{name}.json").read_text())
    rows[name] = {p: r[p]["mAP"] for p in "EMH"} | {"ms_per_query": r["info"]["rerank_ms_per_query"]}
    print(f"{name:<15} E {rows[name]['E']:6.2f}  M {rows[name]['M']:6.2f}  H {rows[name]['H']:6.2f}")
(work / "figures.json").write_text(json.dumps(rows, indent=1))
PY

rm -rf resources/models/default
mkdir -p resources/models
cp -r "$WORK/model" resources/models/default
du -sh resources/models/default
