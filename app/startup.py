"""Can a window open here? Checked before the ``QApplication`` exists, because Qt aborts the
whole process (SIGABRT) when it finds no display or misses a system library, with nothing a
person can act on. Plain Python (ctypes), no Qt import.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

CLI_HINT = (
    "the command-line commands work without one: visual-search --help "
    "(for example visual-search index FOLDER, visual-search search PHOTO)"
)

#: the system library Qt's xcb platform plugin needs since Qt 6.5, and where it comes from
XCB_CURSOR = ("xcb-cursor", "libxcb-cursor.so.0")
XCB_CURSOR_PACKAGES = (
    "libxcb-cursor0 on Debian/Ubuntu (sudo apt install libxcb-cursor0), "
    "xcb-util-cursor on Fedora (sudo dnf install xcb-util-cursor), "
    "xcb-util-cursor on Arch (sudo pacman -S xcb-util-cursor)"
)


def has_library(name: str, soname: str) -> bool:
    """Whether the dynamic loader finds ``soname`` (``name`` for ``find_library``)."""
    if ctypes.util.find_library(name):
        return True
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


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
    environ=None, platform: str | None = None, cursor_lib: tuple[str, str] = XCB_CURSOR
) -> str | None:
    """Why no window can open here (one line), or None when nothing is known to be wrong.

    Only Linux and the BSDs are checked; an explicit ``QT_QPA_PLATFORM`` other than xcb
    (offscreen, wayland, vnc...) is left to Qt. ``cursor_lib``: the ``(name, soname)`` of the
    library the xcb plugin needs.
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
    if not has_library(*cursor_lib):
        return (
            "the window needs the system library libxcb-cursor.so.0, which is not installed; "
            f"install {XCB_CURSOR_PACKAGES}"
        )
    if not _x_server_reachable(display):
        return f"cannot connect to the display {display!r}; {CLI_HINT}"
    return None
