"""Writers for camera file formats the tests need: a minimal DNG (a TIFF with a JPEG preview
in IFD0 and 16-bit Bayer data in a sub-IFD), as a camera would lay one out."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
from PIL import Image

_BYTE, _ASCII, _SHORT, _LONG, _SRATIONAL = 1, 2, 3, 4, 10
_FMT = {_BYTE: "B", _SHORT: "H", _LONG: "I", _SRATIONAL: "i"}


def _ifd(entries: list[tuple[int, int, object]], start: int) -> bytes:
    """One little-endian IFD at file offset ``start``, its out-of-line values after it."""
    n = len(entries)
    table, extra = struct.pack("<H", n), b""
    data_at = start + 2 + 12 * n + 4
    for tag, kind, vals in sorted(entries):
        if kind == _ASCII:
            payload = str(vals).encode() + b"\0"
            count = len(payload)
        else:
            payload = struct.pack("<" + _FMT[kind] * len(vals), *vals)
            count = len(vals) // 2 if kind == _SRATIONAL else len(vals)
        if len(payload) <= 4:
            table += struct.pack("<HHI", tag, kind, count) + payload.ljust(4, b"\0")
        else:
            table += struct.pack("<HHII", tag, kind, count, data_at + len(extra))
            extra += payload + b"\0" * (len(payload) % 2)
    return table + struct.pack("<I", 0) + extra


def write_dng(path: Path, preview: Image.Image, orientation: int = 1) -> Path:
    """A DNG whose embedded preview is ``preview`` (JPEG) and whose camera orientation is the
    EXIF value ``orientation``; the sensor data is 64×48 random 12-bit values."""
    buf = io.BytesIO()
    preview.save(buf, "JPEG", quality=92)
    jpeg = buf.getvalue() + b"\0" * (len(buf.getvalue()) % 2)
    rw, rh = 64, 48
    raw = np.random.default_rng(0).integers(0, 4096, (rh, rw)).astype("<u2").tobytes()
    identity = [v for i in range(3) for j in range(3) for v in (int(i == j) * 10000, 10000)]

    def ifd0(jpeg_at: int, raw_ifd_at: int) -> bytes:
        return _ifd(
            [
                (254, _LONG, [1]),  # a reduced-resolution preview
                (256, _LONG, [preview.width]),
                (257, _LONG, [preview.height]),
                (258, _SHORT, [8, 8, 8]),
                (259, _SHORT, [7]),  # JPEG
                (262, _SHORT, [6]),  # YCbCr
                (271, _ASCII, "Maker"),
                (272, _ASCII, "Model"),
                (273, _LONG, [jpeg_at]),
                (274, _SHORT, [orientation]),
                (277, _SHORT, [3]),
                (278, _LONG, [preview.height]),
                (279, _LONG, [len(jpeg)]),
                (330, _LONG, [raw_ifd_at]),  # SubIFDs: the sensor data
                (50706, _BYTE, [1, 4, 0, 0]),  # DNGVersion
                (50708, _ASCII, "Test Camera"),
                (50721, _SRATIONAL, identity),  # ColorMatrix1
            ],
            8,
        )

    def raw_ifd(start: int, raw_at: int) -> bytes:
        return _ifd(
            [
                (254, _LONG, [0]),
                (256, _LONG, [rw]),
                (257, _LONG, [rh]),
                (258, _SHORT, [16]),
                (259, _SHORT, [1]),
                (262, _SHORT, [32803]),  # CFA
                (273, _LONG, [raw_at]),
                (277, _SHORT, [1]),
                (278, _LONG, [rh]),
                (279, _LONG, [len(raw)]),
                (33421, _SHORT, [2, 2]),
                (33422, _BYTE, [0, 1, 1, 2]),  # RGGB
                (50717, _LONG, [4095]),  # WhiteLevel
            ],
            start,
        )

    sub_at = 8 + len(ifd0(0, 0))
    sub_len = len(raw_ifd(sub_at, 0))
    jpeg_at = sub_at + sub_len
    raw_at = jpeg_at + len(jpeg)
    data = b"II*\0" + struct.pack("<I", 8) + ifd0(jpeg_at, sub_at) + raw_ifd(sub_at, raw_at)
    path.write_bytes(data + jpeg + raw)
    return path


def two_colour(width: int, height: int) -> Image.Image:
    """Left half red, right half blue: orientation mistakes show in the corners."""
    im = Image.new("RGB", (width, height), (220, 30, 30))
    im.paste((30, 30, 220), (width // 2, 0, width, height))
    return im


def write_jpeg_with_corrupt_exif(path: Path, upright: Image.Image, orientation: int = 1) -> Path:
    """A JPEG as a camera stores it (pixels turned by ``orientation``) whose EXIF block has a
    Software tag pointing 60,000 bytes past the end of the block: Pillow warns "Truncated File
    Read" when it parses it, after it has read the orientation."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x0131] = "Some camera software"
    block = bytearray(exif.tobytes())  # b"Exif\0\0" + a big-endian TIFF header at offset 6
    entries = struct.unpack_from(">H", block, 14)[0]
    for i in range(entries):
        at = 16 + 12 * i
        if struct.unpack_from(">H", block, at)[0] == 0x0131:
            struct.pack_into(">I", block, at + 8, 60000)
    transposes = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90}
    stored = upright.transpose(transposes[orientation]) if orientation != 1 else upright
    stored.save(path, quality=90, exif=bytes(block))
    return path
