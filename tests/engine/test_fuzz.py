"""A seeded fuzz pass over every reader of a user's files: random bytes and mutated real files
as photos, ground truth, checkpoint configs and weights, codebooks and lists. Each must end in
a result or in the engine's own one-line error (``VisualSearchError``), never in another
exception (the command line's "internal error") and never hang. Bounded in time: each reader
gets a few seconds of cases from a fixed seed, so a failure names the seed and case that
reproduce it."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from engine.errors import VisualSearchError

#: seconds of cases per reader (six readers: about 25 s in all); more, and other seeds, with
#: FUZZ_SECONDS=60 FUZZ_SEED=1000 python -m pytest tests/engine/test_fuzz.py
BUDGET = float(os.environ.get("FUZZ_SECONDS", "4"))
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


# ------------------------------------------------------------------ the run


def _fuzz(
    name: str,
    seed: int,
    case: Callable[[np.random.Generator, int], None],
    budget: float = BUDGET,
) -> int:
    """Cases ``case(rng, i)`` for ``budget`` seconds; returns how many ran. A case may return
    or raise ``VisualSearchError``; anything else fails the test naming the seed and case."""
    seed += SEED
    rng = np.random.default_rng(seed)
    failures: list[str] = []
    count = [0]

    def run():
        end = time.monotonic() + budget
        while time.monotonic() < end and len(failures) < 3:
            i = count[0]
            try:
                case(rng, i)
            except VisualSearchError as e:
                if not str(e) or "\n" in str(e):
                    failures.append(f"{name} seed {seed} case {i}: not one line: {e!r}"[:400])
            except Exception as e:
                failures.append(f"{name} seed {seed} case {i}: {type(e).__name__}: {e}"[:400])
            count[0] += 1

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(budget + HANG)
    assert not t.is_alive(), f"{name} seed {seed}: case {count[0]} hung"
    assert not failures, "\n".join(failures)
    assert count[0] >= 5, f"{name}: only {count[0]} cases in {budget} s"
    return count[0]


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    """Real files to mutate: two photos, a ground truth, the bundled model, a codebook."""
    from engine.match.codebook import Codebook
    from resources import resource_path

    d = tmp_path_factory.mktemp("seeds")
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


def test_fuzz_photos(seeds, tmp_path):
    from engine.match.describe import local_features
    from engine.photo.decode import load_photo

    originals = [(seeds / n).read_bytes() for n in ("p.jpg", "p.png")]

    def case(rng, i):
        data = _mutate(rng, originals[i % 2]) if i % 5 else rng.bytes(int(rng.integers(0, 300)))
        path = tmp_path / f"c{i % 2}.{'jpg' if i % 2 == 0 else 'png'}"
        path.write_bytes(data)
        load_photo(path, 256)
        if i % 3 == 0:
            local_features(data)

    _fuzz("photo", 1, case)


def test_fuzz_ground_truth(seeds, tmp_path):
    from engine.evaluation.revisitop import load_ground_truth

    original = (seeds / "gnd_x.pkl").read_bytes()
    truth = pickle.loads(original)

    def case(rng, i):
        path = tmp_path / "gnd_f.pkl"
        if i % 3 == 0:  # plain data of the wrong shape, pickled properly
            wild = _mutate_json(rng, json.loads(json.dumps(truth, default=lambda a: a.tolist())))
            path.write_bytes(pickle.dumps(wild, protocol=int(rng.integers(2, 6))))
        else:
            path.write_bytes(_mutate(rng, original) if i % 7 else rng.bytes(200))
        load_ground_truth(path)

    _fuzz("ground truth", 2, case)


def test_fuzz_checkpoint_configs(seeds, tmp_path):
    from engine.network.checkpoint import read_config
    from engine.network.files import checkpoint_config, checkpoint_extra

    d = tmp_path / "model"
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

    _fuzz("config", 3, case)


def test_fuzz_checkpoint_weights(seeds, tmp_path):
    from engine.network.files import fingerprint_from_files, weights_layout

    d = tmp_path / "model"
    shutil.copytree(seeds / "model", d)
    original = (seeds / "model" / "model.safetensors").read_bytes()
    head = int.from_bytes(original[:8], "little") + 8

    def case(rng, i):
        # mutate the header (where a reader can go wrong) and keep the tensors after it
        (d / "model.safetensors").write_bytes(_mutate(rng, original[:head]) + original[head:])
        weights_layout(d)
        if i % 4 == 0:
            fingerprint_from_files(d)

    _fuzz("weights", 4, case)


def test_fuzz_codebooks(seeds, tmp_path):
    from engine.match.codebook import Codebook

    original = (seeds / "book.safetensors").read_bytes()

    def case(rng, i):
        path = tmp_path / "book.safetensors"
        path.write_bytes(_mutate(rng, original) if i % 6 else rng.bytes(100))
        book = Codebook.load(path)
        book.assign(np.zeros((2, 128), np.float32))

    _fuzz("codebook", 5, case)


def test_fuzz_lists_and_codebook_info_through_the_command_line(seeds, tmp_path, capsys):
    """Through ``main``: a bad file is exit 1 with one short line, never exit 3."""
    from engine.cli.entry import main
    from engine.training.data import read_exclusions

    book = (seeds / "book.safetensors").read_bytes()

    def case(rng, i):
        path = tmp_path / "f.bin"
        path.write_bytes(_mutate(rng, book) if i % 2 else rng.bytes(int(rng.integers(0, 500))))
        read_exclusions(path)
        capsys.readouterr()
        code = main(["codebook", "info", str(path)])
        err = capsys.readouterr().err
        if code != 0:
            assert code == 1 and err.count("\n") == 1 and len(err) <= 501, (code, err)

    _fuzz("cli", 6, case)


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
