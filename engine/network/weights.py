"""Optional ImageNet backbone weights: downloaded only when the user asks, checked, stored.

torchvision names its weight files ``<name>-<first hex digits of their SHA-256>.pth``; the
download is refused unless the file's SHA-256 starts with those digits (or equals an explicit
``sha256``). Files are written to a temporary name and renamed only once checked, so a failed
or refused download leaves nothing behind. Stored under ``<data dir>/imagenet/``, where
``ResNetBackbone(pretrained="cache")`` looks besides the torch cache.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from engine.errors import VisualSearchError
from engine.paths import home


class DownloadError(VisualSearchError):
    """A download that failed or was refused."""


def weights_dir() -> Path:
    return home() / "imagenet"


def expected_prefix(filename: str) -> str | None:
    """The hash prefix in a torchvision file name (``resnet50-11ad3fa6.pth`` → ``11ad3fa6``)."""
    m = re.search(r"-([0-9a-f]{6,64})\.[a-z]+$", filename)
    return m.group(1) if m else None


def download(
    url: str,
    dest_dir: str | os.PathLike | None = None,
    sha256: str | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    timeout: float = 30.0,
) -> Path:
    """Fetch ``url`` into ``dest_dir`` after checking its SHA-256; returns the stored path."""
    dest = Path(dest_dir) if dest_dir else weights_dir()
    name = os.path.basename(urlparse(url).path) or "weights.bin"
    want = (sha256 or expected_prefix(name) or "").lower()
    if not want:
        raise DownloadError(f"{name}: no checksum to verify the download against")
    dest.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest, prefix=f".{name}.", suffix=".part")
    h = hashlib.sha256()
    try:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp, os.fdopen(fd, "wb") as f:
                total = int(resp.headers.get("Content-Length") or 0)
                done = 0
                while chunk := resp.read(1 << 16):
                    if should_stop is not None and should_stop():
                        raise DownloadError(f"{name}: download cancelled")
                    f.write(chunk)
                    h.update(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total, f"downloading {name}")
        except urllib.error.HTTPError as e:
            raise DownloadError(f"{url}: the server answered {e.code} {e.reason}") from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise DownloadError(
                f"{url}: cannot reach the server ({reason}); offline? The bundled model "
                "keeps working"
            ) from None
        digest = h.hexdigest()
        if not digest.startswith(want):
            raise DownloadError(
                f"{name}: checksum mismatch (expected {want[:16]}…, got {digest[:16]}…); "
                "the file was not kept"
            )
        final = dest / name
        os.replace(tmp, final)
        return final
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


#: published sizes (MB) of torchvision's ResNet ImageNet checkpoints, for torchvision versions
#: whose weights metadata does not carry ``_file_size``
#: torchvision's ImageNet weights of each backbone: where they are published and their size in
#: MB (a test checks both against torchvision's own tables); torch is not needed to read them
IMAGENET: dict[str, tuple[str, float]] = {
    "resnet18": ("https://download.pytorch.org/models/resnet18-f37072fd.pth", 44.661),
    "resnet34": ("https://download.pytorch.org/models/resnet34-b627a593.pth", 83.275),
    "resnet50": ("https://download.pytorch.org/models/resnet50-11ad3fa6.pth", 97.79),
    "resnet101": ("https://download.pytorch.org/models/resnet101-cd907fc2.pth", 170.53),
}
#: the backbones every architecture can be built on
BACKBONE_NAMES = tuple(IMAGENET)


def _filename(backbone: str) -> str:
    if backbone not in IMAGENET:
        raise DownloadError(f"unknown backbone {backbone!r}")
    return os.path.basename(urlparse(IMAGENET[backbone][0]).path)


def cached_weights_path(backbone: str) -> str:
    """Where torch keeps (or would keep) the ImageNet weights of ``backbone``: its hub's
    ``checkpoints`` folder (``$TORCH_HOME/hub``, else ``$XDG_CACHE_HOME/torch/hub``, else
    ``~/.cache/torch/hub``, as ``torch.hub.get_dir`` finds it)."""
    cache = os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    torch_home = os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(cache, "torch")))
    return os.path.join(torch_home, "hub", "checkpoints", _filename(backbone))


def stored_weights_path(backbone: str) -> Path:
    """Where ``visual-search`` keeps ImageNet weights the user downloaded with it."""
    return weights_dir() / _filename(backbone)


@dataclass(frozen=True)
class WeightsInfo:
    """What downloading a backbone's ImageNet weights means: from where, and how much."""

    backbone: str
    url: str
    size_mb: float | None  # None: the size is not known

    @property
    def host(self) -> str:
        return urlparse(self.url).netloc

    @property
    def filename(self) -> str:
        return os.path.basename(urlparse(self.url).path)


def weights_info(backbone: str) -> WeightsInfo:
    """Source and size of torchvision's ImageNet weights for ``backbone`` (e.g. ``resnet50``)."""
    if backbone not in IMAGENET:
        raise DownloadError(f"unknown backbone {backbone!r}")
    url, size = IMAGENET[backbone]
    return WeightsInfo(backbone, url, size)


def weights_present(backbone: str) -> bool:
    """True when ``backbone``'s ImageNet weights are already on this machine (ours or torch's)."""
    return stored_weights_path(backbone).is_file() or os.path.isfile(cached_weights_path(backbone))


def download_backbone(backbone: str, **kwargs) -> Path:
    """Download torchvision's ImageNet weights for ``backbone`` (e.g. ``resnet50``)."""
    if backbone not in IMAGENET:
        raise DownloadError(f"unknown backbone {backbone!r}")
    return download(IMAGENET[backbone][0], **kwargs)
