"""Damaged EXIF metadata: Pillow's warnings never reach stderr; the photo is indexed upright
and the damage is kept as its note, shown by ``errors``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

from PIL import Image

from engine.photo.decode import load_photo
from tests.helpers import MODEL, ROOT
from tests.photo_files import two_colour, write_jpeg_with_corrupt_exif

NOTE = "damaged EXIF metadata ignored (Truncated File Read)"


def test_the_warning_becomes_a_note_and_the_orientation_still_applies(tmp_path):
    path = write_jpeg_with_corrupt_exif(tmp_path / "cam.jpg", two_colour(96, 64), orientation=6)
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        photo = load_photo(path, max_side=None)
        again = load_photo(path, max_side=None)
    assert [str(w.message) for w in shown] == []
    assert photo.notes == [NOTE] and again.notes == [NOTE]
    assert photo.image.size == (96, 64)
    assert photo.image.getpixel((3, 32))[0] > 150  # red on the left: turned upright


def test_the_extractor_carries_the_note(tmp_path):
    from engine.network.checkpoint import resolve_model
    from engine.network.extract import Extractor

    path = write_jpeg_with_corrupt_exif(tmp_path / "cam.jpg", two_colour(96, 64))
    ex = Extractor(resolve_model(MODEL, pretrained="none"), device="cpu", precision="fp32")
    assert ex.prepare(path).notes == [NOTE]
    assert ex.extract_one(path).notes == [NOTE]


def test_indexing_keeps_stderr_clean_and_errors_shows_the_note(tmp_path):
    folder = tmp_path / "camera"
    folder.mkdir()
    # a photo with detail (a flat one is "too little detail to search"), and its copy whose
    # EXIF is damaged and says "turned 180°"
    with Image.open(ROOT / "resources" / "samples" / "obj00_0.jpg") as im:
        photo = im.convert("RGB")
    damaged = write_jpeg_with_corrupt_exif(folder / "damaged.jpg", photo, 3)
    photo.save(folder / "fine.jpg", quality=90)
    lib = str(tmp_path / "lib")

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "engine", *args, "--library", lib, "--json"],
            cwd=ROOT,
            env={**os.environ, "PYTHONWARNINGS": "default"},
            capture_output=True,
            text=True,
            timeout=600,
        )

    proc = cli("index", str(folder), "--model", MODEL)
    assert proc.returncode == 0, proc.stderr
    assert "Truncated" not in proc.stderr and "EXIF" not in proc.stderr, proc.stderr
    assert "UserWarning" not in proc.stderr and "TiffImagePlugin" not in proc.stderr
    s = json.loads(proc.stdout)
    assert (s["indexed"], s["failed"]) == (2, 0)
    proc = cli("errors")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [(Path(r["path"]).name, r["reason"]) for r in rows] == [
        (damaged.name, f"indexed; {NOTE}")
    ]
    # indexed for real: a search from the other photo finds it; a damaged query stays quiet
    proc = cli("search", str(folder / "fine.jpg"), "-k", "5")
    assert proc.returncode == 0, proc.stderr
    assert str(damaged) in [r["path"] for r in json.loads(proc.stdout)["results"]]
    proc = cli("search", str(damaged), "-k", "5")
    assert proc.returncode == 0, proc.stderr
    assert "Truncated" not in proc.stderr and "UserWarning" not in proc.stderr
