"""kornia's scale-space SIFT (``pyramid`` backend) run over a whole batch at once.

kornia's own ``forward`` keeps the best responses and describes keypoints one image at a time:
for every image of the batch it finds that image's keypoints of each octave with ``nonzero``
(a wait for the GPU) and launches the orientation and descriptor kernels for them alone. A
batch of 32 photos in 7 octaves is some 220 waits and about 13,000 small kernel launches, so the
GPU idles between them however big it is. Here the same stages of the same module (its pyramid,
its extrema and their refinement, its gradient atlas, orientation and descriptor) run per
octave over every image of the batch together: the keypoints of one octave are gathered into a
``(B, m)`` block padded to the image with the most, and the best responses of each image are
kept by one sort with no wait. What waits remain: kornia's detector, a few per octave (its
candidates' ``nonzero``, its refinement's ``any``); one small transfer per batch that tells
the host the block sizes; and the small smoothing kernel kornia's orientation copies to the
device once per block.

The features are kornia's: ``tests/engine/match/test_torch_sift.py`` holds them equal to those
of kornia's ``forward`` on the test photos. The stages are kornia's private methods, so the
``gpu`` extra pins kornia's minor version.
"""

from __future__ import annotations

import torch


def _best_per_image(
    b: torch.Tensor, response: torch.Tensor, keep: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For candidates of images ``b``: the row, the column (rank by response within its image;
    ``keep`` where it is not among that image's ``keep`` best) and the candidate, best first."""
    order = torch.argsort(response, descending=True, stable=True)
    order = order[torch.argsort(b[order], stable=True)]
    rows = b[order]
    # where each image's run begins in the sorted rows (``bincount`` would wait for the device)
    starts = torch.searchsorted(rows, rows)
    rank = torch.arange(len(order), device=b.device) - starts
    return rows, rank.clamp_max(keep), order


def detect(sift, img: torch.Tensor):
    """``_detect_with_pyramid`` of kornia's detector, the best responses kept in one sort."""
    from kornia.feature import laf_from_center_scale_ori

    if img.dtype != torch.float32 or img.shape[1] != 1 or sift.upright:
        raise ValueError("sift_batch takes float32 grey images, for a SIFT that orients")
    detector = sift.detector
    keep = detector.num_features
    bsz, device = img.shape[0], img.device
    pyramid = detector.scale_pyr(img)
    entries = []
    for octave, gaussian in enumerate(pyramid):
        found = detector._octave(gaussian, octave, None)
        if found[0].numel() == 0:
            continue
        b, layer, y, x, response, sigma, sx, sy = found
        pixel = 0.5 * float(2**octave)
        xy = torch.stack(
            [(x.to(gaussian.dtype) + sx) * pixel, (y.to(gaussian.dtype) + sy) * pixel], -1
        )
        entries.append((b, layer, xy, response, sigma, torch.full_like(layer, octave)))
    # one column past the end takes every candidate that is not kept, and is dropped
    responses = torch.zeros(bsz, keep + 1, device=device, dtype=img.dtype)
    lafs = torch.zeros(bsz, keep + 1, 2, 3, device=device, dtype=img.dtype)
    octaves = torch.full((bsz, keep + 1), -1, device=device, dtype=torch.long)
    levels = torch.full_like(octaves, -1)
    if entries:
        b, layer, xy, response, sigma, octave = (
            torch.cat(part) for part in zip(*entries, strict=True)
        )
        rows, cols, order = _best_per_image(b, response, keep)
        n = len(order)
        found = laf_from_center_scale_ori(
            xy[order].view(1, n, 2), (6.0 * sigma[order]).view(1, n, 1, 1)
        )
        lafs[rows, cols] = found[0]
        responses[rows, cols] = response[order]
        octaves[rows, cols] = octave[order]
        levels[rows, cols] = layer[order]
    cut = slice(0, keep)
    return responses[:, cut], lafs[:, cut], pyramid, octaves[:, cut], levels[:, cut]


def describe(
    sift, pyramid, lafs: torch.Tensor, octaves: torch.Tensor, levels: torch.Tensor, chunk: int
):
    """The orientation and RootSIFT descriptor kornia's descriptor module gives each LAF, every
    image of the batch at once per octave; at most ``chunk`` keypoints per kernel."""
    from kornia.feature import laf_is_valid, rotate_laf

    module = sift.descriptor
    b, n = lafs.shape[:2]
    dtype, device = lafs.dtype, lafs.device
    valid = laf_is_valid(lafs)
    eye = torch.eye(2, 3, device=device, dtype=dtype)
    safe = torch.where(valid.view(b, n, 1, 1), lafs, eye)
    n_oct = len(pyramid)
    bucket = torch.where(valid, octaves, n_oct)  # an octave per keypoint, n_oct: none
    counts = torch.zeros(b, n_oct + 1, device=device, dtype=torch.long)
    counts.scatter_add_(1, bucket, torch.ones_like(bucket))
    big = torch.iinfo(torch.long).max
    low = torch.full((n_oct + 1,), big, device=device).scatter_reduce(
        0, bucket.flatten(), levels.flatten(), "amin"
    )
    high = torch.full((n_oct + 1,), -1, device=device).scatter_reduce(
        0, bucket.flatten(), levels.flatten(), "amax"
    )
    on_host = torch.cat([counts.flatten(), low, high]).cpu()  # the one wait of the stage
    sizes = on_host[: counts.numel()].view(b, n_oct + 1)
    low_h, high_h = on_host[counts.numel() :].view(2, n_oct + 1)
    order = torch.argsort(bucket, dim=1, stable=True)
    starts = torch.cumsum(counts, 1) - counts
    oriented = torch.cat([safe, safe[:, :1]], 1)  # a dropped column again, for the padding
    descriptors = torch.zeros(b, n + 1, 128, device=device, dtype=dtype)
    rows = torch.arange(b, device=device)[:, None]
    per_chunk = max(1, chunk // b)
    for octave, images in enumerate(pyramid):
        m = int(sizes[:, octave].max())
        if m == 0:
            continue
        pixel = 0.5 * float(2**octave)
        first = int(low_h[octave])
        used = torch.arange(first, int(high_h[octave]) + 1, device=device)
        atlas = module._gradient_atlas(images, used, dtype)
        height = images.shape[-2]
        for start in range(0, m, per_chunk):
            slot = torch.arange(start, min(m, start + per_chunk), device=device)[None, :]
            real = slot < counts[:, octave : octave + 1]
            at = (starts[:, octave : octave + 1] + slot).clamp_max(n - 1)
            index = order.gather(1, at)
            layer = (levels.gather(1, index) - first).clamp(0, len(used) - 1)
            current = safe[rows, index]  # a copy (advanced indexing)
            current[..., :2, :] /= pixel
            turned = current.clone()
            turned[..., :2, :2] *= 0.75
            alpha = module._orientation(atlas, turned, layer, height)
            current = rotate_laf(current, torch.rad2deg(alpha).unsqueeze(-1))
            wide = current.clone()
            wide[..., :2, :2] *= 1.25
            target = torch.where(real, index, n)
            oriented[rows, target] = current * pixel
            descriptors[rows, target] = module._describe(atlas, wide, layer, height)
    oriented, descriptors = oriented[:, :n], descriptors[:, :n]
    out = torch.where(valid.view(b, n, 1, 1), oriented, lafs)
    return out, descriptors.masked_fill(~valid.unsqueeze(-1), 0.0)


def sift_batch(sift, img: torch.Tensor, chunk: int = 8192):
    """``(lafs, responses, descriptors)`` as kornia's ``SIFTFeatureScaleSpace(img)`` gives them
    (``pyramid`` backend, float32 ``(B, 1, H, W)`` images), descriptors in OpenCV's layout."""
    from kornia.feature import convert_sift_descriptor_layout, scale_laf

    responses, lafs, pyramid, octaves, levels = detect(sift, img)
    lafs = scale_laf(lafs, sift.scaling_coef)
    lafs, descs = describe(sift, pyramid, lafs, octaves, levels, chunk)
    return lafs, responses, convert_sift_descriptor_layout(descs, "kornia", sift.descriptor_layout)
