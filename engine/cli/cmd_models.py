"""``visual-search models``: the architectures this build can create; ``models import`` adds a
checkpoint to the models folder with the ONNX model that runs it without PyTorch."""

from __future__ import annotations

import argparse

from engine.cli.common import add_json, emit


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "models",
        help="list the model architectures this build can create, or import a checkpoint",
    )
    p.add_argument("--backbone", action="append", help="only these backbones (repeatable)")
    add_json(p, "print JSON")
    actions = p.add_subparsers(dest="action", metavar="import")
    imp = actions.add_parser(
        "import",
        help="copy a checkpoint folder into the models folder and write its model.onnx",
    )
    imp.add_argument("checkpoint", help="a checkpoint folder (model.safetensors + config.json)")
    imp.add_argument("--name", default=None, help="folder name under the models folder")
    imp.add_argument(
        "--half", action="store_true", help="store the ONNX weights as float16 (half the file)"
    )
    add_json(imp, "print JSON")
    return p


def run(args: argparse.Namespace) -> int:
    if args.action == "import":
        return _import(args)
    from engine.errors import NeedsTorch
    from engine.network.loader import torch_available

    if not torch_available():
        raise NeedsTorch("listing parameter counts")
    from engine.network.modelinfo import architecture_table

    rows = architecture_table(backbones=args.backbone)
    lines = [
        f"{'name':<7} {'backbone':<10} {'params':>9} {'w/o whitening':>14} {'backbone':>9} "
        f"{'dim':>5}  scales"
    ]
    for r in rows:
        lines.append(
            f"{r['name']:<7} {r['backbone']:<10} {r['params'] / 1e6:>8.2f}M "
            f"{r['params_without_whitening'] / 1e6:>13.2f}M {r['backbone_params'] / 1e6:>8.2f}M "
            f"{r['descriptor_dim']:>5}  {','.join(f'{s:g}' for s in r['scales'])}"
        )
    emit(args, rows, "\n".join(lines))
    return 0


def _import(args: argparse.Namespace) -> int:
    from engine.network.importing import import_checkpoint

    report = import_checkpoint(args.checkpoint, name=args.name, half=args.half)
    text = (
        f"imported {report['source']} as {report['model']}: model.onnx written "
        f"({report['onnx_mb']:.1f} MB); ONNX Runtime against PyTorch on "
        f"{report['photos']} photos: descriptor cosine ≥ {report['min_cosine']:.6f}, attention "
        f"correlation ≥ {report['min_attention_r']:.4f}\nuse it with --model {report['model']}"
    )
    emit(args, report, text)
    return 0
