#!/usr/bin/env bash
# Build a slim OpenCV wheel for the engine: packaging/build-slim-opencv.sh [OUT_DIR]
#
# Starts from the PyPI source distribution of opencv-python-headless (same version as the stock
# wheel) and builds only what the engine calls: core, imgproc, features2d (SIFT, BFMatcher),
# flann (required by calib3d), calib3d (findHomography with RANSAC / USAC_MAGSAC) and the
# Python bindings. Left out: videoio/ffmpeg, highgui, dnn, ml, objdetect, photo, stitching,
# video, gapi, imgcodecs (Pillow decodes), OpenBLAS/LAPACK, OpenCL, IPP, ITT.
# The result is a single self-contained cv2.abi3.so: it links only libc, libm, libstdc++,
# libgcc_s, so there is no opencv_python_headless.libs/ folder at all. A 6 MB wheel (16 MB
# installed) instead of the stock wheel's 137 MB installed; the standard desktop bundle uses it
# (packaging/build.sh takes the newest dist/opencv_python_headless-*+slim*.whl). About 12 min on
# 2 cores (705 s of compiling, measured) plus the 95 MB sdist download; the results match the
# stock wheel (packaging/compare-opencv.py, figures in packaging/README.md).
#
# Environment knobs:
#   OPENCV_PY_VERSION  sdist version to build (default 4.10.0.84)
#   JOBS               parallel compile jobs (default: nproc)
#   WORK_DIR           scratch dir for the sdist and the build tree (default: build/slim-opencv)
#   WITH_IMGCODECS=1   also build imgcodecs with bundled libjpeg-turbo + libpng (cv2.imread /
#                      imencode / imdecode for JPEG/PNG; about +1.5 MB). Off by default: the
#                      shipped engine decodes with Pillow; only scripts/sift_ransac_baseline.py
#                      calls cv2.imread.
#   PYTHON             interpreter the wheel is built for (default: python3). The wheel holds a
#                      stable-ABI (abi3) module, so it also loads on newer CPython versions.
#
# Install the result with:  pip install --force-reinstall --no-deps <printed wheel path>
# (uninstall any other opencv-python* first: they all own the cv2 package).
set -euo pipefail

VERSION=${OPENCV_PY_VERSION:-4.10.0.84}
JOBS=${JOBS:-$(nproc)}
PYTHON=${PYTHON:-python3}
WORK=${WORK_DIR:-$PWD/build/slim-opencv}
OUT=${1:-$PWD/dist}
mkdir -p "$WORK" "$OUT"
WORK=$(cd "$WORK" && pwd)
OUT=$(cd "$OUT" && pwd)

# 1. A build environment of its own, with the build requirements of the sdist's pyproject.toml
#    (setuptools pinned as upstream pins it; cmake < 4 because OpenCV 4.10's 3rdparty CMake files
#    predate CMake 4's removal of pre-3.5 compatibility).
if [ ! -x "$WORK/venv/bin/python" ]; then
    "$PYTHON" -m venv "$WORK/venv"
fi
VPY="$WORK/venv/bin/python"
"$VPY" -m pip install --quiet --disable-pip-version-check \
    "numpy>=2,<3" "scikit-build>=0.17" "setuptools==59.2.0" "wheel<0.46" "cmake>=3.24,<4" ninja

# 2. The sdist (95 MB) from PyPI.
SDIST="$WORK/opencv-python-headless-$VERSION.tar.gz"
if [ ! -f "$SDIST" ]; then
    "$VPY" -m pip download --quiet --disable-pip-version-check --no-deps \
        --no-binary opencv-python-headless "opencv-python-headless==$VERSION" -d "$WORK"
fi
SRC="$WORK/opencv-python-headless-$VERSION"
if [ ! -d "$SRC" ]; then
    tar -xzf "$SDIST" -C "$WORK"
fi

# The typing-stub generator of OpenCV 4.10 always declares the G-API aliases (GMat, GProtoArg...)
# and gives up on the whole cv2/typing package when gapi is not built, and setup.py then fails on
# the missing py.typed. Skip the predefined aliases that cannot resolve (only G-API ones here).
"$VPY" - "$SRC/opencv/modules/python/src2/typing_stubs_generation/generation.py" <<'PY'
import sys
path = sys.argv[1]
src = open(path).read()
old = """    for node in PREDEFINED_TYPES.values():
        node.resolve(root)
"""
new = """    # slim build: leave out predefined aliases of modules that are not built (G-API), and the
    # aliases that refer to them
    def _refs(node):
        if isinstance(node, AliasRefTypeNode):
            yield node.ctype_name
        for child in getattr(node, "items", None) or ():
            yield from _refs(child)
        for attr in ("value", "positive_branch_type", "negative_branch_type"):
            if getattr(node, attr, None) is not None:
                yield from _refs(getattr(node, attr))

    _skip = set()
    for name, node in PREDEFINED_TYPES.items():
        try:
            node.resolve(root)
        except TypeResolutionError:
            _skip.add(name)
    while True:
        more = {n for n, t in PREDEFINED_TYPES.items() if n not in _skip and set(_refs(t)) & _skip}
        if not more:
            break
        _skip |= more
    for name, node in PREDEFINED_TYPES.items():
        if name in _skip:
            continue
"""
if new not in src:
    assert old in src, "generation.py changed: review the slim-build patch"
    src = src.replace(old, new)
    src = src.replace("from .predefined_types import PREDEFINED_TYPES",
                      "from .predefined_types import PREDEFINED_TYPES\n"
                      "from .nodes.type_node import TypeResolutionError", 1)
    open(path, "w").write(src)
PY

# 3. Which modules, and nothing else. setup.py passes its own -D options first; CMAKE_ARGS is
#    appended after them by scikit-build, so the values here win.
MODULES=core,imgproc,features2d,flann,calib3d,python3
CODECS="-DWITH_JPEG=OFF -DWITH_PNG=OFF"
if [ "${WITH_IMGCODECS:-0}" = 1 ]; then
    MODULES=$MODULES,imgcodecs
    CODECS="-DWITH_JPEG=ON -DBUILD_JPEG=ON -DWITH_PNG=ON -DBUILD_PNG=ON"
fi
CMAKE_ARGS="
 -DBUILD_LIST=$MODULES
 -DBUILD_SHARED_LIBS=OFF -DBUILD_ZLIB=ON
 -DWITH_IPP=OFF -DBUILD_IPP_IW=OFF
 -DWITH_LAPACK=OFF -DWITH_EIGEN=OFF
 -DWITH_OPENCL=OFF -DWITH_OPENCLAMDFFT=OFF -DWITH_OPENCLAMDBLAS=OFF -DWITH_VA=OFF -DWITH_VA_INTEL=OFF
 -DWITH_ITT=OFF -DCV_TRACE=OFF
 -DWITH_FFMPEG=OFF -DWITH_GSTREAMER=OFF -DWITH_V4L=OFF -DWITH_1394=OFF -DWITH_OBSENSOR=OFF
 -DVIDEOIO_ENABLE_PLUGINS=OFF -DHIGHGUI_ENABLE_PLUGINS=OFF
 $CODECS -DWITH_TIFF=OFF -DWITH_WEBP=OFF -DWITH_OPENJPEG=OFF -DWITH_JASPER=OFF
 -DWITH_OPENEXR=OFF -DBUILD_OPENEXR=OFF -DWITH_AVIF=OFF -DWITH_SPNG=OFF -DWITH_GDAL=OFF -DWITH_GDCM=OFF
 -DWITH_IMGCODEC_HDR=OFF -DWITH_IMGCODEC_SUNRASTER=OFF -DWITH_IMGCODEC_PXM=OFF -DWITH_IMGCODEC_PFM=OFF
 -DWITH_PROTOBUF=OFF -DBUILD_PROTOBUF=OFF -DWITH_FLATBUFFERS=OFF -DWITH_QUIRC=OFF -DWITH_ADE=OFF
 -DWITH_TBB=OFF -DWITH_OPENMP=OFF -DWITH_PTHREADS_PF=ON
 -DWITH_GTK=OFF -DWITH_QT=OFF -DWITH_WAYLAND=OFF -DWITH_OPENGL=OFF -DWITH_VTK=OFF -DWITH_CUDA=OFF
 -DBUILD_JAVA=OFF -DBUILD_opencv_java=OFF -DBUILD_TESTS=OFF -DBUILD_PERF_TESTS=OFF
 -DBUILD_EXAMPLES=OFF -DBUILD_opencv_apps=OFF -DBUILD_DOCS=OFF
 -DCMAKE_MODULE_LINKER_FLAGS=-Wl,--strip-all
"
export CMAKE_ARGS
export ENABLE_HEADLESS=1 ENABLE_CONTRIB=0
export SKBUILD_BUILD_OPTIONS="-j$JOBS"

start=$(date +%s)
(cd "$SRC" && rm -rf dist && "$VPY" setup.py bdist_wheel)
end=$(date +%s)

BUILT=$(ls -t "$SRC"/dist/opencv_python_headless-*.whl | head -1)

# 4. Tidy the wheel: drop the Haar/LBP cascade XMLs (9.6 MB, for objdetect, which is not built),
#    mark the version as a local "+slim" build, and tag it abi3 like the stock wheel (the module
#    is built against the stable ABI, PYTHON3_LIMITED_API=ON, so one wheel serves CPython 3.7+).
TIDY="$WORK/tidy"
rm -rf "$TIDY" && mkdir -p "$TIDY"
"$VPY" -m wheel unpack -d "$TIDY" "$BUILT" >/dev/null
"$VPY" - "$TIDY" "$VERSION" <<'PY'
import glob, os, re, shutil, sys
tidy, version = sys.argv[1], sys.argv[2]
(root,) = glob.glob(os.path.join(tidy, "opencv_python_headless-*"))
for xml in glob.glob(os.path.join(root, "cv2", "data", "*.xml")):
    os.remove(xml)
(info,) = glob.glob(os.path.join(root, "*.dist-info"))
meta = os.path.join(info, "METADATA")
text = open(meta).read()
text = re.sub(r"^Version: .*$", f"Version: {version}+slim", text, count=1, flags=re.M)
open(meta, "w").write(text)
new_info = os.path.join(root, f"opencv_python_headless-{version}+slim.dist-info")
os.rename(info, new_info)
os.remove(os.path.join(new_info, "RECORD"))
wheel_meta = os.path.join(new_info, "WHEEL")
tags = re.sub(r"^Tag: cp\d+-cp\d+-", "Tag: cp37-abi3-", open(wheel_meta).read(), flags=re.M)
open(wheel_meta, "w").write(tags)
new_root = os.path.join(tidy, f"opencv_python_headless-{version}+slim")
os.rename(root, new_root)
PY
mkdir -p "$TIDY/packed"
"$VPY" -m wheel pack -d "$TIDY/packed" "$TIDY/opencv_python_headless-$VERSION+slim" >/dev/null
WHEEL_NAME=$(basename "$(ls "$TIDY"/packed/*.whl)")
rm -f "$OUT/$WHEEL_NAME"
cp "$TIDY/packed/$WHEEL_NAME" "$OUT/"
WHEEL="$OUT/$WHEEL_NAME"

# 5. Smoke test in a throw-away venv: every OpenCV call family the engine uses must be present.
SMOKE="$WORK/smoke-venv"
rm -rf "$SMOKE" && "$PYTHON" -m venv "$SMOKE"
"$SMOKE/bin/python" -m pip install --quiet --disable-pip-version-check "numpy>=2" "$WHEEL"
(cd "$WORK" && "$SMOKE/bin/python" - <<'PY'
import numpy as np
import cv2

cv2.setNumThreads(1)
g = np.zeros((240, 320), np.uint8)
cv2.ellipse(g, (160, 120), (80, 40), 20, 0, 360, 200, -1)
cv2.circle(g, (60, 60), 20, 255, -1)
cv2.fillPoly(g, [np.int32([[250, 30], [300, 40], [290, 100]])], 120)
g = cv2.GaussianBlur(g, (5, 5), 0)
kp, d = cv2.SIFT_create(nfeatures=500, contrastThreshold=0.01).detectAndCompute(g, None)
assert len(kp) > 0 and d.shape[1] == 128
cv2.BFMatcher(cv2.NORM_L2).knnMatch(d, d, k=2)
src = np.float32([[0, 0], [319, 0], [319, 239], [0, 239]])
H0 = cv2.getPerspectiveTransform(src, src + np.float32([[5, 3], [-4, 6], [-2, -5], [3, -2]]))
q = np.float32([k.pt for k in kp])
p = cv2.perspectiveTransform(q.reshape(-1, 1, 2), H0).reshape(-1, 2)
for method in (cv2.USAC_MAGSAC, cv2.RANSAC):
    H, mask = cv2.findHomography(q, p, method, 3.0, maxIters=2000, confidence=0.999)
    assert H is not None and np.allclose(H / H[2, 2], H0 / H0[2, 2], atol=1e-3)
w = cv2.warpPerspective(g, H0, (320, 240))
for interp in (cv2.INTER_AREA, cv2.INTER_LINEAR, cv2.INTER_CUBIC):
    cv2.resize(w, (160, 120), interpolation=interp)
cv2.dct(cv2.resize(g, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32))
cv2.Sobel(g, cv2.CV_32F, 1, 0)
m = (g > 100).astype(np.uint8)
cs, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
c = max(cs, key=cv2.contourArea)
cv2.convexHull(c), cv2.isContourConvex(c), cv2.approxPolyDP(c, 1.0, True)
cv2.pointPolygonTest(c, (160.0, 120.0), True)
cv2.intersectConvexConvex(src, src + 10)
cv2.connectedComponents(m), cv2.connectedComponentsWithStats(m)
cv2.erode(m, np.ones((5, 5), np.uint8)), cv2.distanceTransform(m, cv2.DIST_L2, 5)
rgb = cv2.cvtColor(cv2.cvtColor(g, cv2.COLOR_GRAY2RGB), cv2.COLOR_RGB2BGR)
cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
gm = np.full(g.shape, cv2.GC_BGD, np.uint8)
gm[60:180, 80:240] = cv2.GC_PR_FGD
gm[100:140, 140:180] = cv2.GC_FGD
cv2.grabCut(rgb, gm, None, np.zeros((1, 65)), np.zeros((1, 65)), 2, cv2.GC_INIT_WITH_MASK)
try:
    cv2.resize(np.zeros((0, 0), np.uint8), (1, 1))
    raise SystemExit("cv2.error not raised")
except cv2.error:
    pass
print("smoke test: ok (OpenCV %s, %d SIFT keypoints)" % (cv2.__version__, len(kp)))
PY
)
rm -rf "$SMOKE"

echo "build time: $((end - start)) s"
echo "wheel: $WHEEL"
echo "wheel size: $(du -h "$WHEEL" | cut -f1) ($(stat -c %s "$WHEEL") bytes)"
