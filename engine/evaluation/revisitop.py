"""Revisited Oxford/Paris ground truth and scoring.

A ``gnd_*.pkl`` file holds ``imlist`` (database names), ``qimlist`` (query names) and
``gnd[i] = {bbx, easy, hard, junk}`` per query. Users download these files, so they are read
through a restricted unpickler that admits only builtin containers, numbers, strings and numpy
arrays — never a plain ``pickle.load`` on a user-supplied file.

Protocols: Easy — positives ``easy``, junk ``junk + hard``; Medium — positives
``easy + hard``, junk ``junk``; Hard — positives ``hard``, junk ``junk + easy``. Junk is
removed from the ranking; AP is the trapezoid rule over the positives' ranks; queries without
positives are skipped; mP@k caps k at the rank of the last positive.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from engine.errors import VisualSearchError
from engine.evaluation.plain_pickle import PickleRefused, load_plain
from engine.inputs import read_bytes

PROTOCOLS = ("E", "M", "H")
KAPPAS = (1, 5, 10)
#: the real Revisited Oxford/Paris files hold a few hundred kB
MAX_GROUND_TRUTH_BYTES = 64 * 1024 * 1024


class GroundTruthError(VisualSearchError):
    """A ground-truth file that cannot be read or does not have the expected structure."""


def safe_load_pickle(data: bytes) -> object:
    """Unpickle ``data`` admitting only builtin containers, numbers, strings and numpy arrays,
    and allocating nothing larger than ``data`` itself (``plain_pickle``)."""
    try:
        return load_plain(data)
    except PickleRefused as e:
        raise GroundTruthError(str(e)) from None


@dataclass
class GroundTruth:
    imlist: list[str]
    qimlist: list[str]
    gnd: list[dict]  # per query: bbx (4 floats or None), easy, hard, junk (index arrays)
    name: str = ""

    def protocol(self, p: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per query ``(positives, junk)`` database indices under protocol E, M or H."""
        out = []
        for g in self.gnd:
            easy, hard, junk = g["easy"], g["hard"], g["junk"]
            if p == "E":
                out.append((easy, np.concatenate([junk, hard])))
            elif p == "M":
                out.append((np.concatenate([easy, hard]), junk))
            elif p == "H":
                out.append((hard, np.concatenate([junk, easy])))
            else:
                raise ValueError(f"protocol must be one of {PROTOCOLS}")
        return out


def _read_pickle(p: str) -> object:
    """The unpickled contents of ``p``; every way reading it fails is one ``GroundTruthError``."""
    data = read_bytes(p, MAX_GROUND_TRUTH_BYTES)  # a FIFO or device is refused, not read
    try:
        return safe_load_pickle(data)
    except GroundTruthError as e:
        raise GroundTruthError(f"{p}: {e}") from None
    except MemoryError:
        raise GroundTruthError(f"{p}: refused, it asks for more memory than there is") from None
    except RecursionError:
        raise GroundTruthError(f"{p}: refused, data nested too deeply") from None
    except Exception as e:  # unpickling runs numpy's C code: any failure is a bad file
        reason = " ".join(str(e).split())[:200] or type(e).__name__
        raise GroundTruthError(f"{p}: not a readable ground-truth pickle ({reason})") from None


def _numbers(p: str, where: str, value: object, kind: str) -> np.ndarray:
    """``value`` (a list or array) as a flat array of indices (``kind`` "i": integers, or
    floats that are whole) or of finite numbers ("f"); anything else is a
    ``GroundTruthError`` naming ``where``."""
    try:
        arr = np.asarray(value).reshape(-1)
    except (ValueError, TypeError, OverflowError):  # ragged, or not numbers at all
        arr = np.array([None])
    out_type = np.int64 if kind == "i" else np.float64
    if arr.size == 0:
        return np.zeros(0, out_type)
    ok = arr.dtype.kind in "iu"
    if arr.dtype.kind == "f":
        whole = (arr == np.round(arr)) & (np.abs(arr) < 2**53)
        ok = bool(np.isfinite(arr).all() and (kind == "f" or whole.all()))
    if not ok:
        want = "indices (whole numbers)" if kind == "i" else "numbers"
        raise GroundTruthError(f"{p}: {where} must be a list of {want}")
    return arr.astype(out_type)


def _query_entry(p: str, i: int, g: object, n: int) -> dict:
    """Query ``i``'s checked entry: ``easy``, ``hard``, ``junk`` as index arrays into an
    ``imlist`` of ``n`` names, ``bbx`` as 4 floats or None."""
    if not isinstance(g, dict):
        raise GroundTruthError(f"{p}: gnd[{i}] is not a dict")
    entry = {}
    for key in ("easy", "hard", "junk"):
        arr = _numbers(p, f"gnd[{i}].{key}", g.get(key, []), "i")
        if arr.size and (arr.min() < 0 or arr.max() >= n):
            raise GroundTruthError(f"{p}: gnd[{i}].{key} indexes outside imlist")
        entry[key] = arr
    bbx = g.get("bbx")
    if bbx is not None:
        bbx = [float(v) for v in _numbers(p, f"gnd[{i}].bbx", bbx, "f")]
        if len(bbx) != 4:
            raise GroundTruthError(f"{p}: gnd[{i}].bbx must have 4 numbers")
    entry["bbx"] = bbx
    return entry


def _names(p: str, raw: dict, key: str) -> list[str]:
    value = raw[key]
    if not isinstance(value, (list, tuple)) or not all(isinstance(x, str) for x in value):
        raise GroundTruthError(f"{p}: {key} must be a list of image names")
    return list(value)


def load_ground_truth(path: str | os.PathLike) -> GroundTruth:
    """Read and check a revisitop ``gnd_*.pkl``; every problem is a one-line error."""
    p = os.fspath(path)
    raw = _read_pickle(p)
    if not isinstance(raw, dict) or not {"imlist", "qimlist", "gnd"} <= set(raw):
        raise GroundTruthError(f"{p}: expected a dict with imlist, qimlist and gnd")
    imlist, qimlist = _names(p, raw, "imlist"), _names(p, raw, "qimlist")
    gnd = raw["gnd"]
    if not isinstance(gnd, (list, tuple)):
        raise GroundTruthError(f"{p}: gnd must be a list of per-query dicts")
    if len(gnd) != len(qimlist):
        raise GroundTruthError(f"{p}: {len(qimlist)} queries but {len(gnd)} gnd entries")
    try:
        out = [_query_entry(p, i, g, len(imlist)) for i, g in enumerate(gnd)]
    except MemoryError:
        raise GroundTruthError(f"{p}: refused, it asks for more memory than there is") from None
    name = os.path.basename(p).removeprefix("gnd_").removesuffix(".pkl")
    return GroundTruth(imlist, qimlist, out, name)


def average_precision(ranks: np.ndarray, npos: int) -> float:
    """AP by the trapezoid rule. ``ranks``: 0-based sorted ranks of the positives after junk
    is removed; ``npos``: number of positives."""
    ap = 0.0
    step = 1.0 / npos
    for j, r in enumerate(ranks):
        p0 = 1.0 if r == 0 else j / r
        p1 = (j + 1) / (r + 1)
        ap += (p0 + p1) * step / 2.0
    return ap


def score_ranking(
    ranking: np.ndarray, truth: list[tuple[np.ndarray, np.ndarray]], kappas=KAPPAS
) -> dict[str, float]:
    """mAP and mP@k (as fractions) of ``ranking (nq, ndb)`` (database indices, best first).

    Queries without positives are skipped; ``"queries"`` says how many counted.
    """
    aps, prs = [], []
    for i, (pos, junk) in enumerate(truth):
        if len(pos) == 0:
            continue
        row = np.asarray(ranking[i])
        is_pos = np.isin(row, pos)
        is_junk = np.isin(row, junk) & ~is_pos
        kept = row[~is_junk]
        ranks = np.flatnonzero(np.isin(kept, pos))
        aps.append(average_precision(ranks, len(pos)))
        one_based = ranks + 1
        last = one_based.max() if len(one_based) else 0
        pr = []
        for k in kappas:
            kq = min(last, k) if last else k
            pr.append(float((one_based <= kq).sum()) / kq if kq else 0.0)
        prs.append(pr)
    if not aps:
        return {"mAP": math.nan, **{f"mP@{k}": math.nan for k in kappas}, "queries": 0}
    prs_a = np.array(prs)
    out = {"mAP": float(np.mean(aps))}
    for j, k in enumerate(kappas):
        out[f"mP@{k}"] = float(prs_a[:, j].mean())
    out["queries"] = len(aps)
    return out


def evaluate_ranking(ranking: np.ndarray, gt: GroundTruth) -> dict[str, dict[str, float]]:
    """``{"E": {...}, "M": {...}, "H": {...}}`` with every figure in percent."""
    res = {}
    for p in PROTOCOLS:
        s = score_ranking(ranking, gt.protocol(p))
        res[p] = {k: (round(100.0 * v, 2) if k != "queries" else v) for k, v in s.items()}
    return res


def leave_one_out_map(x: np.ndarray, labels: np.ndarray) -> float:
    """Retrieval mAP (fraction) on a labelled set: each item queries all others; positives
    share its label. ``x (n, d)`` unit descriptors."""
    labels = np.asarray(labels)
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    aps = []
    for i in range(len(x)):
        order = np.argsort(-sims[i])[:-1]  # drop self (ranked last)
        pos = np.flatnonzero(labels[order] == labels[i])
        if len(pos):
            aps.append(average_precision(pos, len(pos)))
    return float(np.mean(aps)) if aps else math.nan
