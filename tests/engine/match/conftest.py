"""Fixtures of the local-feature tests: generated scenes of two objects each, and the check
that a codebook finds and verifies a rotated copy of one of them."""

from __future__ import annotations

import pytest

from engine.match import InvertedFile, encode, encode_query, local_features, verify_code
from engine.training.generator import render_scene


@pytest.fixture(scope="module")
def scenes():
    """Six 480×360 scenes, scene i holding objects i and 100 + i."""
    return [render_scene([i, 100 + i], seed=i, size=(480, 360))[0] for i in range(6)]


def rotated_copy_found(book, scenes):
    """Scene 3 turned 30° as the query of an inverted file of the scenes' codes under
    ``book``: it must rank scene 3 first, clearly; returns the verification against it (and
    the query, the codes) for the caller's own checks."""
    codes = [encode(local_features(im), book) for im in scenes]
    ivf = InvertedFile.build(book.size, [(10 + i, c.words, c.bits) for i, c in enumerate(codes)])
    q = scenes[3].rotate(30, expand=True, fillcolor=(128, 128, 128))
    qf = local_features(q)
    qc = encode_query(qf, book)
    D, I = ivf.search(qc.words, qc.bits, 3)
    assert I[0] == 13 and D[0] > D[1]
    v = verify_code(qc.assign, qf.kp, (0, 0, q.width, q.height), codes[3], (480, 360))
    assert v.verified and v.inliers >= 30
    return v, (q, qf, qc), codes
