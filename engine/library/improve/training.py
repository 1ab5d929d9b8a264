"""Improve the model from the library's own photos: mine, train, evaluate (no labels).

``improve_model`` runs the whole of ``visual-search train library`` (and the wizard's
"Improve the model from my photos"):

1. index the given folders (if any), then mine the library (``mining.mine``) — or, when
   resuming, read back the run's ``mined.json`` (written as soon as mining ends, so a run
   killed while training never mines again; killed before its first training state was
   saved, it trains again from the start on those pairs);
2. refuse a library with too few verified matches, with the counts;
3. train the chosen architecture on the mined pairs, starting from the model the library
   serves (its weights copied into every layer of the same name and shape), with the same
   progress, cancel and resume as every training;
4. measure the global model's recall of held-out verified matches before (the model in use)
   and after (the new model), with progress and cancel, and say whether the new one is
   better (``verdict``: never on fewer than ``MIN_HELD_OUT`` held-out photos).

The run's folder keeps ``mined.json`` (what was mined), ``improve.json`` (the figures) and
the trainer's files (``model/``, the resumable state, each epoch's hard negatives).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from engine.atomic import write_atomically
from engine.errors import VisualSearchError
from engine.inputs import read_bytes
from engine.library.improve.mining import HOLD_OUT, mine, require_enough
from engine.library.library import Library
from engine.network.checkpoint import load_checkpoint, resolve_model
from engine.network.config import loads_json
from engine.network.runtime import resolve_device
from engine.training.config import TrainConfig
from engine.training.mined import MinedData, MinedSet, held_out_recall
from engine.training.trainer import Trainer

#: training continues a trained model: AdamW at a small rate (SGD at 1e-3 undid what the
#: bundled model knew within a few epochs, measured on a generated library)
LIBRARY_OPTIMIZER = "adamw"
LIBRARY_LR = 1e-4


def library_config(spec: str, **overrides) -> TrainConfig:
    """``starting_config`` with the optimizer and rate that suit continuing a model."""
    return starting_config(spec, **{"optimizer": LIBRARY_OPTIMIZER, "lr": LIBRARY_LR, **overrides})


def starting_config(spec: str, **overrides) -> TrainConfig:
    """A training config that continues the model ``spec``: its architecture, backbone, size
    and descriptor, unless ``overrides`` name others (then only matching layers carry over)."""
    net = resolve_model(spec)
    c = net.config
    base = {
        "method": c.architecture,
        "backbone": c.backbone,
        "image_size": min(int(c.image_size), 512),
        "descriptor_dim": c.descriptor_dim,
        "arch_params": dict(c.arch_params or {}),
        "init_from": spec,
    }
    if overrides.get("method", c.architecture) != c.architecture:
        base.pop("arch_params")  # another architecture's parameters do not apply
    base.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(**base)


def improve_model(
    library: Library,
    out: str | Path,
    cfg: TrainConfig | None = None,
    folders: list[str] | None = None,
    model: str | None = None,
    resume: bool = False,
    progress=None,
    should_stop=None,
    on_record=None,
    on_mined=None,
    hold_out: float = HOLD_OUT,
    mined: MinedSet | None = None,
    on_note=None,
) -> dict:
    """Mine ``library`` (unless ``mined`` is given: pairs mined already), train on them into
    ``out`` and return the figures (see the module). ``resume`` continues the run in ``out``
    from what it saved: the mined pairs, the figures before, the training state; whatever was
    not saved yet is done again, and ``on_note(text)`` says so."""
    out = Path(out)
    progress = progress or (lambda done, total, message: None)
    if folders:
        library.index(folders, model=model, progress=progress, should_stop=should_stop)
    spec = library.model(model)[1].spec
    mined, notes = _mined_pairs(
        library, out, cfg, model, resume, mined, progress, should_stop, hold_out
    )
    resume_training = resume and (out / "state.json").exists()
    if resume and not resume_training and not notes:
        notes.append(
            f"no training state was saved in {out} before the run stopped (the first is "
            "saved after the checkpoint interval or at the end of the first epoch): training "
            "starts again on the pairs already mined"
        )
    for note in notes:
        if on_note is not None:
            on_note(note)
    if on_mined is not None:
        on_mined(mined)
    cfg = cfg or starting_config(spec)
    if cfg.init_from is None:
        cfg = dataclasses.replace(cfg, init_from=spec)
    device = resolve_device(cfg.device)
    figures_path = out / "improve.json"
    figures = (
        loads_json(read_bytes(figures_path), str(figures_path))
        if resume and figures_path.exists()
        else {}
    )
    if "before" not in figures:
        start = resolve_model(cfg.init_from).to(device)
        before = held_out_recall(
            start,
            mined,
            cfg.image_size,
            device,
            progress=progress,
            should_stop=should_stop,
            what="measuring the model in use on the held-out photos",
        )
        if before.get("cancelled"):  # nothing trained yet; Resume measures it again
            return {
                "before": before,
                "mined": mined.counts,
                "epochs": 0,
                "cancelled": True,
                "model": str(out / "model"),
                "history": [],
                "notes": notes,
                "started_from": cfg.init_from,
            }
        figures = {"before": before}
        _save(figures_path, figures)
    result = Trainer(cfg, MinedData(mined), out).run(
        progress=progress, should_stop=should_stop, resume=resume_training, on_record=on_record
    )
    figures.update(
        {
            "mined": mined.counts,
            "started_from": cfg.init_from,
            "method": cfg.method,
            "backbone": cfg.backbone,
            "epochs": result.epochs_done,
            "cancelled": result.cancelled,
            "model": str(out / "model"),
            "history": result.history,
            "notes": notes,
            "diverged": result.diverged,
        }
    )
    figures.pop("after", None)
    if (out / "model").exists() and not result.cancelled:
        trained = load_checkpoint(out / "model").to(device)
        after = held_out_recall(
            trained,
            mined,
            cfg.image_size,
            device,
            progress=progress,
            should_stop=should_stop,
            what="measuring the new model on the held-out photos",
        )
        if not after.get("cancelled"):
            figures["after"] = after
    figures["verdict"] = verdict(figures["before"], figures.get("after"))
    _save(figures_path, figures)
    return figures


def verdict(before: dict, after: dict | None) -> dict:
    """Whether the new model is better than the model in use on the held-out photos:
    ``{"better": bool, "why": sentence}``. Better: a higher recall@10, or the same and a
    higher recall@1; never judged on too few held-out photos (``too_few``)."""
    if after is None:
        return {"better": False, "why": "the new model was not measured (stopped before)"}
    too_few = after.get("too_few") or before.get("too_few")
    if too_few:
        return {"better": False, "why": too_few}
    b = (before["recall@10"], before["recall@1"])
    a = (after["recall@10"], after["recall@1"])
    if a > b:
        return {
            "better": True,
            "why": "the new model finds more of the held-out photos' verified matches",
        }
    if a == b:
        return {"better": False, "why": "the new model finds as many matches, not more"}
    return {"better": False, "why": "the new model finds fewer matches than the model in use"}


def _mined_pairs(
    library, out: Path, cfg, model, resume: bool, mined, progress, should_stop, hold_out
) -> tuple[MinedSet, list[str]]:
    """The pairs to train on: ``mined`` (saved in ``out``), those a resumed run saved, or
    mined now; and a note when a resumed run has to mine again."""
    mined_path = out / "mined.json"
    notes: list[str] = []
    if mined is not None:
        if not (resume and mined_path.exists()):
            mined.save(mined_path)
    elif resume and mined_path.exists():
        mined = MinedSet.load(mined_path)
    else:
        if resume:
            notes.append(f"nothing to resume in {out} yet (stopped while mining): mining again")
        seed = cfg.seed if cfg is not None else 0
        mined = mine(library, model, seed, progress, should_stop, hold_out)
        if mined.counts.get("cancelled"):  # a run trains on a library checked whole
            raise VisualSearchError("mining cancelled")
        require_enough(mined)
        mined.save(mined_path)
    require_enough(mined)
    return mined, notes


def _save(path: Path, figures: dict) -> None:
    text = json.dumps(figures, indent=1, default=float)
    write_atomically(path, lambda p: Path(p).write_text(text, encoding="utf-8"))
