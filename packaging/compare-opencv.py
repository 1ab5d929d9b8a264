"""Does the slim OpenCV wheel compute what the stock one does? SIFT and findHomography, real photos.

    python packaging/compare-opencv.py run OUT.npz [IMAGE ...]   # in each environment
    python packaging/compare-opencv.py compare STOCK.npz SLIM.npz

``run`` needs only numpy, Pillow and cv2. Default images: tests/data/*.jpg and
resources/samples/*.jpg. Photos are decoded and downsized with Pillow (as the engine does),
so both wheels see the same pixels, then, with the engine's settings (engine/match):

* SIFT (``nfeatures=1000, contrastThreshold=0.01``) on each photo, and on its centre crop
  enlarged with INTER_CUBIC (how a small query box is described);
* ``findHomography`` with USAC_MAGSAC (the engine's verifier) and RANSAC on the ratio-test
  matches of each sample pair (objNN_0 → objNN_1) and of each photo against a copy warped
  with a known homography;
* ``findHomography`` on fixed correspondences (a known homography plus 30 % outliers),
  the same input for both wheels whatever SIFT gives.

``VERIFY_NO_IPP=1`` switches Intel IPP off (the stock wheel uses it; the slim one has none).
"""

from __future__ import annotations

import glob
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MAX_SIDE = 1024  # the engine's working size for local features


def _gray(path):
    from PIL import Image

    im = Image.open(path).convert("RGB")
    im.thumbnail((MAX_SIDE, MAX_SIDE), Image.BILINEAR)
    return np.asarray(im.convert("L"))


def _sift(cv2, gray):
    s = cv2.SIFT_create(nfeatures=1000, contrastThreshold=0.01)
    kps, desc = s.detectAndCompute(np.ascontiguousarray(gray), None)
    kp = np.array([(k.pt[0], k.pt[1], k.size, k.angle, k.response) for k in kps], np.float32)
    desc = desc if desc is not None else np.zeros((0, 128), np.float32)
    return kp.reshape(-1, 5), desc


def _ratio(qd, pd, ratio=0.8):
    """Lowe's ratio test in NumPy (no cv2): index pairs (qi, pi)."""
    if len(qd) < 1 or len(pd) < 2:
        return np.zeros(0, int), np.zeros(0, int)
    d = np.sqrt(np.maximum((qd**2).sum(1)[:, None] + (pd**2).sum(1)[None] - 2 * qd @ pd.T, 0))
    order = np.argsort(d, axis=1)[:, :2]
    rows = np.arange(len(d))
    ok = d[rows, order[:, 0]] < ratio * d[rows, order[:, 1]]
    return np.flatnonzero(ok), order[ok, 0]


def _homographies(cv2, q, p, name, out, thr):
    for label, method in (("magsac", cv2.USAC_MAGSAC), ("ransac", cv2.RANSAC)):
        cv2.setRNGSeed(0)
        if len(q) < 4:
            H, mask = None, None
        else:
            H, mask = cv2.findHomography(
                q.astype(np.float32),
                p.astype(np.float32),
                method,
                thr,
                maxIters=2000,
                confidence=0.999,
            )
        out[f"H.{name}.{label}"] = np.zeros((3, 3)) if H is None else H
        out[f"inliers.{name}.{label}"] = (
            np.zeros(0, np.uint8) if mask is None else mask.ravel().astype(np.uint8)
        )


def run(dest, images):
    import cv2

    cv2.setNumThreads(1)  # the engine's match workers do this
    if os.environ.get("VERIFY_NO_IPP") == "1":
        cv2.ipp.setUseIPP(False)
    out = {"version": np.array(cv2.__version__), "ipp": np.array(cv2.ipp.useIPP())}
    feats = {}
    for path in images:
        name = os.path.splitext(os.path.basename(path))[0]
        g = _gray(path)
        kp, desc = _sift(cv2, g)
        out[f"kp.{name}"], out[f"desc.{name}"] = kp, desc
        feats[name] = (g, kp, desc)
        h, w = g.shape
        crop = g[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3]
        crop = cv2.resize(
            crop, (crop.shape[1] * 2, crop.shape[0] * 2), interpolation=cv2.INTER_CUBIC
        )
        out[f"kp.{name}.crop"], out[f"desc.{name}.crop"] = _sift(cv2, crop)
        # the photo against a copy warped with a known homography
        src = np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]])
        dst = src + np.float32(
            [
                [0.06 * w, 0.04 * h],
                [-0.05 * w, 0.08 * h],
                [-0.03 * w, -0.06 * h],
                [0.04 * w, -0.03 * h],
            ]
        )
        H0 = cv2.getPerspectiveTransform(src, dst)
        warped = cv2.warpPerspective(g, H0, (w, h))
        wkp, wdesc = _sift(cv2, warped)
        qi, pi = _ratio(desc, wdesc)
        _homographies(cv2, kp[qi, :2], wkp[pi, :2], f"{name}.warp", out, 3.0)
    for name in sorted(feats):  # the sample pairs: objNN_0 -> objNN_1
        if name.endswith("_0") and name[:-1] + "1" in feats:
            _g0, kp0, d0 = feats[name]
            g1, kp1, d1 = feats[name[:-1] + "1"]
            qi, pi = _ratio(d0, d1)
            thr = max(4.0, 0.01 * max(g1.shape))
            _homographies(cv2, kp0[qi, :2], kp1[pi, :2], f"{name[:-2]}.pair", out, thr)
    rng = np.random.default_rng(0)  # fixed correspondences: the same input for both wheels
    q = rng.uniform(0, 800, (300, 2)).astype(np.float32)
    Hk = np.array([[1.1, 0.05, 20], [-0.03, 0.95, 35], [2e-4, -1e-4, 1]])
    p = cv2.perspectiveTransform(q.reshape(-1, 1, 2), Hk).reshape(-1, 2)
    p += rng.normal(0, 0.7, p.shape).astype(np.float32)
    bad = rng.random(len(p)) < 0.3
    p[bad] = rng.uniform(0, 800, (bad.sum(), 2))
    _homographies(cv2, q, p, "fixed", out, 3.0)
    np.savez_compressed(dest, **out)
    print(
        f"{dest}: OpenCV {cv2.__version__}, IPP {'on' if cv2.ipp.useIPP() else 'off'}, "
        f"{len(images)} photos"
    )


def compare(a_path, b_path):
    a, b = np.load(a_path), np.load(b_path)
    print(
        f"A: OpenCV {a['version']} (IPP {'on' if a['ipp'] else 'off'})   "
        f"B: OpenCV {b['version']} (IPP {'on' if b['ipp'] else 'off'})"
    )
    keys = sorted(set(a.files) & set(b.files) - {"version", "ipp"})
    kp_keys = [k for k in keys if k.startswith("kp.")]
    same_kp = same_desc = total = rows_same = 0
    worst = np.zeros(5)
    worst_desc = 0.0
    for k in kp_keys:
        d = "desc." + k[3:]
        x, y = a[k], b[k]
        total += len(x)
        if x.shape != y.shape:
            print(f"  {k}: {len(x)} vs {len(y)} keypoints")
            continue
        same_kp += np.array_equal(x, y)
        same_desc += np.array_equal(x, y) and np.array_equal(a[d], b[d])
        worst = np.maximum(worst, np.abs(x - y).max(0) if len(x) else 0)
        dd = np.abs(a[d] - b[d])
        rows_same += int((dd.max(1) == 0).sum()) if len(dd) else 0
        worst_desc = max(worst_desc, float(dd.max()) if dd.size else 0.0)
    print(
        f"SIFT: {len(kp_keys)} images (photos and enlarged crops), {total} keypoints: "
        f"keypoints bit-identical in {same_kp}/{len(kp_keys)} images, keypoints and "
        f"descriptors in {same_desc}/{len(kp_keys)}; descriptors bit-identical "
        f"{rows_same}/{total} (largest difference {worst_desc:g} on 0-255); keypoints in the "
        f"same order, largest difference: position {max(worst[:2]):.2g} px, size "
        f"{worst[2]:.2g} px, angle {worst[3]:.2g} deg, response {worst[4]:.2g}"
    )
    h_keys = [k for k in keys if k.startswith("H.")]
    same_h = same_in = 0
    worst = 0.0
    for k in h_keys:  # H normalised to H[2, 2] = 1
        x, y = a[k] / (a[k][2, 2] or 1), b[k] / (b[k][2, 2] or 1)
        i = "inliers." + k[2:]
        same_in += np.array_equal(a[i], b[i])
        if np.array_equal(a[k], b[k]):
            same_h += 1
        else:
            worst = max(worst, float(np.abs(x - y).max()))
            if not np.array_equal(a[i], b[i]):
                print(
                    f"  {k}: max |dH| {np.abs(x - y).max():.3g}, inliers "
                    f"{int(a[i].sum())} vs {int(b[i].sum())}"
                )
    print(
        f"findHomography: {len(h_keys)} fits (USAC_MAGSAC and RANSAC); H bit-identical in "
        f"{same_h}/{len(h_keys)}, inlier masks identical in {same_in}/{len(h_keys)}"
        + (f", largest difference of a normalised H entry {worst:.3g}" if worst else "")
    )
    return 0 if same_desc == len(kp_keys) and same_h == len(h_keys) else 1


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "run":
        imgs = sys.argv[3:] or sorted(
            glob.glob(os.path.join(ROOT, "tests", "data", "*.jpg"))
            + glob.glob(os.path.join(ROOT, "resources", "samples", "*.jpg"))
        )
        run(sys.argv[2], imgs)
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(__doc__)
