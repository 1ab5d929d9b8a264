"""``visual-search models``: the architectures this build can create."""

from __future__ import annotations

import argparse

from engine.cli.common import add_json, emit


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("models", help="list the model architectures this build can create")
    p.add_argument("--backbone", action="append", help="only these backbones (repeatable)")
    add_json(p, "print JSON")
    return p


def run(args: argparse.Namespace) -> int:
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
