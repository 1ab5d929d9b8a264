"""Start-up on Linux checks every X11 library Qt's xcb plugin loads, names each missing one
with the command that installs it on the common distributions, and answers within 2 s
(Qt itself aborts after about 21 s naming only libxcb-cursor)."""

from __future__ import annotations

import ctypes
import ctypes.util
import shutil
import time

import pytest

from app import startup
from app.startup import display_problem

GONE = ("libxcb-icccm.so.4", "libxcb-keysyms.so.1")


def _plugin():
    return startup._plugin() if hasattr(startup, "_plugin") else None


def test_every_missing_library_is_named_with_its_packages(monkeypatch):
    """The loader fails on two of the plugin's libraries (as on a system without them)."""
    real_cdll, real_find = ctypes.CDLL, ctypes.util.find_library

    def cdll(name, *args, **kwargs):
        if any(str(name).startswith(g.split(".so")[0] + ".so") for g in GONE):
            raise OSError(f"{name}: cannot open shared object file")
        return real_cdll(name, *args, **kwargs)

    def find(name):
        return None if name in ("xcb-icccm", "xcb-keysyms") else real_find(name)

    monkeypatch.setattr(ctypes, "CDLL", cdll)
    monkeypatch.setattr(ctypes.util, "find_library", find)
    why = display_problem({"DISPLAY": ":0"}, "linux")
    assert why is not None and "\n" not in why
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1" in why
    assert "libxcb-cursor" not in why  # it is there: not named
    assert "sudo apt install libxcb-icccm4 libxcb-keysyms1 (Debian/Ubuntu)" in why
    assert "sudo dnf install xcb-util-wm xcb-util-keysyms (Fedora)" in why
    assert "sudo pacman -S xcb-util-wm xcb-util-keysyms (Arch)" in why


def test_a_package_that_brings_several_libraries_is_named_once(monkeypatch):
    from app.startup import display_problem

    # only ``load`` decides here, not what the plugin lacks on this machine
    monkeypatch.setattr(startup, "unresolved", lambda plugin, timeout=1.5: [])
    gone = {"libxcb-shm.so.0", "libxcb-sync.so.1", "libX11.so.6", "libX11-xcb.so.1"}
    why = display_problem({"DISPLAY": ":0"}, "linux", load=lambda s: s not in gone)
    assert "sudo dnf install libxcb libX11 libX11-xcb (Fedora)" in why
    assert "sudo pacman -S libxcb libx11 (Arch)" in why


@pytest.mark.skipif(not shutil.which("ldd"), reason="needs ldd")
@pytest.mark.skipif(_plugin() is None, reason="PySide6 without its xcb plugin")
def test_a_library_the_plugin_lacks_is_found_by_the_loader_itself(tmp_path):
    """A copy of Qt's xcb library whose NEEDED entry names a library no system has: the
    dynamic loader (ldd) reports it, and the check names it even though no table lists it."""
    from app.startup import missing_x11_libraries, unresolved

    qpa = _plugin().parents[2] / "lib" / "libQt6XcbQpa.so.6"
    data = qpa.read_bytes()
    assert b"libxcb-icccm.so.4\0" in data
    fake = tmp_path / "libQt6XcbQpa.so.6"
    fake.write_bytes(data.replace(b"libxcb-icccm.so.4\0", b"libxcb-icccQ.so.4\0"))
    for lib in qpa.parent.glob("lib*.so*"):  # Qt's own libraries, found beside it
        if lib.name != fake.name:
            (tmp_path / lib.name).symlink_to(lib)
    # what this machine lacks for the real plugin, apart from the renamed library
    here = [s for s in unresolved(qpa) if s != "libxcb-icccm.so.4"]
    assert sorted(unresolved(fake)) == sorted([*here, "libxcb-icccQ.so.4"])
    missing = missing_x11_libraries(load=lambda s: True, plugin=fake)
    assert "libxcb-icccQ.so.4" in missing and "libxcb-icccm.so.4" not in missing


def test_the_real_check_on_this_machine_takes_under_two_seconds():
    from app.startup import missing_x11_libraries

    t0 = time.perf_counter()
    missing = missing_x11_libraries()
    took = time.perf_counter() - t0
    assert took < 2.0, took
    assert all(".so" in m for m in missing)  # sonames, each named with how to install it
