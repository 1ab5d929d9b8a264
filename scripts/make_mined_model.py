"""Train a model the way ``train library`` does, on photos of sources that are not reserved for
evaluation plus generated scenes, with a fixed seed — the recipe for a default model learned
from mined pairs instead of labels.

    python scripts/make_mined_model.py --photos build/photopool-train --out build/mined-model \\
        [--generated-objects 100] [--epochs 3] [--image-size 256] [--start-from default]

1. ``--generated-objects`` objects of the generator, each pasted into 3 scenes (a fixed seed),
   are written next to the given photo folders (the real photos alone hold few repeated views);
2. everything is indexed into a fresh library with the ``--start-from`` model;
3. ``engine.library.improve.improve_model`` mines it, trains and measures the held-out recall.

Evaluate the result on the real-photo set with
``visual-search evaluate --gnd build/photobench/gnd_photos.pkl --images build/photobench/jpg
--model OUT/model --pipeline global``. Never point ``--photos`` at the evaluation set, nor at
the packages reserved for independent evaluation.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def write_generated(folder: Path, objects: int, seed: int) -> int:
    from engine.training.generator import render_scene

    folder.mkdir(parents=True, exist_ok=True)
    kw = {"size": (480, 360), "scale": (0.4, 0.7), "max_rotation": 20, "perspective": 0.08}
    n = 0
    for ident in range(objects):
        for view in range(3):
            path = folder / f"gen{ident:04d}_{view}.jpg"
            if not path.exists():
                render_scene([1000 + ident], seed=seed * 100_003 + 10 * ident + view, **kw)[0].save(
                    path, quality=90
                )
            n += 1
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", nargs="*", default=[], help="folders of real photos")
    ap.add_argument("--out", required=True)
    ap.add_argument("--generated-objects", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--image-size", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--start-from", default="default")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args()

    from engine.library import Library
    from engine.library.improve.training import improve_model, starting_config

    out = Path(args.out)
    folders = [str(Path(p).resolve()) for p in args.photos]
    if args.generated_objects:
        gen = out / "generated"
        write_generated(gen, args.generated_objects, args.seed)
        folders.append(str(gen.resolve()))
    cfg = starting_config(
        args.start_from,
        epochs=args.epochs,
        image_size=args.image_size,
        batch_size=args.batch_size,
        lr=1e-4,
        optimizer="adamw",
        seed=args.seed,
        device=args.device,
        workers=2,
    )
    with Library(out / "library", device=args.device) as lib:

        def progress(done, total, message):
            print(f"\r{message[:100]:100s}", end="", flush=True)

        figures = improve_model(
            lib,
            out / "run",
            cfg,
            folders=folders,
            model=args.start_from,
            resume=args.resume,
            progress=progress,
        )
    print()
    print(json.dumps({k: v for k, v in figures.items() if k != "history"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
