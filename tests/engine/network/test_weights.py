"""``--self-test`` on the bundled samples, and the ImageNet weight download against a local
HTTP server (never the internet)."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from engine.network.weights import DownloadError, download
from tests.helpers import ROOT


def test_self_test_passes_from_a_fresh_process(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-m", "app", "--self-test"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["ok"] and out["top"] == out["expected"] == "obj00_1.jpg"
    assert out["indexed"] == 12 and out["failed"] == 0


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    payload = os.urandom(200_000)
    digest = hashlib.sha256(payload).hexdigest()
    (root / f"resnet18-{digest[:8]}.pth").write_bytes(payload)
    (root / "resnet18-deadbeef.pth").write_bytes(payload)  # a name whose hash is wrong

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(root), **k)

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", digest, payload
    httpd.shutdown()
    httpd.server_close()


def test_matching_hash_is_stored(server, tmp_path):
    base, digest, payload = server
    seen = []
    path = download(
        f"{base}/resnet18-{digest[:8]}.pth",
        dest_dir=tmp_path / "w",
        progress=lambda d, t, m: seen.append((d, t)),
    )
    assert path.read_bytes() == payload
    assert seen[-1] == (len(payload), len(payload))
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == [path.name]


def test_mismatching_hash_is_refused_and_nothing_left_behind(server, tmp_path):
    base, _, _ = server
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download(f"{base}/resnet18-deadbeef.pth", dest_dir=tmp_path / "w")
    assert list((tmp_path / "w").iterdir()) == []


def test_server_gone_gives_a_clear_message(server, tmp_path):
    base, digest, _ = server
    with pytest.raises(DownloadError, match="answered 404"):
        download(
            f"{base}/resnet18-{digest[:8]}.missing.pth", dest_dir=tmp_path / "w", sha256=digest
        )
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there any more
    with pytest.raises(DownloadError, match=r"cannot reach the server.*offline"):
        download(
            f"http://127.0.0.1:{port}/resnet18-{digest[:8]}.pth", dest_dir=tmp_path / "w", timeout=5
        )
    assert list((tmp_path / "w").iterdir()) == []


def test_downloaded_weights_are_used_by_the_backbone(tmp_path, monkeypatch):
    import torch
    import torchvision

    from engine.network.models.backbones import ResNetBackbone, stored_weights_path

    monkeypatch.setenv("VISUAL_SEARCH_HOME", str(tmp_path / "home"))
    ref = torchvision.models.resnet18(weights=None)
    target = stored_weights_path("resnet18")
    target.parent.mkdir(parents=True)
    torch.save(ref.state_dict(), target)
    bb = ResNetBackbone("resnet18", pretrained="cache")
    assert bb.loaded_imagenet
    assert torch.equal(bb.layer2[0].conv1.weight, ref.layer2[0].conv1.weight)
    assert not ResNetBackbone("resnet18", pretrained="none").loaded_imagenet


def test_gui_download_action(server, qtbot, tmp_path, monkeypatch):
    from app.gui import MainWindow
    from engine.library import Library

    monkeypatch.setenv("VISUAL_SEARCH_HOME", str(tmp_path / "home"))
    base, digest, payload = server
    lib = Library(tmp_path / "lib", device="cpu")
    win = MainWindow(lib)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.weights_downloaded, timeout=60_000) as got:
        win.download_weights(url=f"{base}/resnet18-{digest[:8]}.pth")
    assert Path(got.args[0]).read_bytes() == payload
    assert str(tmp_path / "home" / "imagenet") in got.args[0]
    with qtbot.waitSignal(win.error_shown, timeout=60_000) as err:
        win.download_weights(url=f"{base}/resnet18-deadbeef.pth")
    assert "checksum mismatch" in err.args[0]
    win.shutdown()
    lib.close()
