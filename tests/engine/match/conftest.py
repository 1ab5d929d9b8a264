"""Fixtures of the local-feature tests: generated scenes of two objects each."""

from __future__ import annotations

import pytest

from engine.training.generator import render_scene


@pytest.fixture(scope="module")
def scenes():
    """Six 480×360 scenes, scene i holding objects i and 100 + i."""
    return [render_scene([i, 100 + i], seed=i, size=(480, 360))[0] for i in range(6)]
