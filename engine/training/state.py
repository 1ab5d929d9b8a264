"""The resumable state of a training run, and what a run that went NaN says.

``out/state.safetensors`` holds the weights and heads, the optimizer's tensors and the random
generator; ``out/state.json`` the epoch and step, the losses of the epoch so far, the history,
the training config and the optimizer's settings. Both are written at one step boundary, from
finite weights only, so a resumed run continues exactly where the saved one stopped and a run
whose loss became NaN keeps its last good state.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load, save_file

from engine.atomic import write_atomically
from engine.errors import VisualSearchError
from engine.inputs import read_bytes
from engine.network.checkpoint import save_checkpoint
from engine.network.config import loads_json

NO_PARTIAL = {"losses": [], "accs": [], "bad": 0}


class Diverged(Exception):
    """A loss or a weight that is not finite: training stops with the last good checkpoint."""

    def __init__(self, reason: str, epoch: int | None = None, step: int | None = None) -> None:
        super().__init__(reason)
        self.reason, self.epoch, self.step = reason, epoch, step

    def sentence(self, epoch: int, history: list[dict], out: Path, lr: float) -> str:
        """What the run ends with; what is on disk is the last good checkpoint (nothing of
        the bad step was saved)."""
        where = f"in epoch {epoch + 1}" + (
            f", step {self.step + 1}" if self.step is not None else ""
        )
        if history:
            kept = (
                f"the last good checkpoint (end of epoch {len(history)}) is kept in {out / 'model'}"
            )
        elif (out / "state.json").exists():
            kept = f"nothing better than the last saved state in {out} was kept"
        else:
            kept = "no checkpoint had been saved yet, so no model was written"
        return (
            f"training stopped {where}: {self.reason}; {kept}. A lower learning rate "
            f"(now {lr:g}) may help."
        )


class RunState:
    """``out``'s resumable state for a run of ``cfg`` on ``classes``."""

    def __init__(self, out: Path, cfg, classes: list[str]) -> None:
        self.out, self.cfg, self.classes = Path(out), cfg, classes

    def save(
        self,
        tm,
        opt,
        epoch: int,
        step: int,
        history: list[dict],
        save_model: bool,
        partial: dict | None = None,
    ) -> None:
        """Weights, optimizer, random generator, epoch, step and ``partial`` (the losses,
        accuracies and unreadable photos of the epoch's steps so far) as one consistent
        state, and the model when ``save_model``; refused (``Diverged``) when a weight is not
        finite."""
        if not all(bool(torch.isfinite(p).all()) for p in tm.parameters()):
            raise Diverged("a weight is not finite")
        self.out.mkdir(parents=True, exist_ok=True)
        if save_model:
            save_checkpoint(
                tm.model, self.out / "model", extra={"classes": len(self.classes), "epoch": epoch}
            )
        tensors = {
            f"module.{k}": v.detach().cpu().contiguous().clone() for k, v in tm.state_dict().items()
        }
        osd = opt.state_dict()
        for idx, st in osd["state"].items():
            for name, v in st.items():
                if isinstance(v, torch.Tensor):
                    tensors[f"opt.{idx}.{name}"] = v.detach().cpu().contiguous().clone()
        tensors["rng.torch"] = torch.get_rng_state()
        write_atomically(self.out / "state.safetensors", lambda p: save_file(tensors, p))
        meta = {
            "epoch": epoch,
            "step": step,
            "history": history,
            "train_config": self.cfg.to_dict(),
            "classes": self.classes,
            "param_groups": osd["param_groups"],
            "partial": partial or NO_PARTIAL,
            "version": 1,
        }
        text = json.dumps(meta, indent=1)
        write_atomically(self.out / "state.json", lambda p: Path(p).write_text(text))

    def load(self, tm, opt) -> tuple[int, int, list[dict], dict]:
        """Restore ``tm``, ``opt`` and the random generator; (epoch, step, history, the
        epoch's partial losses)."""
        meta_path, st_path = self.out / "state.json", self.out / "state.safetensors"
        if not meta_path.exists() or not st_path.exists():
            raise VisualSearchError(f"{self.out}: nothing to resume (no state.json)")
        meta = loads_json(read_bytes(meta_path), str(meta_path))  # a FIFO is refused
        if meta.get("classes") != self.classes:
            raise VisualSearchError(
                f"{self.out}: the saved run used other classes; resume needs the same data set"
            )
        tensors = load(read_bytes(st_path, 1 << 40))  # a FIFO is refused
        tm.load_state_dict({k[7:]: v for k, v in tensors.items() if k.startswith("module.")})
        osd = opt.state_dict()
        osd["param_groups"] = meta["param_groups"]
        state: dict[int, dict] = {}
        for k, v in tensors.items():
            if k.startswith("opt."):
                _, idx, name = k.split(".", 2)
                state.setdefault(int(idx), {})[name] = v
        osd["state"] = state
        opt.load_state_dict(osd)
        if "rng.torch" in tensors:  # the same draws as the run that was not interrupted
            torch.set_rng_state(tensors["rng.torch"])
        partial = meta.get("partial") or NO_PARTIAL
        if int(meta["step"]) == 0:
            partial = NO_PARTIAL
        return int(meta["epoch"]), int(meta["step"]), list(meta["history"]), dict(partial)
