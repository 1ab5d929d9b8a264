"""Values a command cannot use are refused in one line before anything runs; one folder that
is not there does not stop the others; what `status` and `search` say of a library."""

from __future__ import annotations

import json
import os

import pytest

from engine.cli import main
from engine.cli.entry import EXIT_BAD_INPUT, joined_coordinates
from tests.helpers import MODEL


@pytest.mark.parametrize(
    "argv, reason",
    [
        (["search", "q.jpg", "-k", "0"], "argument -k: must be at least 1, not 0"),
        (["search", "q.jpg", "-k", "-5"], "argument -k: must be at least 1, not -5"),
        (["search", "q.jpg", "--verify", "0"], "argument --verify: must be at least 1"),
        (["search", "q.jpg", "--rerank", "-1"], "argument --rerank: must be at least 0"),
        (["search", "q.jpg", "--device", "tpu"], "expected auto, cpu, cuda or cuda:N, not 'tpu'"),
        (["index", "x", "--local-features", "0"], "--local-features: must be at least 1"),
        (["index", "x", "--local-features", "many"], "expected a whole number, not 'many'"),
        (["index", "x", "--watch", "--interval", "-1"], "--interval: must be at least 0.1"),
        (["index", "x", "--interval", "nan"], "--interval: must be at least 0.1, not nan"),
        (["index", "x", "--interval", "inf"], "--interval: must be a finite number, not inf"),
        (["train", "--epochs", "0", "--out", "o"], "--epochs: must be at least 1"),
        (["embed", "q.jpg", "--image-size", "0"], "--image-size: must be at least 32"),
    ],
)
def test_values_it_cannot_use_are_refused(argv, reason, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert reason in err, err


def test_a_device_by_number_is_taken():
    from engine.cli.common import device_name

    assert device_name("cuda:1") == "cuda:1" and device_name("auto") == "auto"


def test_coordinates_may_start_with_a_minus_sign():
    argv = ["search", "q.jpg", "--bbox", "-100,-100,-10,-10", "-k", "3"]
    assert joined_coordinates(argv) == ["search", "q.jpg", "--bbox=-100,-100,-10,-10", "-k", "3"]
    argv = ["localize", "q.jpg", "p.jpg", "--point", "-3.5,7"]
    assert joined_coordinates(argv)[-1] == "--point=-3.5,7"
    assert joined_coordinates(["search", "q.jpg", "--bbox", "--json"])[-2:] == ["--bbox", "--json"]


def test_missing_folder_leaves_the_others_indexed(tmp_path, photos, capsys):
    lib = str(tmp_path / "lib")
    gone = str(tmp_path / "unplugged")
    argv = ["index", str(photos / "home"), gone, str(photos / "trips"), "--library", lib]
    assert main([*argv, "--model", MODEL, "--json"]) == EXIT_BAD_INPUT
    s = json.loads(capsys.readouterr().out)
    assert s["indexed"] == 12 and s["refused"] == [f"{gone}: does not exist (left out)"]
    # nothing there at all: refused as before, nothing indexed
    assert main(["index", gone, "--library", lib]) == EXIT_BAD_INPUT
    assert f"{gone}: does not exist" in capsys.readouterr().err

    # searching a folder the library does not hold says so, instead of "no results"
    q = str(photos / "trips" / "obj2_0.jpg")
    assert main(["search", q, "--library", lib, "--folder", str(tmp_path)]) == EXIT_BAD_INPUT
    assert "not inside a folder of this library" in capsys.readouterr().err
    # the folder through a symbolic link is that folder
    os.symlink(photos / "home", tmp_path / "home-link")
    argv = ["search", q, "--library", lib, "--folder", str(tmp_path / "home-link"), "--json"]
    assert main(argv) == 0
    found = [r["path"] for r in json.loads(capsys.readouterr().out)["results"]]
    assert found and all(p.startswith(str(photos / "home") + os.sep) for p in found)
    # a box that starts with a minus sign reaches the search (and is cut to the photo)
    assert main(["search", q, "--library", lib, "--bbox", "-10,-10,40,30", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["box"] == [0.0, 0.0, 40.0, 30.0]
    # the query through a symbolic link is still the photo itself: left out of its results
    link = tmp_path / "link.jpg"
    os.symlink(q, link)
    assert main(["search", str(link), "--library", lib, "--json", "-k", "30"]) == 0
    assert q not in [r["path"] for r in json.loads(capsys.readouterr().out)["results"]]
    # status counts the inverted file on disk
    assert main(["status", "--library", lib, "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    arrays = list((tmp_path / "lib" / "index").glob("local-*.arrays"))
    assert arrays and st["bytes"]["local_index"] == sum(f.stat().st_size for f in arrays)


def test_a_library_whose_name_is_not_utf8(tmp_path, photos, capsys):
    """FAISS's bindings take names as UTF-8: a library folder with other bytes in its name
    still saves and reads its index."""
    lib = os.fsdecode(os.path.join(os.fsencode(tmp_path), b"lib \xff"))
    assert main(["index", str(photos / "home"), "--library", lib, "--model", MODEL]) == 0
    capsys.readouterr()
    q = str(photos / "home" / "obj0_2.jpg")
    assert main(["search", q, "--library", lib, "--pipeline", "global", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"]
    saved = os.listdir(os.path.join(os.fsencode(lib), b"index"))
    assert any(name.endswith(b".faiss") for name in saved), saved


def test_results_whose_file_is_gone_say_so(tmp_path, photos, capsys):
    lib = str(tmp_path / "lib")
    assert main(["index", str(photos), "--library", lib, "--model", MODEL]) == 0
    (photos / "trips").rename(tmp_path / "unplugged")  # the library does not know yet
    capsys.readouterr()
    q = str(photos / "home" / "obj0_2.jpg")
    assert main(["search", q, "--library", lib, "--json", "-k", "30"]) == 0
    hits = json.loads(capsys.readouterr().out)["results"]
    assert {h["on_disk"] for h in hits if "/trips/" in h["path"]} == {False}
    assert {h["on_disk"] for h in hits if "/home/" in h["path"]} == {True}
    assert main(["search", q, "--library", lib, "-k", "30"]) == 0
    lines = capsys.readouterr().out.splitlines()
    gone = [line for line in lines if "/trips/" in line]
    assert gone and all(line.endswith("on a drive not connected)") for line in gone)
