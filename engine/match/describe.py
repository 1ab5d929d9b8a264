"""RootSIFT local features: OpenCV SIFT → L1-normalise → element-wise square root.

The Euclidean distance between two RootSIFT vectors is the Hellinger kernel on the SIFT
histograms, and every RootSIFT vector has unit L2 norm (its squares sum to the L1 norm, 1).
Keypoints are kept as ``kp (n, 4) float32 = (x, y, size, angle)`` in the coordinates of the
original upright photo, so they stay valid whatever size the photo was decoded at.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

from engine.photo.decode import PhotoSource, load_photo

#: long side the features are computed at (the photo is never upscaled to reach it)
LOCAL_MAX_SIDE = 1024
#: the strongest keypoints kept per photo at default settings
MAX_FEATURES = 1000
#: smaller photos or query boxes are enlarged to this long side so SIFT's scales fit
MIN_SIDE = 320
#: below this size (either side) a photo has no usable local features
MIN_PHOTO_SIDE = 16
#: a low contrast threshold: flat, low-contrast photos and small boxes still get keypoints;
#: ``nfeatures`` then keeps the strongest
CONTRAST_THRESHOLD = 0.01


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


_tls = threading.local()


def _sift(max_features: int):
    cache = getattr(_tls, "sift", None)
    if cache is None or cache[0] != max_features:
        sift = cv2.SIFT_create(nfeatures=max_features, contrastThreshold=CONTRAST_THRESHOLD)
        _tls.sift = cache = (max_features, sift)
    return cache[1]


def rootsift(desc: np.ndarray) -> np.ndarray:
    """``(n, 128)`` SIFT histograms → RootSIFT (L1-normalise, then square root)."""
    d = np.asarray(desc, np.float32)
    d = d / np.maximum(np.abs(d).sum(axis=1, keepdims=True), 1e-12)
    return np.sqrt(np.maximum(d, 0.0))


def features_from_gray(
    gray: np.ndarray,
    to_original: float = 1.0,
    offset: tuple[float, float] = (0.0, 0.0),
    max_features: int = MAX_FEATURES,
) -> LocalFeatures:
    """RootSIFT of a ``(H, W) uint8`` image.

    ``to_original`` converts the image's pixels to original photo pixels (original / image),
    ``offset`` is added after scaling (the top-left corner of a crop box).
    """
    if gray.ndim != 2 or min(gray.shape) < MIN_PHOTO_SIDE:
        return LocalFeatures.empty()
    up = 1.0
    if max(gray.shape) < MIN_SIDE:  # a small region: enlarge so SIFT's scales fit
        up = MIN_SIDE / max(gray.shape)
        size = (round(gray.shape[1] * up), round(gray.shape[0] * up))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_CUBIC)
    kps, desc = _sift(max_features).detectAndCompute(np.ascontiguousarray(gray), None)
    if desc is None or not kps:
        return LocalFeatures.empty()
    kps, desc = kps[:max_features], desc[:max_features]
    f = to_original / up
    kp = np.array([(k.pt[0], k.pt[1], k.size, k.angle) for k in kps], np.float32)
    kp[:, :3] *= f
    kp[:, 0] += offset[0]
    kp[:, 1] += offset[1]
    return LocalFeatures(kp, rootsift(desc))


def to_gray(image) -> np.ndarray:
    """A PIL image or an ``(H, W, 3)`` RGB array → ``(H, W) uint8`` luminance."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        return np.ascontiguousarray(arr, dtype=np.uint8)
    return cv2.cvtColor(np.ascontiguousarray(arr[..., :3], dtype=np.uint8), cv2.COLOR_RGB2GRAY)


def local_features(
    src: PhotoSource,
    box=None,
    max_side: int = LOCAL_MAX_SIDE,
    max_features: int = MAX_FEATURES,
) -> LocalFeatures:
    """RootSIFT features of a photo (or of ``box`` in it). Raises ``BadImageError``."""
    photo = load_photo(src, max_side, box)
    offset = (photo.box[0], photo.box[1]) if photo.box is not None else (0.0, 0.0)
    return features_from_gray(to_gray(photo.image), 1.0 / photo.scale, offset, max_features)
