"""JPEG decoding on the device the network runs on (nvJPEG on CUDA), in batches.

On a GPU machine, Pillow decoding on the CPU is what limits indexing: a 4000×3000 JPEG
takes about 70 ms on one core even with draft scaling, while nvJPEG decodes a batch of them
in a few milliseconds each. ``DeviceDecoder.decode(paths)`` reads the files on threads,
decodes the baseline RGB and greyscale JPEGs in one ``torchvision.io.decode_jpeg`` call on
the device, turns them upright by their EXIF orientation and resizes them there (long side
≤ ``image_size``, antialiased). Every other file — PNG, HEIC, CMYK or 12-bit JPEGs, files
nvJPEG refuses, files over the pixel limit — comes back as None, for the CPU decoder
(``imageio.load_photo``) to decode or to reject with its one-line reason.

The same code runs with ``device="cpu"`` (libjpeg-turbo through torchvision), which is how
the tests exercise it on machines without a GPU.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from PIL import Image

from engine.cores import available_cores
from engine.photo.decode import MAX_PIXELS, jpeg_header

#: pixels decoded per ``decode_jpeg`` call at most (a batch of 4000×3000 photos is large)
MAX_BATCH_PIXELS = 256_000_000


@dataclass
class Decoded:
    """One photo decoded on the device: ``(3, H, W)`` uint8 upright RGB, long side ≤ the
    decoder's ``image_size``; ``original_size`` is the full upright photo's ``(W, H)``."""

    pixels: torch.Tensor
    original_size: tuple[int, int]
    notes: list[str]


def upright(x: torch.Tensor, orientation: int) -> torch.Tensor:
    """``(C, H, W)`` pixels stored with EXIF ``orientation`` (1–8) turned upright: the same
    transform as Pillow's ``ImageOps.exif_transpose``."""
    if orientation == 2:
        return x.flip(-1)
    if orientation == 3:
        return x.flip(-1, -2)
    if orientation == 4:
        return x.flip(-2)
    if orientation == 5:
        return x.transpose(-1, -2)
    if orientation == 6:
        return x.rot90(-1, (-2, -1))
    if orientation == 7:
        return x.transpose(-1, -2).flip(-1, -2)
    if orientation == 8:
        return x.rot90(1, (-2, -1))
    return x


def shrink(x: torch.Tensor, max_side: int | None) -> torch.Tensor:
    """``(C, H, W)`` uint8 with its long side reduced to ``max_side`` (never enlarged), as
    ``imageio.downscale`` sizes and filters it (antialiased bicubic: on real photos the
    network's descriptors then stay within cosine 0.998 of Pillow's; bilinear fell to 0.92)."""
    h, w = x.shape[-2:]
    if not max_side or max(h, w) <= max_side:
        return x
    s = max_side / max(h, w)
    size = (max(1, round(h * s)), max(1, round(w * s)))
    y = F.interpolate(x[None].float(), size=size, mode="bicubic", antialias=True)
    return y[0].round_().clamp_(0, 255).to(torch.uint8)


def _decode_jpeg(data: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    """``torchvision.io.decode_jpeg`` to RGB on ``device``. Torchvision 0.29 marks its image
    decoders deprecated in favour of TorchCodec; they are what decodes with nvJPEG in the
    torch wheels today, so the notice is silenced here (a torchvision without them makes
    ``device_decoding_works`` false and everything decodes on the CPU)."""
    from torchvision.io import ImageReadMode, decode_jpeg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return list(decode_jpeg(data, mode=ImageReadMode.RGB, device=device))


def device_decoding_works(device: torch.device) -> bool:
    """Whether JPEGs can be decoded on ``device`` here (a tiny JPEG is tried once)."""
    import io

    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(buf, "JPEG")
    data = torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8)
    try:
        out = _decode_jpeg([data], device)
    except (ImportError, RuntimeError, OSError, ValueError, TypeError):
        return False
    return tuple(out[0].shape) == (3, 16, 16)


class DeviceDecoder:
    """Decodes the JPEGs of a list of paths on ``device``; the rest is left to the CPU."""

    def __init__(
        self,
        device: str | torch.device,
        image_size: int | None,
        threads: int | None = None,
        max_pixels: int = MAX_PIXELS,
    ) -> None:
        self.device = torch.device(device)
        self.image_size = image_size
        self.max_pixels = max_pixels
        self._pool = ThreadPoolExecutor(max_workers=threads or available_cores())

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> DeviceDecoder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _read(self, path: str | os.PathLike):
        """``(bytes tensor, header)`` of a JPEG the device can decode, else None."""
        try:
            head = jpeg_header(path, self.max_pixels)
            if head is None:
                return None
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return None  # the CPU decoder says what is wrong with it
        if not data.rstrip(b"\0").endswith(b"\xff\xd9"):
            # no end-of-image marker: truncated (a decoder would fill the rest with grey) or
            # data appended after it; Pillow rejects the one and reads the other
            return None
        return torch.frombuffer(bytearray(data), dtype=torch.uint8), head

    def decode(self, paths: Sequence[str | os.PathLike]) -> list[Decoded | None]:
        """One entry per path: the decoded photo, or None for the CPU decoder."""
        read = list(self._pool.map(self._read, paths))
        out: list[Decoded | None] = [None] * len(paths)
        todo = [i for i, r in enumerate(read) if r is not None]
        start = 0
        while start < len(todo):  # batches of at most MAX_BATCH_PIXELS
            end, pixels = start, 0
            while end < len(todo) and (end == start or pixels < MAX_BATCH_PIXELS):
                w, h = read[todo[end]][1].raw_size
                pixels += w * h
                end += 1
            chunk = todo[start:end]
            for i, x in zip(chunk, self._decode_chunk([read[i][0] for i in chunk]), strict=True):
                if x is not None:
                    head = read[i][1]
                    x = shrink(upright(x, head.orientation), self.image_size)
                    out[i] = Decoded(x, head.upright_size, head.notes)
            start = end
        return out

    def _decode_chunk(self, data: list[torch.Tensor]) -> list[torch.Tensor | None]:
        """Decode a batch at once; if one file breaks the batch, each alone (nvJPEG returns
        nothing for a batch with a bad file), None for those that fail."""
        with contextlib.suppress(RuntimeError, ValueError):
            return _decode_jpeg(data, self.device)
        out: list[torch.Tensor | None] = []
        for d in data:
            try:
                out.append(_decode_jpeg([d], self.device)[0])
            except (RuntimeError, ValueError):
                out.append(None)
        return out
