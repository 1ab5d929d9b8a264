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
for _var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
    os.makedirs(os.environ[_var], exist_ok=True)

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True)
def _garbage_collected_on_the_gui_thread(request):
    """A test with Qt runs as the window does: the garbage collector runs on the GUI thread
    only, so no Qt object is freed by a worker thread that happened to trigger a collection."""
    if "qtbot" not in request.fixturenames:
        yield
        return
    from app.collector import MainThreadCollector

    collector = MainThreadCollector(request.getfixturevalue("qapp"))
    yield
    collector.stop()
    import gc

    gc.collect()


@pytest.fixture
def scene_jpeg(tmp_path):
    """A small generated JPEG scene with one known object; returns (path, box)."""
    from engine.training.generator import render_scene

    img, placements = render_scene([3], seed=7, size=(320, 240))
    path = tmp_path / "scene.jpg"
    img.save(path, quality=90)
    return path, placements[0].box


@pytest.fixture(scope="session")
def tiny_models():
    """One small untrained model per architecture (ResNet-18 backbone), built once."""
    from engine.network.config import ModelConfig
    from engine.network.models import create_model, list_models

    return {
        name: create_model(
            ModelConfig(
                architecture=name, backbone="resnet18", image_size=128, pretrained="none"
            ).resolved()
        ).eval()
        for name in list_models()
    }


@pytest.fixture(scope="session")
def _photo_template(tmp_path_factory):
    """12 generated photos (4 objects x 3 views) in two sub-folders, made once per session."""
    from engine.training.generator import render_scene

    root = tmp_path_factory.mktemp("photos-template")
    for ident in range(4):
        for view in range(3):
            sub = root / ("trips" if view < 2 else "home")
            sub.mkdir(exist_ok=True)
            img, _ = render_scene([ident], seed=50 * ident + view, size=(128, 96))
            img.save(sub / f"obj{ident}_{view}.jpg", quality=90)
    return root


@pytest.fixture
def photos(tmp_path, _photo_template):
    """A fresh copy of the generated photo folder for one test."""
    import shutil

    dst = tmp_path / "photos"
    shutil.copytree(_photo_template, dst)
    return dst


@pytest.fixture
def library(tmp_path):
    from engine.library import Library

    lib = Library(tmp_path / "lib", device="cpu")
    yield lib
    lib.close()
