"""Learning from a library without labels: mining finds the planted repeated objects (and never
pairs two different ones), a short run on the mined pairs raises the global model's recall of
held-out verified matches, cancel and SIGKILL resume exactly, and a library with too few
verified pairs says so with its counts."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine.cli import main as cli_main
from engine.cli.entry import EXIT_BAD_INPUT
from engine.library import Library
from engine.library.improve.mining import NotEnoughPairs, mine, require_enough
from engine.library.improve.training import improve_model, starting_config
from engine.training.mined import MinedData, MinedSet
from tests.engine.library.improve.planted import OBJECTS, VIEWS
from tests.helpers import MODEL, ROOT, kill_mid_epoch


def _object_of(path: str) -> str:
    """The planted object a photo shows: objN_V.jpg and objN_copy.jpg show object N."""
    return re.match(r"(obj\d+|single\d+)", Path(path).name).group(1)


def _library_copy(planted, tmp_path) -> Path:
    shutil.copytree(planted / "lib", tmp_path / "lib")
    return tmp_path / "lib"


def test_mining_finds_the_planted_pairs_and_never_pairs_different_objects(planted, tmp_path):
    with Library(_library_copy(planted, tmp_path), device="cpu") as lib:
        mined = mine(lib, model=MODEL, seed=0, hold_out=0.5)
    names = [p["path"] for p in mined.photos]
    pairs = {tuple(sorted((names[a], names[b]))) for a, b, _ in mined.pairs}
    assert pairs and all(_object_of(a) == _object_of(b) for a, b in pairs)  # precision 1
    planted_pairs = {
        (str(planted / "photos" / f"obj{i}_{u}.jpg"), str(planted / "photos" / f"obj{i}_{v}.jpg"))
        for i in range(OBJECTS)
        for u in range(VIEWS)
        for v in range(u + 1, VIEWS)
    }
    recall = len(pairs & planted_pairs) / len(planted_pairs)
    print(f"planted pairs found: {len(pairs & planted_pairs)}/{len(planted_pairs)}")
    assert recall >= 0.75  # 20 of 24 seen
    # the copy is a near-duplicate of its photo: kept apart, never a positive
    dup = tuple(
        sorted((str(planted / "photos" / "obj2_0.jpg"), str(planted / "photos" / "obj2_copy.jpg")))
    )
    near = {tuple(sorted((names[a], names[b]))) for a, b, _ in mined.near_duplicates}
    assert dup in near and dup not in pairs
    for c in mined.classes:  # each pseudo-class is one object
        assert len({_object_of(names[m]) for m in c}) == 1
    assert not any(_object_of(names[m]).startswith("single") for c in mined.classes for m in c)
    in_class = {m: k for k, c in enumerate(mined.classes) for m in c}
    linked = mined.linked()
    for a, negs in mined.negatives.items():
        for b in negs:  # a negative is never of the class nor a verified match
            assert in_class.get(b) != in_class[a] and (min(a, b), max(a, b)) not in linked
    c = mined.counts
    assert c["pairs"] == len(mined.pairs) and c["classes"] == len(mined.classes)
    assert c["held_out_photos"] == len(mined.held_out) >= 2
    # on disk as readable JSON, and back
    path = mined.save(tmp_path / "mined.json")
    on_disk = json.loads(path.read_text())
    assert on_disk["counts"] == c and on_disk["photos"][0]["path"] == names[0]
    again = MinedSet.load(path)
    assert again.pairs == mined.pairs and again.negatives == mined.negatives
    data = MinedData(again)
    held = set(again.held_out)
    assert not held & {m for ms in data.members for m in ms}  # never trained on
    batches = data.epoch_batches(0, 8, 0, {})
    assert batches and all(len(b) <= 8 for b in batches)


def _mined_cfg(epochs=3, **kw):
    return starting_config(
        "default",
        epochs=epochs,
        batch_size=12,
        image_size=160,
        lr=1e-4,
        optimizer="adamw",
        workers=0,
        device="cpu",
        warmup_epochs=0.0,
        **kw,
    )


def test_a_short_run_raises_the_recall_of_held_out_verified_matches(planted, tmp_path):
    from engine.training.config import MinedConfig

    with Library(_library_copy(planted, tmp_path), device="cpu") as lib:
        figures = improve_model(
            lib,
            tmp_path / "run",
            _mined_cfg(epochs=4, mined=MinedConfig(loss="contrastive")),
            model=MODEL,
            hold_out=0.5,
        )
    before, after = figures["before"]["recall@10"], figures["after"]["recall@10"]
    print(f"recall@10 of held-out verified matches: {before:.3f} -> {after:.3f}")
    assert figures["after"]["queries"] >= 2
    assert after >= before + 0.1  # seen: 0.75 -> 1.0 with this seed
    saved = json.loads((tmp_path / "run" / "improve.json").read_text())
    assert saved["after"] == figures["after"] and saved["mined"]["pairs"] > 10
    assert (tmp_path / "run" / "negatives-3.json").exists()  # refreshed every epoch


def _weights(out):
    from safetensors.torch import load_file

    return load_file(str(out / "model" / "model.safetensors"))


def test_cancel_then_resume_continues_exactly(planted, tmp_path):
    from engine.training.trainer import Trainer

    with Library(_library_copy(planted, tmp_path), device="cpu") as lib:
        mined = mine(lib, model=MODEL, seed=0, hold_out=0.5)
    data = MinedData(mined)
    cfg = _mined_cfg(epochs=2)
    Trainer(cfg, data, tmp_path / "full").run()
    steps: list[int] = []
    Trainer(cfg, data, tmp_path / "resumed").run(
        progress=lambda done, total, message: steps.append(done),
        # mid-epoch 2 (10 steps an epoch); between steps, progress also says what the run
        # does (choosing negatives, measuring) at the steps done so far
        should_stop=lambda: max(steps, default=0) >= 13,
    )
    state = json.loads((tmp_path / "resumed" / "state.json").read_text())
    assert (state["epoch"], state["step"]) == (1, 3)
    res = Trainer(cfg, data, tmp_path / "resumed").run(resume=True)
    assert len(res.history) == 2
    wf, wr = _weights(tmp_path / "full"), _weights(tmp_path / "resumed")
    for k in wf:
        assert torch.allclose(wf[k].float(), wr[k].float(), atol=1e-5), k


def test_sigkill_mid_run_then_resume_from_the_cli(planted, tmp_path):
    lib = _library_copy(planted, tmp_path)
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "engine",
        "train",
        "library",
        "--library",
        str(lib),
        "--out",
        str(out),
        "--epochs",
        "2",
        "--batch-size",
        "12",
        "--image-size",
        "128",
        "--workers",
        "0",
        "--device",
        "cpu",
        "--hold-out",
        "0.5",
        "--checkpoint-minutes",
        "0",
        "--json",
    ]
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    state = out / "state.json"
    assert kill_mid_epoch(p, state)["step"] > 0  # killed mid-epoch
    mined_before = (out / "mined.json").read_text()
    done = subprocess.run([*cmd, "--resume"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["epochs"] == 2 and "after" in figures and "before" in figures
    assert (out / "mined.json").read_text() == mined_before  # the same mined set
    assert json.loads(state.read_text())["epoch"] == 2


def test_too_few_verified_pairs_is_a_clear_message_with_the_counts(photos, tmp_path, capsys):
    with Library(tmp_path / "lib", device="cpu") as lib:
        lib.index([photos], model=MODEL)
        mined = mine(lib, model=MODEL)
        with pytest.raises(NotEnoughPairs) as err:
            require_enough(mined)
    message = str(err.value)
    assert "too few verified matches to train on" in message
    assert f"{mined.counts['pairs']} pairs" in message and "photos" in message
    code = cli_main(
        ["train", "library", "--library", str(tmp_path / "lib"), "--out", str(tmp_path / "o")]
    )
    assert code == EXIT_BAD_INPUT
    err_text = capsys.readouterr().err
    assert "too few verified matches to train on" in err_text and len(err_text.splitlines()) <= 2
    assert not (tmp_path / "o" / "model").exists()  # no silent empty run


def _cancel_once(planted, tmp_path, prefix: str):
    """A 2-epoch mined run cancelled as soon as a progress message starts with ``prefix``:
    the trainer, data and config to resume with, the result, and the messages heard."""
    from engine.training.trainer import Trainer

    with Library(_library_copy(planted, tmp_path), device="cpu") as lib:
        mined = mine(lib, model=MODEL, seed=0, hold_out=0.5)
    data, cfg = MinedData(mined), _mined_cfg(epochs=2)
    messages: list[str] = []
    res = Trainer(cfg, data, tmp_path / "run").run(
        progress=lambda done, total, message: messages.append(message),
        should_stop=lambda: any(m.startswith(prefix) for m in messages),
    )
    assert res.cancelled and len(res.history) == 1
    assert sum(m.startswith(prefix) for m in messages) == 1  # stopped at the next photo
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert (state["epoch"], state["step"]) == (1, 0)  # the finished epoch is what was saved
    return lambda: Trainer(cfg, data, tmp_path / "run").run(resume=True), res


def test_cancel_while_measuring_the_held_out_photos_stops_there(planted, tmp_path):
    """Cancel during the held-out measuring at an epoch's end ends the measuring at the next
    photo (its figure NaN) and the run right after, with the epoch saved; resume goes on."""
    resume, res = _cancel_once(
        planted, tmp_path, "measuring the model being trained on the held-out photos"
    )
    assert math.isnan(res.history[0]["val_accuracy"])
    again = resume()
    assert len(again.history) == 2 and not again.cancelled
    assert not math.isnan(again.history[1]["val_accuracy"])


def test_cancel_while_choosing_hard_negatives_keeps_the_last_epoch(planted, tmp_path):
    """Cancel while the next epoch's hard negatives are being chosen (every training photo
    described by the model being trained): the run stops there, the finished epoch is what
    was saved, nothing of the half-chosen negatives is kept; resume chooses them again."""
    resume, _ = _cancel_once(planted, tmp_path, "epoch 2: choosing hard negatives")
    assert (tmp_path / "run" / "negatives-0.json").exists()
    assert not (tmp_path / "run" / "negatives-1.json").exists()
    again = resume()
    assert len(again.history) == 2 and not again.cancelled
    assert (tmp_path / "run" / "negatives-1.json").exists()
