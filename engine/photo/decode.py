"""Robust photo loading for extraction.

``load_photo(src, max_side, box)`` accepts a path, raw bytes or a PIL image and returns an
upright RGB image whose long side is at most ``max_side`` (never upscaled). It applies EXIF
orientation, decodes JPEGs in draft mode (a 12 MP photo is reduced by the decoder instead of
being decoded fully), handles palette / alpha / CMYK / 16-bit / float images, takes the first
frame of animations, and refuses decompression bombs. Every failure is a ``BadImageError``
with a one-line reason.

HEIC/HEIF (iPhone photos) open through ``pillow-heif``; RAW camera files through their embedded
preview (:mod:`engine.photo.raw`). Pillow's warnings about damaged metadata (corrupt EXIF) are
not printed: they become the photo's ``notes``.
"""

from __future__ import annotations

import io
import math
import os
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from engine.errors import BadImageError
from engine.photo.raw import is_raw_name, open_raw_preview

PhotoSource = str | os.PathLike | bytes | bytearray | memoryview | Image.Image
#: a region of a photo, ``(x0, y0, x1, y1)`` in the pixels of the full upright photo
Box = tuple[float, float, float, float]

#: refuse images with more pixels than this (a 200 MP photo is already unusual)
MAX_PIXELS = 200_000_000
#: EXIF orientations that swap width and height
_TRANSPOSED = {5, 6, 7, 8}
_ALPHA_BACKGROUND = (255, 255, 255)


def _register_heif() -> bool:
    """HEIC/HEIF decoding through pi-heif (a dependency: pillow-heif's decoder-only build), or
    pillow-heif where only it is installed; an install that lost both still opens every
    other format."""
    for name in ("pi_heif", "pillow_heif"):
        try:
            module = __import__(name)
            module.register_heif_opener()
        except Exception:  # pragma: no cover - depends on the environment
            continue
        return True
    return False  # pragma: no cover


HEIF_SUPPORTED = _register_heif()

#: EXIF orientation → the transpose that makes the photo upright
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# ``warnings.catch_warnings`` swaps process-wide state: decoders on several threads (the
# window's thumbnails) take turns for the short header and metadata reads it guards
_WARNINGS_LOCK = threading.Lock()


@dataclass
class Photo:
    """A decoded photo.

    image: upright RGB, long side ≤ the requested size.
    original_size: ``(width, height)`` of the upright full-resolution photo.
    box: the crop applied, in original upright pixel coordinates, or None.
    """

    image: Image.Image
    original_size: tuple[int, int]
    box: tuple[float, float, float, float] | None = None
    #: what was wrong but did not stop decoding (damaged EXIF...), one line each
    notes: list[str] = field(default_factory=list)

    @property
    def scale(self) -> float:
        """Pixels of ``image`` per original pixel."""
        w0 = (self.box[2] - self.box[0]) if self.box else self.original_size[0]
        return self.image.width / max(w0, 1e-9)


def describe_source(src: PhotoSource) -> str:
    if isinstance(src, (str, os.PathLike)):
        return os.fsdecode(src)
    if isinstance(src, Image.Image):
        return "<image>"
    return "<bytes>"


def _noted(caught: list[warnings.WarningMessage], notes: list[str]) -> None:
    """Pillow's warnings about the file become notes (without its source paths); any other
    warning raised meanwhile is shown as it would have been."""
    for w in caught:
        if w.category is Image.DecompressionBombWarning:
            continue
        if str(getattr(w, "filename", "")).startswith(os.path.dirname(Image.__file__)):
            text = " ".join(str(w.message).split()).rstrip(".")
            note = f"damaged EXIF metadata ignored ({text})"
            if note not in notes:
                notes.append(note)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno, w.file, w.line)


def _open(src: PhotoSource, notes: list[str]) -> Image.Image:
    if isinstance(src, Image.Image):
        return src
    if isinstance(src, (bytes, bytearray, memoryview)):
        if len(src) == 0:
            raise BadImageError("empty data (0 bytes)")
        return _pil_open(io.BytesIO(bytes(src)), notes)
    path = _photo_file(src)
    if is_raw_name(path):
        return open_raw_preview(path)
    return _pil_open(str(path), notes)


def _photo_file(src: str | os.PathLike) -> Path:
    """``src`` as a path, once it is known to be a non-empty regular file."""
    path = Path(os.fsdecode(src))
    try:
        st = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise BadImageError("broken symbolic link") from None
        raise BadImageError("file not found") from None
    except OSError as e:
        raise BadImageError(f"cannot access file ({e.strerror or e})") from None
    if not path.is_file():
        raise BadImageError("not a regular file")
    if st.st_size == 0:
        raise BadImageError("empty file (0 bytes)")
    return path


def _pil_open(fp: io.IOBase | str, notes: list[str]) -> Image.Image:
    """Pillow's lazy open (the header only): its warnings become ``notes``, its failures a
    one-line ``BadImageError``."""
    try:
        with _WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            try:
                return Image.open(fp)
            finally:
                _noted(caught, notes)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BadImageError(
            f"image too large (decompression bomb guard, limit {MAX_PIXELS:,} pixels)"
        ) from None
    except UnidentifiedImageError:
        raise _unrecognised(fp if isinstance(fp, str) else "") from None
    except PermissionError:
        raise BadImageError("permission denied") from None
    except OSError as e:
        raise BadImageError(f"cannot read image ({e.strerror or e})") from None
    except Exception as e:  # a plugin's own error on a damaged header ("Unsupported SGI mode")
        raise BadImageError(f"damaged image header ({type(e).__name__}: {e})") from None


def _unrecognised(name: str) -> BadImageError:
    """Why Pillow did not recognise the file ``name`` ("" for bytes)."""
    if name.lower().endswith((".heic", ".heif")):
        if HEIF_SUPPORTED:
            return BadImageError("damaged or unsupported HEIC/HEIF file")
        return BadImageError(
            "unsupported format: HEIC/HEIF (the pillow-heif package is missing: "
            "reinstall visual-search)"
        )
    return BadImageError("not a recognised image format")


def _orientation(im: Image.Image, notes: list[str]) -> int:
    with _WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = int(im.getexif().get(0x0112, 1))
        except Exception:
            value = 1
        finally:
            _noted(caught, notes)
    return value if 1 <= value <= 8 else 1


@dataclass
class JpegHeader:
    """What a JPEG's header says: stored ``(W, H)``, EXIF orientation, what reading noticed."""

    raw_size: tuple[int, int]
    orientation: int
    notes: list[str]

    @property
    def upright_size(self) -> tuple[int, int]:
        w, h = self.raw_size
        return (h, w) if self.orientation in _TRANSPOSED else (w, h)


def jpeg_header(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> JpegHeader | None:
    """The header of a plain 8-bit RGB or greyscale JPEG within ``max_pixels`` (the files a
    JPEG decoder other than Pillow may take), or None for any other file. Reads the header
    only."""
    notes: list[str] = []
    if is_raw_name(Path(os.fsdecode(path))):
        return None  # a RAW file's JPEG is a preview inside it, not the file
    try:
        im = _open(path, notes)
    except BadImageError:
        return None
    try:
        w, h = im.size
        if im.format != "JPEG" or im.mode not in ("RGB", "L") or not 0 < w * h <= max_pixels:
            return None
        return JpegHeader((w, h), _orientation(im, notes), notes)
    finally:
        im.close()


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any PIL mode → 8-bit RGB (alpha composited on white, 16-bit/float scaled, CMYK converted)."""
    mode = im.mode
    if mode == "RGB":
        return im
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        if mode.startswith("I;16"):
            a = a / 257.0
        else:
            lo, hi = float(np.min(a)), float(np.max(a))
            a = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
        g = Image.fromarray(np.clip(a + 0.5, 0, 255).astype(np.uint8), "L")
        return g.convert("RGB")
    if mode == "P":
        im = im.convert("RGBA") if "transparency" in im.info else im.convert("RGB")
        mode = im.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (*_ALPHA_BACKGROUND, 255))
        return Image.alpha_composite(bg, rgba).convert("RGB")
    return im.convert("RGB")


def _check_box(box, size: tuple[int, int]) -> tuple[float, float, float, float]:
    try:
        x0, y0, x1, y1 = (float(v) for v in box)
    except (TypeError, ValueError):
        raise BadImageError(f"box must be four numbers X0,Y0,X1,Y1, got {box!r}") from None
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        raise BadImageError("box coordinates must be finite numbers")
    if x1 <= x0 or y1 <= y0:
        raise BadImageError(f"box {box!r} is empty: need X0 < X1 and Y0 < Y1")
    w, h = size
    cx0, cy0, cx1, cy1 = max(x0, 0.0), max(y0, 0.0), min(x1, float(w)), min(y1, float(h))
    if cx1 - cx0 < 1 or cy1 - cy0 < 1:
        raise BadImageError(f"box {box!r} lies outside the {w}x{h} image")
    return cx0, cy0, cx1, cy1


def downscale(im: Image.Image, max_side: int | None) -> Image.Image:
    """``im`` with its long side reduced to ``max_side`` (never enlarged)."""
    if max_side and max(im.size) > max_side:
        s = max_side / max(im.size)
        size = (max(1, round(im.width * s)), max(1, round(im.height * s)))
        im = im.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)
    return im


def _checked_size(size: tuple[int, int], max_pixels: int) -> tuple[int, int]:
    """``size`` (the stored ``(W, H)``) once it is known to hold between 1 and ``max_pixels``
    pixels."""
    raw_w, raw_h = size
    if raw_w <= 0 or raw_h <= 0:
        raise BadImageError("image has no pixels")
    if raw_w * raw_h > max_pixels:
        raise BadImageError(
            f"image too large ({raw_w}x{raw_h} = {raw_w * raw_h:,} pixels, limit {max_pixels:,})"
        )
    return raw_w, raw_h


def _decode_pixels(im: Image.Image) -> None:
    """Decode ``im``'s pixels (at its draft size); a damaged file is a one-line
    ``BadImageError``."""
    try:
        im.load()
    except (OSError, SyntaxError, ValueError) as e:
        msg = str(e).lower()
        if "truncated" in msg or "premature" in msg or "broken data" in msg:
            raise BadImageError("truncated or corrupt image data") from None
        raise BadImageError(f"cannot decode image ({e})") from None
    except Image.DecompressionBombError:
        raise BadImageError("image too large (decompression bomb guard)") from None


def load_photo(
    src: PhotoSource,
    max_side: int | None = 1024,
    box: tuple[float, float, float, float] | None = None,
    max_pixels: int = MAX_PIXELS,
) -> Photo:
    """Decode ``src`` to an upright RGB photo, optionally cropped to ``box`` (original upright
    pixel coordinates ``x0, y0, x1, y1``), with long side at most ``max_side``."""
    old_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    notes: list[str] = []
    try:
        im = _open(src, notes)
    finally:
        Image.MAX_IMAGE_PIXELS = old_limit
    try:
        raw_w, raw_h = _checked_size(im.size, max_pixels)
        orient = _orientation(im, notes)
        up_w, up_h = (raw_h, raw_w) if orient in _TRANSPOSED else (raw_w, raw_h)
        crop = _check_box(box, (up_w, up_h)) if box is not None else None
        region_long = max(crop[2] - crop[0], crop[3] - crop[1]) if crop else max(up_w, up_h)
        if getattr(im, "n_frames", 1) > 1:
            im.seek(0)
        if max_side and region_long > max_side and im.format == "JPEG":
            s = max_side / region_long
            im.draft("RGB", (math.ceil(raw_w * s), math.ceil(raw_h * s)))
        _decode_pixels(im)
        if orient != 1:
            im = im.transpose(_UPRIGHT[orient])  # the EXIF it came from is not read again
            im.info.pop("exif", None)
        im = _to_rgb(im)
        if crop is not None:
            f = im.width / up_w  # draft may have reduced the decoded size
            x0, y0 = math.floor(crop[0] * f), math.floor(crop[1] * f)
            px = (x0, y0, max(math.ceil(crop[2] * f), x0 + 1), max(math.ceil(crop[3] * f), y0 + 1))
            im = im.crop(px)
        return Photo(downscale(im, max_side), (up_w, up_h), crop, notes)
    except BadImageError:
        raise
    except MemoryError:
        raise BadImageError("not enough memory to decode image") from None
    except Exception as e:  # a decoder bug or an exotic file: still one line, never a crash
        raise BadImageError(f"cannot decode image ({type(e).__name__}: {e})") from None
