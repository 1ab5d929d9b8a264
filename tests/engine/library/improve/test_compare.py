"""The new model against the model in use: measured on held-out photos with progress (a rate
and the time left) and cancel, never judged better on too few of them."""

from __future__ import annotations

import math

import pytest

from engine.library.improve.training import verdict
from engine.training.mined import MIN_HELD_OUT, MinedSet, held_out_recall, too_few_held_out


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    """3 objects × 3 views; one view of two of them held out (too few to compare)."""
    from engine.training.generator import render_scene

    root = tmp_path_factory.mktemp("held")
    photos = []
    for ident in range(3):
        for view in range(3):
            img, _ = render_scene([ident], seed=10 * ident + view, size=(96, 72))
            path = root / f"o{ident}_{view}.jpg"
            img.save(path, quality=90)
            photos.append({"path": str(path), "width": 96, "height": 72})
    classes = [[3 * i, 3 * i + 1, 3 * i + 2] for i in range(3)]
    pairs = [[a, b, 20] for c in classes for a in c for b in c if a < b]
    return MinedSet(photos, pairs, [], classes, [0, 3], {}, [])


@pytest.fixture(scope="module")
def model():
    from engine.network.config import ModelConfig
    from engine.network.models import create_model

    cfg = ModelConfig(architecture="gem", backbone="resnet18", image_size=64, pretrained="none")
    return create_model(cfg.resolved(), seed=0).eval()


def test_too_few_held_out_photos_say_so_and_why(small_set, model):
    calls = []
    got = held_out_recall(
        model, small_set, 64, progress=lambda d, t, m: calls.append((d, t, m)), what="measuring"
    )
    assert got["queries"] == 2 < MIN_HELD_OUT
    assert got["too_few"] == too_few_held_out(2)
    assert got["too_few"].startswith(
        "too few photos held out to compare the models: 2 with verified matches, at least 5 "
        "are needed, because with fewer one photo alone moves recall@10 by more than 0.2"
    )
    # every photo described is reported, with what is done and a rate (or that it is measured)
    assert [(d, t) for d, t, _ in calls] == [(i, 9) for i in range(1, 10)]
    assert calls[0][2].startswith("measuring: 1/9 photos, ")
    assert all(
        ("photos/s" in m and "left" in m) or m.endswith("measuring the rate") for _, _, m in calls
    )
    v = verdict(got, dict(got))
    assert v == {"better": False, "why": got["too_few"]}


def test_a_stopped_measure_is_marked_and_never_judged(small_set, model):
    seen = []
    got = held_out_recall(
        model,
        small_set,
        64,
        progress=lambda d, t, m: seen.append(d),
        should_stop=lambda: len(seen) >= 3,
    )
    assert got["cancelled"] and math.isnan(got["recall@10"]) and len(seen) == 3
    assert verdict({"recall@10": 0.5, "recall@1": 0.0}, None)["better"] is False


def test_the_verdict_is_better_only_when_the_new_model_finds_more():
    base = {"recall@10": 0.5, "recall@1": 0.2, "queries": 6, "too_few": None}
    assert verdict(base, {**base, "recall@10": 0.6})["better"]
    assert verdict(base, {**base, "recall@1": 0.4})["better"]  # same recall@10, better first
    assert verdict(base, dict(base)) == {
        "better": False,
        "why": "the new model finds as many matches, not more",
    }
    assert not verdict(base, {**base, "recall@10": 0.4})["better"]
