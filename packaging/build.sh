#!/usr/bin/env bash
# Build the one-folder bundles and check them: packaging/build.sh [standard|train|both] [OUT_DIR]
#
#   standard  OUT_DIR/visual-search        no PyTorch, no FAISS (ONNX Runtime, NumPy search),
#                                          OpenCV from the slim wheel
#   train     OUT_DIR/visual-search-train  with PyTorch and its CUDA libraries (training)
#   both      (default) one, then the other.  OUT_DIR defaults to dist.
#
# Each bundle is built with PyInstaller in a virtual environment of its own (created and filled
# from PyPI on first use; the bundle's code is this source tree), then:
#   * `visual-search --self-test` runs from an empty temporary directory with PYTHONPATH unset
#     (indexes the bundled sample photos, searches one, draws a heatmap, prints a JSON line);
#   * the window is opened with VISUAL_SEARCH_STARTUP_PROBE (entry.py), which prints the
#     seconds from launch to the first paint of the main window and quits: on a virtual X
#     server when Xvfb is installed (plus the same measured from outside with xdotool when it
#     is), else on Qt's offscreen platform; with an empty library and settings;
#   * the sizes are printed: the folder (du), and the folder as `tar czf` (gzip -6), the usual
#     download; XZ=1 also measures `tar cJf` (xz -6, slower).
#
# Environment:
#   VENV_STANDARD, VENV_TRAIN  the build environments (default build/venv-standard,
#                              build/venv-train); an existing one is used as it is
#   SLIM_OPENCV_WHEEL          the slim OpenCV wheel for the standard bundle (default: the newest
#                              dist/opencv_python_headless-*+slim*.whl; without one, the stock
#                              wheel is used and a warning printed; build it with
#                              packaging/build-slim-opencv.sh dist, about 12 min on 2 cores)
#   PYTHON                     interpreter for new environments (default python3)
#   XZ=1                       also measure the xz-compressed size
#   VISUAL_SEARCH_OFFSCREEN=1  time the window on Qt's offscreen platform even where Xvfb is
#   VISUAL_SEARCH_STRIP=0      keep the libraries' symbol tables (spec_common.py)
# pip's own settings apply to new environments (PIP_INDEX_URL, PIP_EXTRA_INDEX_URL...): e.g. a
# training bundle without CUDA from an environment made with PyTorch's CPU wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WHICH=${1:-both}
OUT=${2:-dist}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
case "$WHICH" in standard | train | both) ;; *)
    echo "usage: packaging/build.sh [standard|train|both] [OUT_DIR]" >&2
    exit 2
    ;;
esac

log() { printf '\n== %s\n' "$*"; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB (%.1f MiB)", b / 1e6, b / 1048576 }'; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }

# A build environment: the project's dependencies (plus EXTRA), PyInstaller, and not the
# project itself, so that the bundle takes engine/ and app/ from this tree.
make_venv() { # VENV EXTRA [WHEEL...]
    local venv=$1 extra=$2
    shift 2
    if [ -x "$venv/bin/pyinstaller" ]; then
        return
    fi
    log "creating $venv"
    "$PYTHON" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "$@" "$ROOT$extra" "pyinstaller>=6"
    "$venv/bin/python" -m pip uninstall --quiet --yes visual-search
}

sizes() { # DIR
    local dir=$1 name
    name=$(basename "$dir")
    local folder gz
    folder=$(du -sb "$dir" | cut -f1)
    tar czf "$OUT/$name.tar.gz" -C "$(dirname "$dir")" "$name"
    gz=$(stat -c %s "$OUT/$name.tar.gz")
    printf 'size of %s: folder %s, tar czf %s' "$name" "$(mb "$folder")" "$(mb "$gz")"
    if [ "${XZ:-0}" = 1 ]; then
        tar cJf "$OUT/$name.tar.xz" -C "$(dirname "$dir")" "$name"
        local xz
        xz=$(stat -c %s "$OUT/$name.tar.xz")
        printf ', tar cJf %s' "$(mb "$xz")"
    fi
    printf '\n'
}

self_test() { # APP
    local app=$1 t0
    echo "load average before the self-test: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null) ($(nproc) cores)"
    t0=$(date +%s.%N)
    (cd "$(mktemp -d)" && env -u PYTHONPATH "$app" --self-test)
    echo "self-test passed in $(since "$t0") s (the whole process, launch to exit)"
}

# Drop the bundle's files from the page cache (posix_fadvise DONTNEED, no root needed), so
# that the next launch reads them from disk as after a reboot (the system's own libraries stay).
evict() { # DIR
    command -v python3 >/dev/null || return 0
    python3 - "$1" <<'PY'
import os, sys
for root, _dirs, files in os.walk(sys.argv[1]):
    for f in files:
        try:
            fd = os.open(os.path.join(root, f), os.O_RDONLY)
        except OSError:
            continue
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
PY
}

# Seconds from launch to the main window's first paint, three times: run 1 cold (the bundle's
# files evicted from the page cache first), runs 2 and 3 warm; with an empty library,
# settings and thumbnail cache.
window_time() { # APP
    local app=$1 home display="" xvfb_pid="" i
    home=$(mktemp -d)
    if command -v Xvfb >/dev/null && [ -z "${VISUAL_SEARCH_OFFSCREEN:-}" ]; then
        for display in :91 :92 :93 :94; do
            [ -e "/tmp/.X11-unix/X${display#:}" ] || break
        done
        Xvfb "$display" -screen 0 1600x1000x24 -nolisten tcp -noreset >/dev/null 2>&1 &
        xvfb_pid=$!
        sleep 1
    fi
    # the machine's load changes these times: say what it was
    echo "load average before the window runs: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null) ($(nproc) cores)"
    for i in 1 2 3; do
        if [ "$i" = 1 ]; then evict "$(dirname "$app")"; fi
        (
            cd "$home"
            export HOME=$home XDG_DATA_HOME=$home/data XDG_CONFIG_HOME=$home/config \
                XDG_CACHE_HOME=$home/cache
            if [ -n "$xvfb_pid" ]; then
                export DISPLAY=$display QT_QPA_PLATFORM=xcb
            else
                export QT_QPA_PLATFORM=offscreen
            fi
            out=$(VISUAL_SEARCH_STARTUP_PROBE=$(date +%s.%N) timeout 60 \
                env -u PYTHONPATH "$app" 2>&1) || true
            if grep -q startup_probe <<<"$out"; then
                echo "window ($QT_QPA_PLATFORM) run $i$([ "$i" = 1 ] && echo ' (cold)'): $(grep startup_probe <<<"$out")"
            else
                echo "window ($QT_QPA_PLATFORM) run $i: FAILED: $(tail -3 <<<"$out")"
            fi
        )
    done
    if [ -n "$xvfb_pid" ] && command -v xdotool >/dev/null; then
        # from outside: until xdotool sees a visible window titled visual-search larger than
        # the 360x160 "opening" window
        (
            cd "$home"
            export HOME=$home XDG_DATA_HOME=$home/data XDG_CONFIG_HOME=$home/config \
                XDG_CACHE_HOME=$home/cache DISPLAY=$display QT_QPA_PLATFORM=xcb
            t0=$(date +%s.%N)
            env -u PYTHONPATH "$app" >/dev/null 2>&1 &
            pid=$!
            seen=""
            for _ in $(seq 600); do
                for w in $(xdotool search --onlyvisible --name '^visual-search$' 2>/dev/null); do
                    width=$(xdotool getwindowgeometry "$w" 2>/dev/null |
                        sed -n 's/.*Geometry: \([0-9]*\)x.*/\1/p')
                    if [ "${width:-0}" -gt 400 ]; then seen=$(since "$t0"); fi
                done
                [ -n "$seen" ] && break
                sleep 0.02
            done
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
            if [ -n "$seen" ]; then
                echo "window (xcb, xdotool from outside): main window mapped $seen s after launch"
            else
                echo "window (xcb, xdotool from outside): no main window within 12 s"
            fi
        )
    fi
    if [ -n "$xvfb_pid" ]; then
        kill "$xvfb_pid" 2>/dev/null || true
        wait "$xvfb_pid" 2>/dev/null || true
    fi
    rm -rf "$home"
}

build() { # NAME SPEC VENV
    local name=$1 spec=$2 venv=$3 start end
    log "building $name with $spec ($("$venv/bin/python" -c 'import PyInstaller; print("PyInstaller", PyInstaller.__version__)'))"
    start=$(date +%s)
    "$venv/bin/pyinstaller" --noconfirm --clean --log-level WARN --distpath "$OUT/.pyi-$name" \
        --workpath "build/pyinstaller-$name" "packaging/$spec"
    rm -rf "${OUT:?}/$name"
    mv "$OUT/.pyi-$name/visual-search" "$OUT/$name"
    rmdir "$OUT/.pyi-$name"
    end=$(date +%s)
    echo "build time of $name: $((end - start)) s"
    local app="$OUT/$name/visual-search"
    self_test "$app"
    window_time "$app"
    sizes "$OUT/$name"
}

if [ "$WHICH" = standard ] || [ "$WHICH" = both ]; then
    VENV=${VENV_STANDARD:-build/venv-standard}
    WHEEL=${SLIM_OPENCV_WHEEL:-$(ls -t "$OUT"/opencv_python_headless-*+slim*.whl dist/opencv_python_headless-*+slim*.whl 2>/dev/null | head -1 || true)}
    if [ -n "$WHEEL" ]; then
        make_venv "$VENV" "" "$WHEEL"
    else
        echo "warning: no slim OpenCV wheel (packaging/build-slim-opencv.sh dist builds it):" \
            "the standard bundle gets the stock wheel, about 110 MB larger" >&2
        make_venv "$VENV" ""
    fi
    echo "OpenCV in $VENV: $("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("opencv-python-headless"))')"
    build visual-search visual-search.spec "$VENV"
fi
if [ "$WHICH" = train ] || [ "$WHICH" = both ]; then
    VENV=${VENV_TRAIN:-build/venv-train}
    make_venv "$VENV" "[train]"
    build visual-search-train visual-search-train.spec "$VENV"
fi
