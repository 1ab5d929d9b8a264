"""RAW camera files (DNG, CR2, NEF, ARW...) through the preview the camera embedded in them.

Every RAW file carries a JPEG (sometimes a bitmap) rendered by the camera; decoding it is far
cheaper than developing the sensor data and looks like what the photographer saw. It is read
with ``rawpy`` (LibRaw), the optional ``raw`` extra; without it a RAW file fails with a reason
that names the extra.
"""

from __future__ import annotations

import io
import os

from PIL import Image

from engine.errors import BadImageError
from engine.photo.formats import RAW_EXTENSIONS

NEEDS_EXTRA = "RAW photo: install the 'raw' extra (pip install visual-search[raw]) to index it"
#: LibRaw's ``sizes.flip`` → the EXIF orientation that makes the preview upright
_FLIP_TO_ORIENTATION = {3: 3, 5: 8, 6: 6}


def is_raw_name(path: str | os.PathLike) -> bool:
    return os.path.splitext(os.fsencode(path))[1].lower() in RAW_EXTENSIONS


def open_raw_preview(path: str | os.PathLike) -> Image.Image:
    """The embedded preview of a RAW file as a PIL image, with the camera's orientation as its
    EXIF orientation (when the preview does not carry one). Raises ``BadImageError``."""
    try:
        import rawpy  # type: ignore[import-not-found]
    except ImportError:
        raise BadImageError(NEEDS_EXTRA) from None
    try:
        with rawpy.imread(os.fspath(path)) as raw:
            flip = int(raw.sizes.flip)
            thumb = raw.extract_thumb()
    except rawpy.LibRawNoThumbnailError:
        raise BadImageError("RAW photo without an embedded preview") from None
    except rawpy.LibRawUnsupportedThumbnailError:
        raise BadImageError("RAW photo whose embedded preview is in an unsupported form") from None
    except (rawpy.LibRawFileUnsupportedError, rawpy.LibRawDataError):
        raise BadImageError("not a RAW file this version of LibRaw can read") from None
    except rawpy.LibRawError as e:
        raise BadImageError(f"cannot read RAW file ({type(e).__name__})") from None
    if thumb.format == rawpy.ThumbFormat.JPEG:
        im = Image.open(io.BytesIO(bytes(thumb.data)))
    elif thumb.format == rawpy.ThumbFormat.BITMAP:
        im = Image.fromarray(thumb.data)
    else:  # pragma: no cover - rawpy has no other thumbnail formats today
        raise BadImageError(f"RAW preview in an unknown form ({thumb.format})")
    orientation = _FLIP_TO_ORIENTATION.get(flip)
    if orientation and int(im.getexif().get(0x0112, 1) or 1) == 1:
        exif = im.getexif()
        exif[0x0112] = orientation
        im.info["exif"] = exif.tobytes()
    return im
