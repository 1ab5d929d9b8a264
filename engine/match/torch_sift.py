"""RootSIFT and ASMK* codes on a PyTorch device (a GPU where there is one), compatible with the
OpenCV path: the same codebook, the same inverted file, the same verifier.

Detection and description are kornia's scale-space SIFT (``SIFTFeatureScaleSpace``, its
``pyramid`` backend: 3-D DoG extrema refined in position and scale, one orientation each, the
descriptor integrated from the pyramid's gradients) with descriptors in OpenCV's layout. Measured
against OpenCV's SIFT on the same real photos at 640 px (``tests/engine/match/
test_torch_sift.py`` keeps this true): about 0.6 of the keypoints at the same place; there the
LAF scale is 3.0 × OpenCV's ``size``, the orientation is OpenCV's angle negated, and with the
same orientation the RootSIFT descriptors agree to a cosine of 0.99. Keypoints are converted to
OpenCV's conventions here, so weak geometric consistency and localization read them alike.

Word assignment is exact (the nearest of the codebook's words, a matrix product on the device),
and so is the aggregation of residuals per word; only the final bits come back to the host.
``torch`` and ``kornia`` are imported by this module alone (the ``gpu`` extra).
"""

from __future__ import annotations

import numpy as np
import torch

from engine.match.asmk import BITS, LocalCode
from engine.match.codebook import Codebook
from engine.match.describe import DEFAULT, DescribeSettings, LocalFeatures
from engine.match.torch_sift_batch import sift_batch

#: kornia's LAF scale (6 σ) over OpenCV's keypoint ``size`` for the same blob (measured: 3.0)
LAF_TO_OPENCV_SIZE = 1.0 / 3.0
#: photos described in one batch at most on a GPU (same-sized photos go through kornia
#: together); on a CPU one at a time: there a batch saves no launches worth having (8 photos at
#: 320×240: 0.87 s one by one, 1.16 s as one batch)
MAX_BATCH = 32
#: keypoints oriented and described by one kernel at most (``torch_sift_batch``): on a GPU
#: about 1 GB of temporaries; on a CPU what stays in cache (one 640-px photo: 231 ms, kornia's
#: own loop 227 ms)
GPU_CHUNK = 8192
CPU_CHUNK = 1024


def _kornia_sift(max_features: int, device: torch.device):
    import kornia.feature as KF

    return KF.SIFTFeatureScaleSpace(
        num_features=max_features,
        rootsift=True,
        device=device,
        descriptor_backend="pyramid",
        descriptor_layout="opencv",
    ).eval()


class TorchSift:
    """RootSIFT features and database codes of grey images, in batches, on ``device``."""

    def __init__(
        self,
        codebook: Codebook,
        settings: DescribeSettings = DEFAULT,
        device: str | torch.device = "cuda",
        cudnn: bool = True,
        batch: int | None = None,
        whole_batch: bool = True,
    ) -> None:
        self.device = torch.device(device)
        #: photos of one size described together (None: ``MAX_BATCH`` on CUDA, 1 elsewhere)
        self.batch = batch or (MAX_BATCH if self.device.type == "cuda" else 1)
        #: whether convolutions may use cuDNN (off: PyTorch's own kernels; ``bench_gpu_local``
        #: measures both — cuDNN sets up each new image shape and batch size once)
        self.cudnn = cudnn
        #: every image of a batch through each stage at once (``torch_sift_batch``); False:
        #: kornia's own ``forward``, which describes one image at a time (``bench_gpu_local``
        #: measures both)
        self.whole_batch = whole_batch
        self._chunk = GPU_CHUNK if self.device.type == "cuda" else CPU_CHUNK
        #: batches filled with blank images up to a power of two (on a GPU)
        self.pad_batches = self.device.type == "cuda"
        self.settings = settings
        self.codebook = codebook
        import kornia.feature as KF

        self._kf = KF
        self._sift = _kornia_sift(settings.max_features, self.device)
        self._centroids = torch.from_numpy(np.ascontiguousarray(codebook.centroids)).to(self.device)
        self._c2 = (self._centroids * self._centroids).sum(1)

    @torch.inference_mode()
    def features(self, grays: list[np.ndarray]) -> list[LocalFeatures]:
        """RootSIFT of each ``(H, W) uint8`` image, keypoints in that image's pixels and in
        OpenCV's conventions. Images of one size run as one batch."""
        out: list[LocalFeatures | None] = [None] * len(grays)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, g in enumerate(grays):
            groups.setdefault(g.shape, []).append(i)
        for idx in groups.values():
            for s in range(0, len(idx), self.batch):
                part = idx[s : s + self.batch]
                for i, f in zip(part, self._batch([grays[i] for i in part]), strict=True):
                    out[i] = f
        return out  # type: ignore[return-value]

    def _batch(self, grays: list[np.ndarray]) -> list[LocalFeatures]:
        n = len(grays)
        stack = np.stack(grays)
        if self.pad_batches and n & (n - 1):
            # blank images up to the next power of two: a GPU sets up each new shape once
            # (seconds), so a run sees at most six batch shapes per photo size, not 32; a blank
            # image has no extrema, so it costs its pyramid and changes no other image's result
            blank = np.zeros(((1 << n.bit_length()) - n, *stack.shape[1:]), stack.dtype)
            stack = np.concatenate([stack, blank])
        x = torch.from_numpy(stack).to(self.device, non_blocking=True)
        x = x.unsqueeze(1).float().div_(255.0)
        with torch.backends.cudnn.flags(enabled=self.cudnn):
            if self.whole_batch:
                lafs, responses, descs = sift_batch(self._sift, x, self._chunk)
            else:
                lafs, responses, descs = self._sift(x)
        centre = lafs[..., :, 2]
        scale = self._kf.get_laf_scale(lafs)[..., 0, 0]
        angle = self._kf.get_laf_orientation(lafs)[..., 0]
        size = scale * LAF_TO_OPENCV_SIZE
        kp = torch.stack(
            [centre[..., 0], centre[..., 1], size, torch.remainder(-angle, 360.0)], dim=-1
        )
        keep = (responses > 0) & (scale > 0)
        kp, desc, keep = kp.cpu().numpy(), descs.float().cpu().numpy(), keep.cpu().numpy()
        return [LocalFeatures(kp[b][keep[b]], desc[b][keep[b]]) for b in range(n)]

    @torch.inference_mode()
    def encode(self, feats: list[LocalFeatures]) -> list[LocalCode]:
        """Database codes (each descriptor to its nearest word) of several photos at once."""
        sizes = [len(f) for f in feats]
        total = sum(sizes)
        if total == 0:
            return [LocalCode.empty() for _ in feats]
        desc = torch.from_numpy(np.concatenate([f.desc for f in feats])).to(self.device)
        # nearest word: argmin ‖c‖² − 2 x·c (‖x‖² is the same for every word)
        nearest = torch.argmin(self._c2[None, :] - 2.0 * desc @ self._centroids.T, dim=1)
        photo = torch.repeat_interleave(
            torch.arange(len(feats), device=self.device),
            torch.tensor(sizes, device=self.device),
        )
        key = photo * self.codebook.size + nearest
        keys, inverse = torch.unique(key, return_inverse=True)
        agg = torch.zeros((len(keys), desc.shape[1]), device=self.device)
        agg.index_add_(0, inverse, desc - self._centroids[nearest])
        positive = (agg > 0).cpu().numpy()
        keys, nearest = keys.cpu().numpy(), nearest.cpu().numpy()
        bits = np.packbits(positive, axis=1)
        owner = keys // self.codebook.size
        codes = []
        start = 0
        for i, f in enumerate(feats):
            rows = np.flatnonzero(owner == i)
            fw = nearest[start : start + sizes[i]]
            start += sizes[i]
            if sizes[i] == 0:
                codes.append(LocalCode.empty())
                continue
            codes.append(
                LocalCode(
                    (keys[rows] % self.codebook.size).astype(np.uint16),
                    bits[rows].reshape(-1, BITS // 8),
                    fw.astype(np.uint16),
                    f.kp.astype(np.float16),
                )
            )
        return codes
