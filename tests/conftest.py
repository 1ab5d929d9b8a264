"""Test fixtures: every test runs against temporary data and cache directories."""

from __future__ import annotations

import os
import tempfile

# Set before anything imports torch or Qt: never read or write the user's real dirs.
_SESSION_HOME = tempfile.mkdtemp(prefix="vs-test-home-")
os.environ["VISUAL_SEARCH_HOME"] = os.path.join(_SESSION_HOME, "home")
os.environ["TORCH_HOME"] = os.path.join(_SESSION_HOME, "torch")
os.environ["XDG_CONFIG_HOME"] = os.path.join(_SESSION_HOME, "config")
os.environ["XDG_CACHE_HOME"] = os.path.join(_SESSION_HOME, "cache")
os.environ["XDG_DATA_HOME"] = os.path.join(_SESSION_HOME, "data")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def scene_jpeg(tmp_path):
    """A small generated JPEG scene with one known object; returns (path, box)."""
    from engine.synth import render_scene

    img, placements = render_scene([3], seed=7, size=(320, 240))
    path = tmp_path / "scene.jpg"
    img.save(path, quality=90)
    return path, placements[0].box


@pytest.fixture(scope="session")
def tiny_models():
    """One small untrained model per architecture (ResNet-18 backbone), built once."""
    from engine.config import ModelConfig
    from engine.models import create_model, list_models

    return {
        name: create_model(
            ModelConfig(
                architecture=name, backbone="resnet18", image_size=128, pretrained="none"
            ).resolved()
        ).eval()
        for name in list_models()
    }
