"""Training on pairs mined from a library (``engine.library.improve.mining`` finds them).

:class:`MinedSet` is what mining found, kept on disk as readable JSON (``mined.json``): the
photos (path and size), the verified pairs with their inliers, the near-duplicate pairs kept
apart, the pseudo-classes (connected components of the pairs), which classes are held out for
evaluation, the hard negatives found at mining and a pool of other photos.

:class:`MinedData` turns it into training data for the trainer: the training classes' photos
with their pseudo-class label, and, each epoch, batches of ``K`` photos of each of several
classes plus the hard negatives of those classes — the photos the model being trained ranks
highest outside a class, excluding any photo verified to match it. They are refreshed at the
start of every epoch with the current weights, and written to ``negatives-<epoch>.json`` in the
run's folder, so a resumed epoch uses exactly the same batches.

:func:`held_out_recall` is the evaluation without labels: for each held-out photo (one view of
an object or place the others of which were trained on), the share of its verified matches
among the global model's top ``k`` of every mined photo.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from engine.atomic import write_atomically
from engine.errors import BadImageError, CancelledError, VisualSearchError
from engine.inputs import read_bytes
from engine.network.config import loads_json
from engine.photo.decode import load_photo
from engine.tasks import Rate
from engine.training.data import Item

#: photos per class in a batch; the rest of a batch are hard negatives (a quarter)
PER_CLASS = 2
NEGATIVE_SHARE = 0.25
#: photos the model being trained ranks highest outside a class that join its batch
NEGATIVES_PER_CLASS = 2
#: optimizer steps an epoch makes at least (classes are visited again on a small library)
MIN_STEPS = 10


@dataclass
class MinedSet:
    photos: list[dict]  # {"path", "width", "height"}
    pairs: list[list[int]]  # [photo, photo, inliers]: verified, with a change of view
    near_duplicates: list[list[int]]  # [photo, photo, inliers]: never positives or negatives
    classes: list[list[int]]  # pseudo-classes: photo indices
    held_out: list[int]  # photos kept out of training, searched for their matches afterwards
    negatives: dict[int, list[int]]  # photo → hard negatives found at mining
    pool: list[int]  # other photos that may serve as negatives
    counts: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        d = asdict(self)
        d["negatives"] = {str(k): v for k, v in self.negatives.items()}
        text = json.dumps({"version": 1, **d}, indent=1)
        write_atomically(path, lambda p: Path(p).write_text(text, encoding="utf-8"))
        return path

    @classmethod
    def load(cls, path: str | Path) -> MinedSet:
        path = Path(path)
        try:
            d = loads_json(read_bytes(path), str(path))  # a FIFO is refused
        except OSError as e:
            raise VisualSearchError(f"{path}: cannot read ({e.strerror or e})") from None
        if not isinstance(d, dict) or d.get("version") != 1:
            raise VisualSearchError(f"{path}: not a mined training set")
        d.pop("version")
        n = len(d.get("photos", []))
        try:
            d["negatives"] = {int(k): [int(j) for j in v] for k, v in d["negatives"].items()}
            ok = all(
                0 <= i < n
                for i in [
                    *(i for c in d["classes"] for i in c),
                    *(i for p in d["pairs"] for i in p[:2]),
                    *d["pool"],
                    *d["negatives"],
                    *(j for v in d["negatives"].values() for j in v),
                ]
            ) and all(0 <= k < n for k in d["held_out"])
            mined = cls(**d)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise VisualSearchError(f"{path}: not a mined training set") from None
        if not ok:
            raise VisualSearchError(f"{path}: refers to photos it does not list")
        return mined

    def partners(self) -> dict[int, set[int]]:
        """Each photo's verified matches (with a change of view)."""
        out: dict[int, set[int]] = {}
        for a, b, _ in self.pairs:
            out.setdefault(a, set()).add(b)
            out.setdefault(b, set()).add(a)
        return out

    def linked(self) -> set[tuple[int, int]]:
        """Pairs that must never be negatives: verified matches and near-duplicates."""
        return {(min(a, b), max(a, b)) for a, b, _ in self.pairs + self.near_duplicates}


def _aspect(photo: dict) -> float:
    return float(photo["width"]) / max(1.0, float(photo["height"]))


class MinedData:
    """The training side of a :class:`MinedSet` (what ``Trainer`` takes, like a labelled set).

    ``classes`` names the training pseudo-classes; ``items`` are every usable photo, those of
    training classes with their label and the others (held-out classes excluded) with -1:
    they only ever appear as negatives.
    """

    def __init__(self, mined: MinedSet) -> None:
        self.mined = mined
        held = set(mined.held_out)
        self.members = [[m for m in c if m not in held] for c in mined.classes]
        self.members = [m for m in self.members if len(m) >= 2]
        self.classes = [f"pseudo-{k:04d}" for k in range(len(self.members))]
        label_of = {m: label for label, ms in enumerate(self.members) for m in ms}
        self.items = [
            Item(Path(p["path"]), label_of.get(i, -1), _aspect(p))
            for i, p in enumerate(mined.photos)
        ]
        #: photos batches may use: training classes and negatives, never a held-out photo
        self.usable = [i for i in range(len(self.items)) if i not in held]
        self.linked = mined.linked()

    @property
    def report(self):  # the wizard and CLI print a labelled set's report; a mined set has counts
        return self.mined.counts

    # ---------------------------------------------------------------- batches

    def epoch_batches(
        self, epoch: int, batch_size: int, seed: int, negatives: dict[int, list[int]]
    ) -> list[list[int]]:
        """Batches of item indices: ``PER_CLASS`` photos of each of several classes, then the
        hard negatives of those classes (``negatives``: class label → photo indices)."""
        rng = random.Random(seed * 1_000_003 + epoch)
        per_batch = max(1, round(batch_size * (1 - NEGATIVE_SHARE)) // PER_CLASS)
        passes = max(1, -(-MIN_STEPS * per_batch // max(1, len(self.members))))
        labels = []
        for _ in range(passes):  # a small library is visited several times an epoch
            order = list(range(len(self.members)))
            rng.shuffle(order)
            labels += order
        batches = []
        for s in range(0, len(labels) - per_batch + 1, per_batch):
            batch: list[int] = []
            for label in labels[s : s + per_batch]:
                m = self.members[label]
                batch += rng.sample(m, min(PER_CLASS, len(m)))
            for label in labels[s : s + per_batch]:
                for j in negatives.get(label, []):
                    if j not in batch and len(batch) < batch_size:
                        batch.append(j)
            if len(batch) >= 2:
                batches.append(batch)
        return batches

    @torch.no_grad()
    def hard_negatives(self, descriptors: dict[int, np.ndarray]) -> dict[int, list[int]]:
        """Class label → the usable photos outside the class that the current descriptors
        rank highest against the class's photos, verified matches excluded."""
        ids = [i for i in self.usable if i in descriptors]
        if not ids:
            return {}
        X = np.stack([descriptors[i] for i in ids]).astype(np.float32)
        pos = {i: k for k, i in enumerate(ids)}
        out: dict[int, list[int]] = {}
        for label, members in enumerate(self.members):
            rows = [pos[m] for m in members if m in pos]
            if not rows:
                continue
            sims = (X[rows] @ X.T).max(0)
            chosen: list[int] = []
            for k in np.argsort(-sims, kind="stable"):
                j = ids[int(k)]
                if self.items[j].label == label or any(
                    (min(m, j), max(m, j)) in self.linked for m in members
                ):
                    continue
                chosen.append(j)
                if len(chosen) == NEGATIVES_PER_CLASS:
                    break
            out[label] = chosen
        return out

    def negatives_for_epoch(self, out: Path, epoch: int, describe) -> dict[int, list[int]]:
        """This epoch's hard negatives: read back when a resumed run saved them, otherwise
        computed with ``describe(indices) -> {index: descriptor}`` and saved."""
        path = Path(out) / f"negatives-{epoch}.json"
        if path.exists():
            d = loads_json(read_bytes(path), str(path))  # a FIFO is refused
            return {int(k): [int(j) for j in v] for k, v in d.items()}
        negs = self.hard_negatives(describe(self.usable))
        text = json.dumps({str(k): v for k, v in negs.items()})
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, lambda p: Path(p).write_text(text, encoding="utf-8"))
        return negs


#: held-out photos (each with verified matches) a comparison needs: with fewer, one photo moves
#: recall@10 by more than 0.2, and a better or worse model cannot be told from luck
MIN_HELD_OUT = 5


def too_few_held_out(queries: int) -> str | None:
    """Why ``queries`` held-out photos cannot compare two models, or None when they can."""
    if queries >= MIN_HELD_OUT:
        return None
    return (
        f"too few photos held out to compare the models: {queries} with verified matches, at "
        f"least {MIN_HELD_OUT} are needed, because with fewer one photo alone moves recall@10 "
        f"by more than {1 / MIN_HELD_OUT:.1f} and luck cannot be told from a better model "
        "(photos of more places or objects, three or more views each, give more)"
    )


@torch.no_grad()
def describe_photos(
    model, paths: list[Path], image_size: int, device, progress=None, should_stop=None
) -> dict[int, np.ndarray]:
    """Global descriptors of ``paths`` (index → unit vector) at ``image_size``, one at a time
    in eval mode; unreadable photos are left out. ``progress(done, total)`` after each photo;
    ``should_stop()`` ends early with the photos described so far."""
    from torchvision.transforms.v2 import functional as TF

    cfg = model.config
    mean = torch.tensor(cfg.mean).view(1, 3, 1, 1)
    std = torch.tensor(cfg.std).view(1, 3, 1, 1)
    was = model.training
    model.eval()
    out: dict[int, np.ndarray] = {}
    for i, p in enumerate(paths):
        if should_stop is not None and should_stop():
            break
        try:
            img = load_photo(p, max_side=image_size).image
        except BadImageError:
            continue
        x = TF.pil_to_tensor(img).unsqueeze(0).float() / 255.0
        x = ((x - mean) / std).to(device)
        out[i] = model(x).descriptor[0].float().cpu().numpy()
        if progress is not None:
            progress(i + 1, len(paths))
    model.train(was)
    return out


def rated(progress, what: str):
    """``progress(done, total)`` that says ``what`` with this run's rate and time left, as
    ``progress(done, total, message)`` (None stays None)."""
    if progress is None:
        return None
    rate = Rate()
    rate.update(0)

    def report(done: int, total: int) -> None:
        rate.update(done)
        progress(done, total, f"{what}: {done}/{total} photos, {rate.text(done, total)}")

    return report


def held_out_recall(
    model,
    mined: MinedSet,
    image_size: int,
    device="cpu",
    k: int = 10,
    progress=None,
    should_stop=None,
    what: str = "measuring on the held-out photos",
) -> dict:
    """For each held-out photo (never trained on), the share of its verified matches among the
    top ``k`` of every other mined photo by the model's descriptor (recall@k), and how often
    the first result is one of them (recall@1). Averaged over those photos.

    ``queries`` says over how many; ``too_few`` why they cannot compare two models (or None).
    ``progress(done, total, message)`` reports each photo described, with the rate and the
    time left; ``should_stop()`` ends early: the figures are then NaN and ``cancelled`` true."""
    partners = mined.partners()
    queries = sorted(q for q in mined.held_out if partners.get(q))
    nan = float("nan")
    if not queries:
        return {"recall@1": nan, f"recall@{k}": nan, "queries": 0, "too_few": too_few_held_out(0)}
    paths = [Path(p["path"]) for p in mined.photos]
    desc = describe_photos(model, paths, image_size, device, rated(progress, what), should_stop)
    if should_stop is not None and should_stop() and len(desc) < len(paths):
        return {"recall@1": nan, f"recall@{k}": nan, "queries": 0, "cancelled": True}
    ids = sorted(desc)
    X = np.stack([desc[i] for i in ids]).astype(np.float32)
    pos = {i: r for r, i in enumerate(ids)}
    r1, rk, n = 0.0, 0.0, 0
    for q in queries:
        if q not in pos:
            continue
        s = X @ X[pos[q]]
        s[pos[q]] = -np.inf
        top = [ids[int(j)] for j in np.argsort(-s, kind="stable")[:k]]
        want = partners[q]
        r1 += float(top[0] in want)
        rk += len(want & set(top)) / len(want)
        n += 1
    return {
        "recall@1": r1 / max(n, 1),
        f"recall@{k}": rk / max(n, 1),
        "queries": n,
        "too_few": too_few_held_out(n),
    }


def mined_feed(trainer, mcfg, device, tm):
    """What the trainer's feed needs for mined data: the batch loader, the epoch → batches
    function (hard negatives refreshed with ``tm``'s model), the held-out recall@10 as the
    validation figure, and the number of training photos."""
    from engine.training.batches import ImageBatches

    cfg, data = trainer.cfg, trainer.data
    ds = ImageBatches(
        data.items, cfg.image_size, mcfg.mean, mcfg.std, cfg.labelled.augment, cfg.seed
    )

    note = getattr(trainer, "note", None)  # what the run is doing between its steps

    def phase(what: str):
        if note is None:
            return None
        return lambda done, total, message: note(message)

    def describe(indices: list[int], epoch: int) -> dict:
        paths = [data.items[i].path for i in indices]
        what = f"epoch {epoch + 1}: choosing hard negatives with the model being trained"
        stop = getattr(trainer, "should_stop", None)
        progress = rated(phase(what), what)
        found = describe_photos(tm.model, paths, cfg.image_size, device, progress, stop)
        if stop is not None and stop():  # nothing of this epoch's negatives is saved
            raise CancelledError(f"cancelled in epoch {epoch + 1} while choosing hard negatives")
        return {indices[k]: v for k, v in found.items()}

    def batches(epoch: int) -> list:
        negatives = data.negatives_for_epoch(trainer.out, epoch, lambda i: describe(i, epoch))
        every = data.epoch_batches(epoch, cfg.batch_size, cfg.seed, negatives)
        per_rank = len(every) // trainer.world
        return every[trainer.rank :: trainer.world][:per_rank]

    def val(tm) -> float:
        what = "measuring the model being trained on the held-out photos"
        stop = getattr(trainer, "should_stop", None)  # Cancel ends the measuring too (NaN)
        got = held_out_recall(
            tm.model, data.mined, cfg.image_size, device,
            progress=phase(what), should_stop=stop, what=what,
        )  # fmt: skip
        return got["recall@10"]

    return ds, batches, val, sum(len(m) for m in data.members)
