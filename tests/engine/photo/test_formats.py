"""The photos people actually have: HEIC from phones and RAW files from cameras, decoded
upright and indexed; a RAW file without the optional ``raw`` extra fails with a reason that
names the extra."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from engine.cli import main
from engine.photo.decode import HEIF_SUPPORTED, load_photo
from engine.photo.formats import is_photo_name
from engine.photo.raw import NEEDS_EXTRA
from tests.helpers import MODEL, ROOT, STORE_OP
from tests.photo_files import two_colour, write_dng


def _red(px) -> bool:
    return px[0] > 150 and px[2] < 100


def _blue(px) -> bool:
    return px[2] > 150 and px[0] < 100


def _upright_two_colour(photo) -> bool:
    w, h = photo.image.size
    return _red(photo.image.getpixel((2, h // 2))) and _blue(photo.image.getpixel((w - 3, h // 2)))


def write_heic(path: Path, upright: Image.Image, orientation: int) -> Path:
    """Stored the way a phone does: pixels as the sensor saw them plus the EXIF orientation
    that turns them upright, written by pillow-heif (the product decodes them with pi-heif,
    its decoder-only build)."""
    import pillow_heif

    stored = upright if orientation == 1 else upright.transpose(STORE_OP[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    pillow_heif.from_pillow(stored).save(path, quality=90, exif=exif.tobytes())
    return path


def test_heic_is_a_regular_dependency_and_decodes_upright(tmp_path):
    assert HEIF_SUPPORTED
    for orientation in (1, 6, 8, 3):
        path = write_heic(tmp_path / f"phone{orientation}.heic", two_colour(96, 64), orientation)
        photo = load_photo(path, max_side=None)
        assert photo.image.size == (96, 64), orientation
        assert photo.original_size == (96, 64)
        assert _upright_two_colour(photo), orientation
        assert photo.notes == []


def test_raw_extensions_are_photos():
    for name in (b"a.dng", b"b.CR2", b"c.nef", b"d.ARW", b"e.cr3"):
        assert is_photo_name(name)


def test_dng_is_decoded_through_its_embedded_preview(tmp_path):
    pytest.importorskip("rawpy")
    path = write_dng(tmp_path / "camera.dng", two_colour(96, 64), orientation=6)
    photo = load_photo(path, max_side=None)
    # orientation 6: the camera was turned; the upright preview is portrait
    assert photo.image.size == (64, 96) and photo.original_size == (64, 96)
    assert _red(photo.image.getpixel((32, 3))) and _blue(photo.image.getpixel((32, 92)))
    flat = load_photo(write_dng(tmp_path / "flat.dng", two_colour(96, 64)), max_side=48)
    assert flat.image.size == (48, 32) and _upright_two_colour(flat)


def test_heic_and_raw_photos_are_indexed(tmp_path, capsys):
    pytest.importorskip("rawpy")
    folder = tmp_path / "camera"
    folder.mkdir()
    write_heic(folder / "IMG_0001.HEIC", two_colour(96, 64), 6)
    write_dng(folder / "IMG_0002.DNG", two_colour(96, 64), orientation=8)
    two_colour(96, 64).save(folder / "IMG_0003.JPG", quality=90)
    lib = str(tmp_path / "lib")
    assert main(["index", str(folder), "--library", lib, "--model", MODEL, "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert (s["indexed"], s["failed"]) == (3, 0)
    assert main(["errors", "--library", lib, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_raw_without_the_extra_fails_with_the_reason_naming_it(tmp_path):
    # a Python path on which `import rawpy` fails, as on an install without the extra
    blocker = tmp_path / "no-raw-extra" / "rawpy"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('No module named rawpy')\n")
    folder = tmp_path / "camera"
    folder.mkdir()
    write_dng(folder / "IMG_0002.dng", two_colour(96, 64))
    (folder / "IMG_0003.NEF").write_bytes(b"any bytes: the extra is asked for before reading")
    two_colour(96, 64).save(folder / "IMG_0004.jpg", quality=90)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(blocker.parent), str(ROOT)])
    lib = str(tmp_path / "lib")

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "engine", *args, "--library", lib],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )

    proc = cli("index", str(folder), "--model", MODEL, "--json")
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    assert (s["indexed"], s["failed"]) == (1, 2)
    proc = cli("errors", "--json")
    assert proc.returncode == 0, proc.stderr
    reasons = {Path(r["path"]).name: r["reason"] for r in json.loads(proc.stdout)}
    assert reasons == {"IMG_0002.dng": NEEDS_EXTRA, "IMG_0003.NEF": NEEDS_EXTRA}
    assert "pip install visual-search[raw]" in NEEDS_EXTRA
