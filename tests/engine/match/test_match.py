"""Local features: RootSIFT, the codebook artifact, ASMK* codes, the inverted file, verification."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engine.match import (
    Codebook,
    CodebookError,
    DescribeSettings,
    InvertedFile,
    LocalCode,
    encode,
    encode_query,
    local_features,
    rootsift,
    train_codebook,
    verify_code,
)
from engine.match.describe import features_from_gray
from engine.training.generator import render_scene
from tests.engine.match.conftest import rotated_copy_found


@pytest.fixture(scope="module")
def book(scenes):
    desc = np.concatenate([local_features(im).desc for im in scenes])
    return train_codebook(desc, 256, seed=0)


def test_rootsift_is_l1_then_sqrt_and_unit_l2():
    rng = np.random.default_rng(0)
    sift = rng.integers(0, 200, (50, 128)).astype(np.float32)
    r = rootsift(sift)
    np.testing.assert_allclose(r, np.sqrt(sift / sift.sum(1, keepdims=True)), rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(r, axis=1), 1.0, rtol=1e-5)


def test_features_are_rootsift_with_keypoints_in_original_pixels(scenes):
    im = scenes[0]
    f = local_features(im, settings=DescribeSettings(long_side=240))  # decoded at half size
    assert 50 < len(f) <= 1000 and f.kp.shape == (len(f), 4)
    np.testing.assert_allclose(np.linalg.norm(f.desc, axis=1), 1.0, rtol=1e-4)
    assert (f.desc >= 0).all()
    assert f.kp[:, 0].max() > 240 and f.kp[:, 0].max() <= 480  # scaled back to 480 px
    crop = local_features(im, box=(100, 50, 300, 250))
    assert (crop.kp[:, 0] >= 100).all() and (crop.kp[:, 0] <= 300).all()


def test_blank_and_tiny_photos_have_no_features_and_do_not_crash():
    assert len(local_features(Image.new("RGB", (640, 480), (90, 90, 90)))) == 0
    assert len(features_from_gray(np.zeros((8, 8), np.uint8))) == 0
    assert len(local_features(Image.new("RGB", (12, 10), (1, 2, 3)))) == 0


def test_codebook_round_trips_without_pickle(book, tmp_path):
    p = tmp_path / "book.safetensors"
    book.save(p)
    assert b"pickle" not in p.read_bytes()[:200]
    back = Codebook.load(p)
    assert back.fingerprint == book.fingerprint
    np.testing.assert_array_equal(back.centroids, book.centroids)


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda p: p.write_bytes(b""), "not a readable codebook"),
        (lambda p: p.write_bytes(p.read_bytes()[:-100]), "not a readable codebook"),
        (lambda p: p.unlink(), "not found"),
    ],
)
def test_a_damaged_codebook_gives_a_one_line_reason(book, tmp_path, damage, reason):
    p = tmp_path / "book.safetensors"
    book.save(p)
    damage(p)
    with pytest.raises(CodebookError, match=reason) as e:
        Codebook.load(p)
    assert "\n" not in str(e.value)


def test_a_codebook_whose_contents_changed_is_refused(book, tmp_path):
    from safetensors.numpy import save_file

    p = tmp_path / "book.safetensors"
    meta = {"format": "visual-search-codebook", "version": "1", "fingerprint": book.fingerprint}
    save_file({"centroids": book.centroids + 0.01}, str(p), metadata=meta)
    with pytest.raises(CodebookError, match="do not match its fingerprint"):
        Codebook.load(p)


def test_codes_round_trip_through_bytes(book, scenes):
    code = encode(local_features(scenes[1]), book)
    back = LocalCode.from_bytes(*code.to_bytes())
    for a, b in zip(code.to_bytes(), back.to_bytes(), strict=True):
        assert a == b
    assert len(code.words) == len(np.unique(code.fwords))


def test_inverted_file_finds_a_rotated_copy_and_verifies_it(book, scenes):
    v, (q, qf, qc), codes = rotated_copy_found(book, scenes)
    # the query's centre maps to the photo's centre
    centre = v.quad.mean(axis=0)
    assert np.abs(centre - (240, 180)).max() < 15
    other = verify_code(qc.assign, qf.kp, (0, 0, q.width, q.height), codes[0], (480, 360))
    assert not other.verified


def test_inverted_file_removal_and_addition_equal_a_fresh_build(book, scenes):
    codes = [encode(local_features(im), book) for im in scenes]
    items = [(i, c.words, c.bits) for i, c in enumerate(codes)]
    full = InvertedFile.build(book.size, items)
    edited = InvertedFile.build(book.size, items[:4]).without([1]).plus([items[4], items[5]])
    fresh = InvertedFile.build(book.size, [items[0], items[2], items[3], items[4], items[5]])
    qc = encode_query(local_features(scenes[2]), book)
    s1 = dict(zip(*reversed(edited.search(qc.words, qc.bits, 10)), strict=True))
    s2 = dict(zip(*reversed(fresh.search(qc.words, qc.bits, 10)), strict=True))
    assert s1.keys() == s2.keys() and 1 not in s1
    for k in s1:
        assert s1[k] == pytest.approx(s2[k], rel=1e-5)
    assert full.search(qc.words, qc.bits, 1)[1][0] == 2
    back = InvertedFile.from_arrays(edited.arrays())
    np.testing.assert_array_equal(back.img, edited.img)


def test_rank_database_puts_verified_first_and_scores_them_above_one_half():
    from engine.match.rank import rank_database
    from engine.match.verify import Verification

    local = np.array([0.9, 0.5, 0.4, 0.3, 0.0], np.float32)
    checks = {1: Verification(40, 90, True), 3: Verification(15, 50, True)}
    r = rank_database(
        5, "local", None, local, lambda ps: [checks.get(p, Verification.none()) for p in ps], 4
    )
    assert r.order.tolist() == [1, 3, 0, 2, 4] and r.matches == 2
    assert r.score[1] > r.score[3] >= 0.5 > r.score[0] > r.score[2]
    allowed = np.array([True, False, True, True, True])
    r = rank_database(
        5,
        "local",
        None,
        local,
        lambda ps: [checks.get(p, Verification.none()) for p in ps],
        4,
        allowed=allowed,
    )
    assert r.order.tolist()[-1] == 1 and 1 not in r.checks
    g = np.array([0.1, 0.2, 0.3, 0.9, 0.5], np.float32)
    assert rank_database(5, "global", g).order.tolist()[:2] == [3, 4]
    # fusion: the network decides between equal local scores
    flat = np.full(5, 0.2, np.float32)
    assert rank_database(5, "fused", g, flat, global_weight=0.05).order[0] == 3


def test_only_networks_that_learned_from_photos_are_fused(tiny_models, tmp_path):
    from engine.match.rank import learned_from_photos
    from engine.network.checkpoint import load_checkpoint, save_checkpoint

    model = tiny_models["gem"]
    assert not learned_from_photos(model)  # untrained, no ImageNet weights
    save_checkpoint(model, tmp_path / "generated", extra={"classes": 0, "epoch": 1})
    save_checkpoint(model, tmp_path / "labelled", extra={"classes": 12, "epoch": 1})
    assert not learned_from_photos(load_checkpoint(tmp_path / "generated"))
    assert learned_from_photos(load_checkpoint(tmp_path / "labelled"))


def test_inlier_pairs_are_one_to_one_and_count_the_inliers(book, scenes):
    codes = encode(local_features(scenes[4]), book)
    q = scenes[4].resize((400, 300))
    qc = encode_query(local_features(q), book)
    v = verify_code(qc.assign, qc.feats.kp, (0, 0, 400, 300), codes, (480, 360))
    assert v.verified and len(v.q_xy) == len(v.p_xy) == v.inliers
    assert len(np.unique(v.q_xy, axis=0)) == len(np.unique(v.p_xy, axis=0)) == v.inliers


def test_decode_workers_end_when_their_parent_is_killed(tmp_path):
    """SIGKILL gives the pool no time to stop its workers: they notice and end themselves."""
    import os
    import signal
    import subprocess
    import sys
    import time

    code = """
import sys, time
from engine.match.codebook import default_codebook
from engine.match.workers import LocalWorkers
if __name__ == "__main__":
    pool = LocalWorkers(default_codebook(), workers=2)
    for job in [pool.submit(sys.argv[1]) for _ in range(4)]:
        job.result()  # the workers are up
    print(" ".join(str(p) for p in pool._pool._processes), flush=True)
    time.sleep(600)
"""
    photo = tmp_path / "scene.jpg"
    render_scene([1], seed=3, size=(160, 120))[0].save(photo)
    cmd = [sys.executable, "-c", code, str(photo)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    workers = [int(w) for w in p.stdout.readline().split()]
    assert workers and all(_alive(w) for w in workers)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers)


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
