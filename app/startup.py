"""Can a window open here? Checked before the ``QApplication`` exists, because Qt aborts the
whole process (SIGABRT) when it finds no display or misses a system library, with nothing a
person can act on. Plain Python (ctypes), no Qt import.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

CLI_HINT = (
    "the command-line commands work without one: visual-search --help "
    "(for example visual-search index FOLDER, visual-search search PHOTO)"
)

#: the system library Qt's xcb platform plugin needs since Qt 6.5, and where it comes from
XCB_CURSOR = ("xcb-cursor", "libxcb-cursor.so.0")

#: every system library Qt's xcb platform plugin loads (the ``NEEDED`` entries of PySide6's
#: ``libqxcb.so`` and ``libQt6XcbQpa.so.6`` outside Qt itself), with the package that installs
#: it on Debian/Ubuntu, Fedora and Arch
XCB_LIBRARIES: dict[str, tuple[str, str, str]] = {
    "libxcb.so.1": ("libxcb1", "libxcb", "libxcb"),
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm", "xcb-util-wm"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image", "xcb-util-image"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms", "xcb-util-keysyms"),
    "libxcb-render-util.so.0": (
        "libxcb-render-util0",
        "xcb-util-renderutil",
        "xcb-util-renderutil",
    ),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util", "xcb-util"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb", "libxcb"),
    "libX11.so.6": ("libx11-6", "libX11", "libx11"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb", "libx11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon", "libxkbcommon"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11", "libxkbcommon-x11"),
    "libGL.so.1": ("libgl1", "libglvnd-glx", "libglvnd"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2", "glib2"),
    "libgthread-2.0.so.0": ("libglib2.0-0", "glib2", "glib2"),
}
#: how each distribution installs packages, in the order of ``XCB_LIBRARIES``' tuples
INSTALLERS = (
    ("Debian/Ubuntu", "sudo apt install"),
    ("Fedora", "sudo dnf install"),
    ("Arch", "sudo pacman -S"),
)
#: the xcb plugin inside PySide6, read by ``ldd`` for what the table above may not list
XCB_PLUGIN = Path("Qt") / "plugins" / "platforms" / "libqxcb.so"


def has_library(name: str, soname: str) -> bool:
    """Whether the dynamic loader finds ``soname`` (``name`` for ``find_library``)."""
    if ctypes.util.find_library(name):
        return True
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def loads(soname: str) -> bool:
    """Whether the dynamic loader can load ``soname`` (as Qt's plugin would)."""
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def _plugin() -> Path | None:
    """PySide6's xcb platform plugin, found without importing Qt (None when absent)."""
    spec = importlib.util.find_spec("PySide6")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        if (Path(folder) / XCB_PLUGIN).is_file():
            return Path(folder) / XCB_PLUGIN
    return None


def unresolved(plugin: Path | None, timeout: float = 1.5) -> list[str]:
    """The libraries ``ldd`` cannot find for ``plugin`` (none when it cannot tell)."""
    if plugin is None:
        return []
    try:
        out = subprocess.run(
            ["ldd", os.fspath(plugin)], capture_output=True, text=True, timeout=timeout
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [ln.split("=>")[0].strip() for ln in out.splitlines() if "=> not found" in ln]


def missing_x11_libraries(
    load: Callable[[str], bool] = loads,
    cursor_lib: tuple[str, str] = XCB_CURSOR,
    plugin: Path | bool | None = True,
) -> list[str]:
    """The X11 libraries Qt's xcb plugin needs that the loader cannot find: each one of
    ``XCB_LIBRARIES`` (``load``; libxcb-cursor through ``has_library(*cursor_lib)``), then any
    other the plugin itself lacks (``ldd`` on ``plugin``; True: PySide6's)."""
    missing = []
    for soname in XCB_LIBRARIES:
        found = has_library(*cursor_lib) if soname == XCB_CURSOR[1] else load(soname)
        if not found:
            missing.append(soname)
    for soname in unresolved(_plugin() if plugin is True else plugin or None):
        if soname not in missing and not soname.startswith("libQt6"):
            missing.append(soname)
    return missing


def install_hint(missing: list[str]) -> str:
    """One line: the libraries missing and the command that installs them on each of the
    common distributions."""
    known = [XCB_LIBRARIES[s] for s in missing if s in XCB_LIBRARIES]
    commands = []
    for i, (distro, command) in enumerate(INSTALLERS):
        packages = list(dict.fromkeys(k[i] for k in known))
        if packages:
            commands.append(f"{command} {' '.join(packages)} ({distro})")
    unknown = [s for s in missing if s not in XCB_LIBRARIES]
    if unknown:
        commands.append("the packages that provide " + ", ".join(unknown))
    one = len(missing) == 1
    return (
        f"the window needs the X11 librar{'y' if one else 'ies'} {', '.join(missing)}, not "
        f"installed here; install {'it' if one else 'them'} with: {'; '.join(commands)}"
    )


def _x_server_reachable(display: str) -> bool:
    """Connect to ``display`` through libxcb as Qt would, and disconnect."""
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return True  # let Qt report what it misses: we cannot tell better
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    conn = xcb.xcb_connect(os.fsencode(display), None)
    if not conn:
        return False
    try:
        return xcb.xcb_connection_has_error(conn) == 0
    finally:
        xcb.xcb_disconnect(conn)


def display_problem(
    environ=None,
    platform: str | None = None,
    cursor_lib: tuple[str, str] = XCB_CURSOR,
    load: Callable[[str], bool] = loads,
) -> str | None:
    """Why no window can open here (one line), or None when nothing is known to be wrong.

    Only Linux and the BSDs are checked; an explicit ``QT_QPA_PLATFORM`` other than xcb
    (offscreen, wayland, vnc...) is left to Qt. Every X11 library the xcb plugin needs is
    checked (``missing_x11_libraries``: ``load`` tells whether one loads, ``cursor_lib`` is the
    ``(name, soname)`` probed for libxcb-cursor) and all the missing ones are named.
    """
    env = os.environ if environ is None else environ
    platform = platform or sys.platform
    if not platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return None
    qpa = env.get("QT_QPA_PLATFORM", "").split(":", 1)[0].strip().lower()
    if qpa and qpa != "xcb":
        return None
    display, wayland = env.get("DISPLAY", ""), env.get("WAYLAND_DISPLAY", "")
    if not display and (qpa == "xcb" or not wayland):
        return f"no display found (DISPLAY and WAYLAND_DISPLAY are not set); {CLI_HINT}"
    if wayland and not qpa:
        return None  # Qt picks Wayland when the session offers it
    missing = missing_x11_libraries(load, cursor_lib)
    if missing:
        return install_hint(missing)
    if not _x_server_reachable(display):
        return f"cannot connect to the display {display!r}; {CLI_HINT}"
    return None
