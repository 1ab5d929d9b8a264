"""How a photo is described for matching: RootSIFT at one set of settings, its visual-word code
and its perceptual hash, from one decode.

RootSIFT: OpenCV SIFT → L1-normalise → element-wise square root.

The Euclidean distance between two RootSIFT vectors is the Hellinger kernel on the SIFT
histograms, and every RootSIFT vector has unit L2 norm (its squares sum to the L1 norm, 1).
Keypoints are kept as ``kp (n, 4) float32 = (x, y, size, angle)`` in the coordinates of the
original upright photo, so they stay valid whatever size the photo was decoded at.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from engine.photo.decode import Box, PhotoSource, downscale, load_photo

#: below this size (either side) a photo has no usable local features
MIN_PHOTO_SIDE = 16


@dataclass(frozen=True)
class DescribeSettings:
    """The one set of settings every command describes photos with (search, indexing,
    evaluation, the audit, duplicates, localization).

    long_side: the long side features are computed at (a photo is never upscaled to reach
    it; 640 px, chosen on the real-photo benchmark: Medium mAP 74.0 against 68.7 at 1,024 px,
    and SIFT costs about 0.4 of it: ``bench settings`` and the README's table);
    max_features: the strongest keypoints kept; min_side: smaller photos or query boxes
    are enlarged to this long side so SIFT's scales fit; contrast_threshold: low, so that flat,
    low-contrast photos and small boxes still get keypoints (``max_features`` keeps the
    strongest).
    """

    long_side: int = 640
    max_features: int = 1000
    min_side: int = 320
    contrast_threshold: float = 0.01

    def with_features(self, max_features: int | None) -> DescribeSettings:
        """The same settings with another feature cap (``None``: unchanged)."""
        return self if max_features is None else replace(self, max_features=int(max_features))


#: what the product uses unless a library is opened with another feature cap
DEFAULT = DescribeSettings()
#: the default feature cap (``index --local-features`` changes it)
MAX_FEATURES = DEFAULT.max_features


@dataclass
class LocalFeatures:
    """``kp (n, 4) float32`` = (x, y, size, angle) in original pixels, ``desc (n, 128)``."""

    kp: np.ndarray
    desc: np.ndarray

    def __len__(self) -> int:
        return len(self.kp)

    @property
    def xy(self) -> np.ndarray:
        """``(n, 2) float32`` keypoint positions."""
        return self.kp[:, :2]

    @classmethod
    def empty(cls) -> LocalFeatures:
        return cls(np.zeros((0, 4), np.float32), np.zeros((0, 128), np.float32))

    def inside(self, box) -> LocalFeatures:
        """The features whose keypoint lies in ``box = (x0, y0, x1, y1)``."""
        x, y = self.kp[:, 0], self.kp[:, 1]
        m = (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])
        return LocalFeatures(self.kp[m], self.desc[m])


class Laps:
    """Seconds spent per stage of describing, summed over photos (``bench index --breakdown``
    passes one to ``describe`` and ``asmk.encode``; the product passes none)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._t = time.perf_counter()

    def start(self) -> None:
        self._t = time.perf_counter()

    def lap(self, stage: str) -> None:
        t = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + t - self._t
        self._t = t


def _no_lap(_stage: str) -> None:
    pass


_tls = threading.local()


def _sift(settings: DescribeSettings):
    cache = getattr(_tls, "sift", None)
    if cache is None or cache[0] != settings:
        sift = cv2.SIFT_create(
            nfeatures=settings.max_features, contrastThreshold=settings.contrast_threshold
        )
        _tls.sift = cache = (settings, sift)
    return cache[1]


def rootsift(desc: np.ndarray) -> np.ndarray:
    """``(n, 128)`` SIFT histograms → RootSIFT (L1-normalise, then square root)."""
    d = np.asarray(desc, np.float32)
    d = d / np.maximum(np.abs(d).sum(axis=1, keepdims=True), 1e-12)
    return np.sqrt(np.maximum(d, 0.0))


def sift_input(gray: np.ndarray, settings: DescribeSettings = DEFAULT):
    """``(image, enlargement)`` SIFT runs on for a ``(H, W) uint8`` image, or None when it is
    too small to have usable features: a small region is enlarged (cubic) so SIFT's scales fit.
    The OpenCV path and the PyTorch path (``torch_sift``) both start here."""
    if gray.ndim != 2 or min(gray.shape) < MIN_PHOTO_SIDE:
        return None
    up = 1.0
    if max(gray.shape) < settings.min_side:
        up = settings.min_side / max(gray.shape)
        size = (round(gray.shape[1] * up), round(gray.shape[0] * up))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(gray), up


def in_photo_pixels(
    feats: LocalFeatures, to_original: float, offset: tuple[float, float] = (0.0, 0.0)
) -> LocalFeatures:
    """Features found on a SIFT input image, their keypoints scaled by ``to_original`` (photo
    pixels per image pixel) and moved by ``offset`` (a crop box's top-left corner)."""
    kp = np.array(feats.kp, np.float32, copy=True)
    kp[:, :3] *= to_original
    kp[:, 0] += offset[0]
    kp[:, 1] += offset[1]
    return LocalFeatures(kp, feats.desc)


def features_from_gray(
    gray: np.ndarray,
    to_original: float = 1.0,
    offset: tuple[float, float] = (0.0, 0.0),
    settings: DescribeSettings = DEFAULT,
    laps: Laps | None = None,
) -> LocalFeatures:
    """RootSIFT of a ``(H, W) uint8`` image.

    ``to_original`` converts the image's pixels to original photo pixels (original / image),
    ``offset`` is added after scaling (the top-left corner of a crop box).
    """
    lap = laps.lap if laps is not None else _no_lap
    prepared = sift_input(gray, settings)
    if prepared is None:
        return LocalFeatures.empty()
    gray, up = prepared
    kps, desc = _sift(settings).detectAndCompute(gray, None)
    lap("detection and description")
    if desc is None or not kps:
        return LocalFeatures.empty()
    kps, desc = kps[: settings.max_features], desc[: settings.max_features]
    kp = np.array([(k.pt[0], k.pt[1], k.size, k.angle) for k in kps], np.float32)
    out = in_photo_pixels(LocalFeatures(kp, rootsift(desc)), to_original / up, offset)
    lap("RootSIFT")
    return out


def to_gray(image) -> np.ndarray:
    """A PIL image or an ``(H, W, 3)`` RGB array → ``(H, W) uint8`` luminance."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        return np.ascontiguousarray(arr, dtype=np.uint8)
    return cv2.cvtColor(np.ascontiguousarray(arr[..., :3], dtype=np.uint8), cv2.COLOR_RGB2GRAY)


def local_features(
    src: PhotoSource, box=None, settings: DescribeSettings = DEFAULT
) -> LocalFeatures:
    """RootSIFT features of a photo (or of ``box`` in it). Raises ``BadImageError``."""
    photo = load_photo(src, settings.long_side, box)
    offset = (photo.box[0], photo.box[1]) if photo.box is not None else (0.0, 0.0)
    return features_from_gray(to_gray(photo.image), 1.0 / photo.scale, offset, settings)


def phash(gray: np.ndarray) -> int:
    """DCT perceptual hash: 64 bits, the signs of the 8×8 lowest frequencies (DC excluded)
    of a 32×32 reduction against their median."""
    small = cv2.resize(gray, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    low = cv2.dct(small)[:8, :8].reshape(-1)
    bits = (low > np.median(low[1:])).astype(np.uint8)
    bits[0] = 0
    return int.from_bytes(np.packbits(bits).tobytes(), "big", signed=True)


def hamming64(a: int, b: int) -> int:
    return int((a ^ b) & 0xFFFFFFFFFFFFFFFF).bit_count()


@dataclass
class Described:
    """One photo, decoded once.

    code: its local data (None when not asked for); feats: the RootSIFT features (when
    ``keep_features``); phash: 64-bit perceptual hash; original_size (W, H) upright;
    pixels: ``(H, W, 3) uint8`` RGB with long side ≤ ``image_size`` for the network (None
    when not asked for); box: the crop applied, in original pixels.
    """

    #: its ``asmk.LocalCode``, set by the caller that encodes it (this module is below asmk)
    code: object | None
    phash: int
    original_size: tuple[int, int]
    pixels: np.ndarray | None
    box: Box | None
    feats: LocalFeatures | None = None
    notes: list[str] = field(default_factory=list)  # what decoding noticed (damaged EXIF...)
    #: ``(image, photo pixels per image pixel, offset)`` when SIFT is left to the caller
    #: (``sift_later``: the PyTorch describer runs it in batches); None otherwise
    sift_input: tuple[np.ndarray, float, tuple[float, float]] | None = None


def describe(
    src: PhotoSource,
    box: Box | None = None,
    image_size: int | None = None,
    settings: DescribeSettings = DEFAULT,
    local: bool = True,
    laps: Laps | None = None,
    sift_later: bool = False,
) -> Described:
    """Decode ``src`` once at the larger of the two sizes; RootSIFT (when ``local``); pixels
    for the network by resizing the same decode (when ``image_size``). Raises
    ``BadImageError``. ``laps`` sums the seconds of each stage. With ``sift_later`` the image
    SIFT would run on is returned in ``sift_input`` instead of its features."""
    lap = laps.lap if laps is not None else _no_lap
    if laps is not None:
        laps.start()
    side = max(settings.long_side if local else 0, image_size or 0) or settings.long_side
    photo = load_photo(src, side, box)
    lap("decode")
    rgb = photo.image
    offset = (photo.box[0], photo.box[1]) if photo.box is not None else (0.0, 0.0)
    small = downscale(rgb, settings.long_side)
    gray = to_gray(small)
    lap("resize")
    feats = LocalFeatures.empty()
    later = None
    to_orig = 1.0 / (photo.scale * small.width / rgb.width)
    if local and sift_later:
        prepared = sift_input(gray, settings)
        if prepared is not None:
            later = (prepared[0], to_orig / prepared[1], offset)
    elif local:
        feats = features_from_gray(gray, to_orig, offset, settings, laps)
    pixels = np.asarray(downscale(rgb, image_size), np.uint8) if image_size else None
    lap("resize")
    ph = phash(gray)
    lap("perceptual hash")
    return Described(None, ph, photo.original_size, pixels, photo.box, feats, photo.notes, later)
