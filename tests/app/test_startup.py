"""Starting the application where no window can open: one clear line and exit 1, never a Qt
abort; and ``--help`` names the window and the self-test."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.startup import XCB_CURSOR, display_problem, has_library
from tests.helpers import ROOT


def _run_app(*args: str, **env_changes: str) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    env.update(env_changes)
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("args", [(), ("gui",)])
def test_no_display_says_so_and_points_to_the_cli(args):
    proc = _run_app(*args)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "no display found" in lines[0]
    assert "visual-search --help" in lines[0]
    assert "visual-search index" in lines[0]


def _free_display() -> str:
    n = 90
    while Path(f"/tmp/.X11-unix/X{n}").exists() or Path(f"/tmp/.X{n}-lock").exists():
        n += 1
    return f":{n}"


def test_unreachable_display_is_named_not_an_abort():
    from app.startup import missing_x11_libraries

    if missing_x11_libraries():  # then those are named first (test_x11_libraries)
        pytest.skip("this machine lacks X11 libraries the window needs")
    display = _free_display()
    proc = _run_app(DISPLAY=display)
    assert proc.returncode == 1, proc.stderr
    assert proc.returncode != -signal.SIGABRT
    assert f"cannot connect to the display {display!r}" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_help_lists_the_window_and_the_self_test():
    proc = _run_app("--help")
    assert proc.returncode == 0, proc.stderr
    assert "`gui`" in proc.stdout
    assert "--self-test" in proc.stdout


def test_missing_xcb_cursor_library_names_the_package_to_install():
    missing = ("xcb-cursor-not-a-real-library", "libxcb-cursor-not-a-real-library.so.0")
    assert not has_library(*missing)
    why = display_problem({"DISPLAY": ":0"}, "linux", cursor_lib=missing)
    assert why is not None
    assert "libxcb-cursor.so.0" in why
    assert "sudo apt install libxcb-cursor0" in why
    assert "xcb-util-cursor" in why


def test_other_platforms_and_explicit_qt_platforms_are_left_to_qt():
    assert display_problem({}, "win32") is None
    assert display_problem({}, "darwin") is None
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert "no display found" in display_problem({"QT_QPA_PLATFORM": "xcb"}, "linux")


@pytest.mark.skipif(not shutil.which("Xvfb"), reason="needs Xvfb to provide a real display")
@pytest.mark.skipif(not has_library(*XCB_CURSOR), reason="this system lacks libxcb-cursor")
def test_a_real_display_passes_the_check():
    display = _free_display()
    server = subprocess.Popen(
        ["Xvfb", display, "-nolisten", "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            if display_problem({"DISPLAY": display}, "linux") is None:
                break
            time.sleep(0.1)
        assert display_problem({"DISPLAY": display}, "linux") is None
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert display_problem({"DISPLAY": display}, "linux") is not None
