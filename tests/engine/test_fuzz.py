"""A seeded fuzz pass over every reader of a user's files: random bytes and mutated real files
as photos, ground truth, checkpoint configs and weights, codebooks and lists. Each must end in
a result or in the engine's own one-line error (``VisualSearchError``), never in another
exception (the command line's "internal error"), never hang and never crash: each reader runs
in its own interpreter, so a crash in a C extension (numpy's dtype state once segfaulted) is a
failure naming its case, not the end of the test run. Bounded in time: each reader gets a few
seconds of cases from a fixed seed, so a failure names the seed and case that reproduce it."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.errors import VisualSearchError
from tests.helpers import ROOT

#: seconds of cases per reader (six readers and their start-up: about 30 s in all); more, and
#: other seeds, with FUZZ_SECONDS=60 FUZZ_SEED=1000 python -m pytest tests/engine/test_fuzz.py
BUDGET = float(os.environ.get("FUZZ_SECONDS", "3"))
SEED = int(os.environ.get("FUZZ_SEED", "0"))
#: the longest one case may take before it counts as a hang
HANG = 20.0


# ------------------------------------------------------------------ mutations


def _mutate(rng: np.random.Generator, data: bytes) -> bytes:
    """One to four byte-level edits: flips, random runs, cuts, repeats, extreme numbers."""
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 5))):
        op = int(rng.integers(0, 7))
        at = int(rng.integers(0, max(len(b), 1)))
        if op == 0 and b:  # flip bits
            b[at] ^= 1 << int(rng.integers(0, 8))
        elif op == 1:  # overwrite with random bytes
            n = int(rng.integers(1, 64))
            b[at : at + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        elif op == 2:  # truncate
            del b[at:]
        elif op == 3:  # repeat a chunk
            n = int(rng.integers(1, 256))
            b[at:at] = b[at : at + n] * int(rng.integers(1, 8))
        elif op == 4 and b:  # delete a chunk
            del b[at : at + int(rng.integers(1, 64))]
        elif op == 5:  # a length field gone wild
            b[at : at + 8] = int(rng.choice([0, 2**31 - 1, 2**32 - 1, 2**63 - 1])).to_bytes(
                8, "little"
            )
        else:  # insert random bytes
            b[at:at] = rng.integers(0, 256, int(rng.integers(1, 32)), dtype=np.uint8).tobytes()
    return bytes(b)


def _wild_json(rng: np.random.Generator, depth: int = 0):
    """A random JSON value: nesting, extreme and non-finite numbers, text, null."""
    pick = int(rng.integers(0, 9 if depth < 3 else 6))
    choices = [
        None,
        bool(rng.integers(0, 2)),
        int(rng.choice([0, -1, 1, 2**31, 2**63, 10**30, -(10**30)])),
        float(rng.choice([0.5, -1e308, 1e308, float("nan"), float("inf"), 1e-320])),
        "".join(chr(int(c)) for c in rng.integers(1, 0x3000, int(rng.integers(0, 12)))),
        "[" * 5000 + "]" * 5000,
    ]
    if pick < len(choices):
        return choices[pick]
    if pick == 6:
        return [_wild_json(rng, depth + 1) for _ in range(int(rng.integers(0, 4)))]
    if pick == 7:
        return {str(k): _wild_json(rng, depth + 1) for k in range(int(rng.integers(0, 4)))}
    return [[[[[[]]]]]] * int(rng.integers(1, 4))


def _mutate_json(rng: np.random.Generator, obj):
    """``obj`` with one value (at any depth) replaced by a wild one, or a key added."""
    obj = json.loads(json.dumps(obj))
    node = obj
    while isinstance(node, (dict, list)) and node and rng.random() < 0.6:
        key = list(node)[int(rng.integers(0, len(node)))] if isinstance(node, dict) else None
        child = node[key] if key is not None else node[int(rng.integers(0, len(node)))]
        if not isinstance(child, (dict, list)) or not child:
            break
        node = child
    if isinstance(node, dict) and node and rng.random() < 0.8:
        node[list(node)[int(rng.integers(0, len(node)))]] = _wild_json(rng)
    elif isinstance(node, dict):
        node[f"k{int(rng.integers(0, 9))}"] = _wild_json(rng)
    elif isinstance(node, list) and node:
        node[int(rng.integers(0, len(node)))] = _wild_json(rng)
    return obj


# ------------------------------------------------------------------ the readers


def _make_seeds(d: Path) -> Path:
    """Real files to mutate: two photos, a ground truth, the bundled model, a codebook."""
    from engine.match.codebook import Codebook
    from resources import resource_path

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(d / "p.jpg", quality=80)
    Image.fromarray(pixels).save(d / "p.png")
    gnd = [{"bbx": [1.0, 2.0, 30.0, 40.0], "easy": np.array([0, 1]), "hard": np.array([2]),
            "junk": np.array([], np.int64)}]  # fmt: skip
    truth = {"imlist": ["a", "b", "c"], "qimlist": ["q"], "gnd": gnd}
    (d / "gnd_x.pkl").write_bytes(pickle.dumps(truth, protocol=4))
    shutil.copytree(resource_path("models", "default"), d / "model")
    Codebook(rng.normal(size=(8, 128)), {"source": "fuzz"}).save(d / "book.safetensors")
    return d


def _photos(seeds: Path, tmp: Path):
    from engine.match.describe import local_features
    from engine.photo.decode import load_photo

    originals = [(seeds / n).read_bytes() for n in ("p.jpg", "p.png")]

    def case(rng, i):
        data = _mutate(rng, originals[i % 2]) if i % 5 else rng.bytes(int(rng.integers(0, 300)))
        path = tmp / f"c{i % 2}.{'jpg' if i % 2 == 0 else 'png'}"
        path.write_bytes(data)
        load_photo(path, 256)
        if i % 3 == 0:
            local_features(data)

    return case


def _ground_truth(seeds: Path, tmp: Path):
    from engine.evaluation.revisitop import load_ground_truth

    original = (seeds / "gnd_x.pkl").read_bytes()
    truth = pickle.loads(original)  # our own file

    def case(rng, i):
        path = tmp / "gnd_f.pkl"
        if i % 3 == 0:  # plain data of the wrong shape, pickled properly
            wild = _mutate_json(rng, json.loads(json.dumps(truth, default=lambda a: a.tolist())))
            path.write_bytes(pickle.dumps(wild, protocol=int(rng.integers(2, 6))))
        else:
            path.write_bytes(_mutate(rng, original) if i % 7 else rng.bytes(200))
        load_ground_truth(path)

    return case


def _configs(seeds: Path, tmp: Path):
    from engine.network.checkpoint import read_config
    from engine.network.files import checkpoint_config, checkpoint_extra

    d = tmp / "model"
    shutil.copytree(seeds / "model", d)
    original = json.loads((d / "config.json").read_text())

    def case(rng, i):
        if i % 4 == 3:
            (d / "config.json").write_bytes(_mutate(rng, json.dumps(original).encode()))
        else:
            text = json.dumps(_mutate_json(rng, original), allow_nan=True)
            (d / "config.json").write_text(text)
        checkpoint_extra(d)
        checkpoint_config(d)
        read_config(d)

    return case


def _weights(seeds: Path, tmp: Path):
    from engine.network.files import fingerprint_from_files, weights_layout

    d = tmp / "model"
    shutil.copytree(seeds / "model", d)
    original = (seeds / "model" / "model.safetensors").read_bytes()
    head = int.from_bytes(original[:8], "little") + 8

    def case(rng, i):
        # mutate the header (where a reader can go wrong) and keep the tensors after it
        (d / "model.safetensors").write_bytes(_mutate(rng, original[:head]) + original[head:])
        weights_layout(d)
        if i % 4 == 0:
            fingerprint_from_files(d)

    return case


def _codebooks(seeds: Path, tmp: Path):
    from engine.match.codebook import Codebook

    original = (seeds / "book.safetensors").read_bytes()

    def case(rng, i):
        path = tmp / "book.safetensors"
        path.write_bytes(_mutate(rng, original) if i % 6 else rng.bytes(100))
        book = Codebook.load(path)
        book.assign(np.zeros((2, 128), np.float32))

    return case


def _command_line(seeds: Path, tmp: Path):
    """Through ``main``: a bad file is exit 2 with one short line, never exit 3."""
    from engine.cli.entry import EXIT_BAD_INPUT, main
    from engine.training.data import read_exclusions

    book = (seeds / "book.safetensors").read_bytes()

    def case(rng, i):
        path = tmp / "f.bin"
        path.write_bytes(_mutate(rng, book) if i % 2 else rng.bytes(int(rng.integers(0, 500))))
        read_exclusions(path)
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(["codebook", "info", str(path)])
        text = err.getvalue()
        if code != 0 and (code != EXIT_BAD_INPUT or text.count("\n") != 1 or len(text) > 501):
            raise AssertionError(f"exit {code}: {text[:300]!r}")

    return case


#: reader → (seed, the case maker)
READERS = {
    "photo": (1, _photos),
    "ground-truth": (2, _ground_truth),
    "config": (3, _configs),
    "weights": (4, _weights),
    "codebook": (5, _codebooks),
    "command-line": (6, _command_line),
}


# ------------------------------------------------------------------ the run


def child(name: str, seed: str, budget: str, progress: str) -> None:
    """In a fresh interpreter: cases of one reader for ``budget`` seconds; prints
    ``{"cases": n, "failures": [...]}``. The case under way is written to ``progress``, so
    a crash (a signal kills the interpreter) names it."""
    with tempfile.TemporaryDirectory() as tmp:
        seeds = _make_seeds(Path(tmp))
        work = Path(tmp) / "work"
        work.mkdir()
        case = READERS[name][1](seeds, work)
        rng = np.random.default_rng(int(seed))
        failures: list[str] = []
        i, end = 0, time.monotonic() + float(budget)
        while time.monotonic() < end and len(failures) < 3:
            Path(progress).write_text(str(i))
            try:
                case(rng, i)
            except VisualSearchError as e:
                if not str(e) or "\n" in str(e):
                    failures.append(f"case {i}: not one line: {e!r}"[:400])
            except Exception as e:
                failures.append(f"case {i}: {type(e).__name__}: {e}"[:400])
            i += 1
    print(json.dumps({"cases": i, "failures": failures}))


@pytest.mark.parametrize("name", list(READERS))
def test_fuzz(name, tmp_path):
    """Random and mutated files through one reader: no exception but the engine's one-line
    refusal, no hang, no crash (each reader in its own interpreter)."""
    seed = READERS[name][0] + SEED
    progress = tmp_path / "case"
    # held to 8 GB of address space: a bomb that slips through is a MemoryError, not the
    # kernel's OOM killer on a shared machine
    code = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30)); "
        "from tests.engine.test_fuzz import child; child(*sys.argv[1:])"
    )
    argv = [sys.executable, "-c", code, name, str(seed), str(BUDGET), str(progress)]
    env = {**os.environ, "VISUAL_SEARCH_FAISS_GPU": "0"}
    try:
        proc = subprocess.run(
            argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=BUDGET + HANG + 30
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name} seed {seed}: case {progress.read_text()} hung")
    where = f"{name} seed {seed}"
    if proc.returncode != 0:
        case = progress.read_text() if progress.exists() else "?"
        pytest.fail(f"{where}: case {case} ended the process ({proc.returncode}): "
                    f"{proc.stderr[-1500:]}")  # fmt: skip
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not result["failures"], f"{where}: " + "\n".join(result["failures"])
    assert result["cases"] >= 5, f"{where}: only {result['cases']} cases in {BUDGET} s"


def test_the_mutations_reach_past_the_first_check():
    """The fuzz is worth its time only if some mutated files still load: a sanity check of
    the mutators on a JSON config (most cases must still parse as JSON)."""
    rng = np.random.default_rng(7)
    base = {"a": [1, 2, {"b": 3}], "c": "x"}
    parsed = sum(
        isinstance(json.loads(json.dumps(_mutate_json(rng, base), allow_nan=True)), dict)
        for _ in range(50)
    )
    assert parsed == 50
    assert len({_mutate(rng, b"0123456789" * 10) for _ in range(20)}) > 15
