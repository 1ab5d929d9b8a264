"""The Revisited Oxford/Paris scorer on hand-made rankings, and the safe gnd loader."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from engine.evaluation.revisitop import (
    GroundTruth,
    GroundTruthError,
    average_precision,
    evaluate_ranking,
    leave_one_out_map,
    load_ground_truth,
    safe_load_pickle,
    score_ranking,
)


def _gt(n=10):
    # query 0: easy {0, 1}, hard {2}, junk {3}; query 1: no easy, hard {4}; query 2: nothing
    gnd = [
        {
            "bbx": [0, 0, 10, 10],
            "easy": np.array([0, 1]),
            "hard": np.array([2]),
            "junk": np.array([3]),
        },
        {"bbx": None, "easy": np.array([], int), "hard": np.array([4]), "junk": np.array([], int)},
        {"bbx": None, "easy": np.array([], int), "hard": np.array([], int), "junk": np.array([5])},
    ]
    return GroundTruth([f"db{i}" for i in range(n)], ["q0", "q1", "q2"], gnd)


def test_perfect_ranking_scores_one():
    ranking = np.array([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]])
    truth = [(np.array([0, 1, 2]), np.array([], int))]
    s = score_ranking(ranking, truth)
    assert s["mAP"] == pytest.approx(1.0) and s["mP@1"] == 1.0 and s["mP@5"] == 1.0


def test_reversed_ranking():
    ranking = np.array([[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]])
    truth = [(np.array([0]), np.array([], int))]
    # the single positive last, at 0-based rank r = 9: AP = (0/r + 1/(r + 1)) / 2
    expected = (0 / 9 + 1 / 10) / 2
    assert score_ranking(ranking, truth)["mAP"] == pytest.approx(expected)
    assert average_precision(np.array([9]), 1) == pytest.approx(expected)


def test_junk_is_removed_from_the_ranking():
    truth = [(np.array([1]), np.array([0]))]
    with_junk_first = np.array([[0, 1, 2, 3]])
    assert score_ranking(with_junk_first, truth)["mAP"] == pytest.approx(1.0)
    no_junk = [(np.array([1]), np.array([], int))]
    assert score_ranking(with_junk_first, no_junk)["mAP"] == pytest.approx((0 + 0.5) / 2)


def test_queries_without_positives_are_skipped():
    gt = _gt()
    ranking = np.tile(np.arange(10), (3, 1))
    res = evaluate_ranking(ranking, gt)
    assert res["E"]["queries"] == 1  # only query 0 has easy positives
    assert res["M"]["queries"] == 2 and res["H"]["queries"] == 2
    # E: positives {0, 1}, junk {3, 2}: perfect
    assert res["E"]["mAP"] == 100.0


def test_protocol_definitions():
    gt = _gt()
    (e_pos, e_junk), (m_pos, m_junk), (h_pos, h_junk) = (gt.protocol(p)[0] for p in "EMH")
    assert set(e_pos) == {0, 1} and set(e_junk) == {3, 2}
    assert set(m_pos) == {0, 1, 2} and set(m_junk) == {3}
    assert set(h_pos) == {2} and set(h_junk) == {3, 0, 1}


def test_mp_at_k_caps_k_at_the_last_positive():
    ranking = np.array([[0, 1, 9, 8, 7, 6, 5, 4, 3, 2]])
    truth = [(np.array([0, 1]), np.array([], int))]
    s = score_ranking(ranking, truth)
    # both positives in the top 2: P@5 and P@10 count over k = 2, not 5 or 10
    assert s["mP@5"] == 1.0 and s["mP@10"] == 1.0
    ranking2 = np.array([[0, 9, 8, 1, 7, 6, 5, 4, 3, 2]])
    s2 = score_ranking(ranking2, truth)
    assert s2["mP@1"] == 1.0
    assert s2["mP@5"] == pytest.approx(2 / 4)  # last positive at rank 4: k capped to 4


def test_leave_one_out_map():
    x = np.array([[1, 0], [0.99, 0.14], [0, 1], [0.1, 0.99]], np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    assert leave_one_out_map(x, np.array([0, 0, 1, 1])) == pytest.approx(1.0)
    assert leave_one_out_map(x, np.array([0, 1, 0, 1])) < 0.6


def _write(path, obj):
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def test_loader_reads_revisitop_structure(tmp_path):
    p = tmp_path / "gnd_mini.pkl"
    _write(
        p,
        {
            "imlist": ["a", "b", "c"],
            "qimlist": ["q"],
            "gnd": [
                {"bbx": np.array([1.0, 2, 3, 4]), "easy": np.array([0]), "hard": [2], "junk": []}
            ],
        },
    )
    gt = load_ground_truth(p)
    assert gt.name == "mini" and gt.gnd[0]["bbx"] == [1.0, 2.0, 3.0, 4.0]
    assert list(gt.gnd[0]["hard"]) == [2]


class Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /dev/null",))


def test_loader_refuses_code_and_bad_structure(tmp_path):
    p = tmp_path / "gnd_evil.pkl"
    _write(p, {"imlist": [], "qimlist": [], "gnd": [], "x": Evil()})
    with pytest.raises(GroundTruthError, match="refused to load"):
        load_ground_truth(p)
    with pytest.raises(GroundTruthError):
        safe_load_pickle(pickle.dumps(Evil()))
    bad = tmp_path / "gnd_bad.pkl"
    _write(bad, {"imlist": ["a"], "qimlist": ["q"], "gnd": [{"easy": [5], "hard": [], "junk": []}]})
    with pytest.raises(GroundTruthError, match="outside imlist"):
        load_ground_truth(bad)
    (tmp_path / "gnd_text.pkl").write_text("hello")
    with pytest.raises(GroundTruthError, match="not a readable"):
        load_ground_truth(tmp_path / "gnd_text.pkl")
    _write(tmp_path / "gnd_list.pkl", [1, 2, 3])
    with pytest.raises(GroundTruthError, match="expected a dict"):
        load_ground_truth(tmp_path / "gnd_list.pkl")
