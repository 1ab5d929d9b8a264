"""Robust photo loading: orientation, draft decoding, modes, crops and every bad case."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from engine.errors import BadImageError
from engine.photo.decode import HEIF_SUPPORTED, load_photo
from tests.helpers import png_bomb, save_with_orientation, smooth_photo, truncated_jpeg


def _upright_reference() -> Image.Image:
    """An asymmetric picture: a red block top-left, a blue bar along the bottom."""
    a = np.full((120, 200, 3), 200, np.uint8)
    a[10:50, 10:70] = (220, 20, 20)
    a[100:115, :] = (20, 20, 220)
    return Image.fromarray(a, "RGB")


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_gives_the_upright_photo(tmp_path, orientation):
    ref = _upright_reference()
    path = tmp_path / f"o{orientation}.jpg"
    save_with_orientation(ref, orientation, path)
    photo = load_photo(path, max_side=None)
    assert photo.image.size == ref.size
    assert photo.original_size == ref.size
    diff = np.abs(np.asarray(photo.image, float) - np.asarray(ref, float)).mean()
    assert diff < 4.0


def test_large_jpeg_is_reduced_by_the_decoder(tmp_path, monkeypatch):
    path = tmp_path / "big.jpg"
    smooth_photo(4000, 3000).save(path, quality=85)
    sizes = []
    orig = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        res = orig(self, mode, size)
        sizes.append(self.size)
        return res

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    photo = load_photo(path, max_side=1024)
    assert sizes == [(2000, 1500)]  # decoded at 1/2 scale, not 12 MP
    assert photo.image.size == (1024, 768)
    assert photo.original_size == (4000, 3000)


def test_never_upscales(tmp_path):
    path = tmp_path / "small.png"
    smooth_photo(100, 60).save(path)
    assert load_photo(path, max_side=1024).image.size == (100, 60)


def test_crop_box_in_original_coordinates_with_draft(tmp_path):
    big = smooth_photo(4000, 3000, seed=3)
    path = tmp_path / "big.jpg"
    big.save(path, quality=95)
    box = (1000, 500, 2000, 1300)
    photo = load_photo(path, max_side=256, box=box)
    assert photo.image.size == (256, 205)
    ref = big.crop(box).resize(photo.image.size, Image.Resampling.BICUBIC)
    diff = np.abs(np.asarray(photo.image, float) - np.asarray(ref, float)).mean()
    assert diff < 6.0
    assert photo.box == (1000.0, 500.0, 2000.0, 1300.0)


def test_crop_box_is_clipped_and_bad_boxes_refused(tmp_path):
    path = tmp_path / "p.png"
    smooth_photo(200, 100).save(path)
    assert load_photo(path, box=(-50, -10, 100, 50)).image.size == (100, 50)
    with pytest.raises(BadImageError, match="empty"):
        load_photo(path, box=(50, 50, 40, 60))
    with pytest.raises(BadImageError, match="outside"):
        load_photo(path, box=(300, 10, 400, 50))
    with pytest.raises(BadImageError, match="four numbers"):
        load_photo(path, box=(1, 2, 3))


def test_palette_with_transparency_is_composited_on_white(tmp_path):
    im = Image.new("P", (20, 10), 0)
    im.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    im.paste(1, (10, 0, 20, 10))
    im.info["transparency"] = 0
    path = tmp_path / "pal.png"
    im.save(path, transparency=0)
    a = np.asarray(load_photo(path).image)
    assert tuple(a[5, 2]) == (255, 255, 255)  # transparent → white
    assert tuple(a[5, 15]) == (0, 255, 0)


def test_cmyk_16bit_la_and_float_modes(tmp_path):
    cmyk = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(cmyk)  # red in CMYK
    r, g, b = np.asarray(load_photo(cmyk).image)[8, 8]
    assert r > 200 and g < 60 and b < 60

    deep = tmp_path / "deep.png"
    Image.fromarray(np.full((8, 8), 0x8000, np.uint16)).save(deep)  # mid-grey in 16 bits
    assert Image.open(deep).mode.startswith("I")
    v = np.asarray(load_photo(deep).image)[4, 4]
    assert abs(int(v[0]) - 128) <= 1 and v[0] == v[1] == v[2]

    la = tmp_path / "la.png"
    Image.new("LA", (8, 8), (0, 0)).save(la)
    assert tuple(np.asarray(load_photo(la).image)[0, 0]) == (255, 255, 255)

    f = Image.fromarray(np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8), "F")
    out = np.asarray(load_photo(f).image)
    assert out[0, 0, 0] == 0 and out[7, 7, 0] == 255


def test_animated_gif_uses_first_frame(tmp_path):
    frames = [Image.new("RGB", (10, 10), c) for c in ((255, 0, 0), (0, 0, 255))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    r, _, b = np.asarray(load_photo(path).image)[5, 5]
    assert r > 200 and b < 50


def test_bytes_and_pil_sources(tmp_path, scene_jpeg):
    path, _ = scene_jpeg
    a = np.asarray(load_photo(path).image)
    b = np.asarray(load_photo(path.read_bytes()).image)
    c = np.asarray(load_photo(Image.open(path)).image)
    assert np.array_equal(a, b) and np.array_equal(a, c)


def test_bad_files_each_get_a_one_line_reason(tmp_path, scene_jpeg):
    src, _ = scene_jpeg
    cases = {}
    (tmp_path / "zero.jpg").write_bytes(b"")
    cases["zero.jpg"] = "empty file"
    (tmp_path / "text.jpg").write_text("hello, I am not a photo\n")
    cases["text.jpg"] = "not a recognised image format"
    truncated_jpeg(tmp_path / "trunc.jpg", src)
    cases["trunc.jpg"] = "truncated"
    png_bomb(tmp_path / "bomb.png")
    cases["bomb.png"] = "too large"
    os.symlink(tmp_path / "gone.jpg", tmp_path / "broken.jpg")
    cases["broken.jpg"] = "broken symbolic link"
    cases["missing.jpg"] = "file not found"
    (tmp_path / "adir.jpg").mkdir()
    cases["adir.jpg"] = "not a regular file"
    (tmp_path / "phone.heic").write_bytes(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64)
    cases["phone.heic"] = "HEIC/HEIF" if HEIF_SUPPORTED else "unsupported format: HEIC"
    for name, reason in cases.items():
        with pytest.raises(BadImageError) as info:
            load_photo(tmp_path / name)
        msg = str(info.value)
        assert reason in msg, (name, msg)
        assert "\n" not in msg
    with pytest.raises(BadImageError, match="empty data"):
        load_photo(b"")


def test_unreadable_file(tmp_path, scene_jpeg):
    """Root reads anything; as root the check runs without the capabilities that bypass
    file permissions (setpriv), so the real permission error is what gets mapped."""
    import shutil
    import subprocess
    import sys

    src, _ = scene_jpeg
    p = tmp_path / "locked.jpg"
    p.write_bytes(src.read_bytes())
    p.chmod(0)
    code = (
        "import sys; from engine.photo.decode import load_photo; from engine.errors import "
        "BadImageError\ntry:\n    load_photo(sys.argv[1])\nexcept BadImageError as e:\n"
        "    print(e)"
    )
    cmd = [sys.executable, "-c", code, str(p)]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: permissions cannot be enforced")
        cmd = [setpriv, "--bounding-set=-dac_override,-dac_read_search", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    p.chmod(0o644)
    assert out.stdout.strip() == "permission denied", out.stdout + out.stderr
