"""``visual-search index|search|status|errors|forget|duplicates`` and their JSON."""

from __future__ import annotations

import json
import shutil

from engine.cli import main
from engine.cli.entry import EXIT_BAD_INPUT
from tests.helpers import MODEL, damage_all_but_folders


def _json(capsys):
    return json.loads(capsys.readouterr().out)


def test_index_search_status_errors_forget(tmp_path, photos, capsys, monkeypatch):
    lib = str(tmp_path / "lib")
    (photos / "home" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    assert main(["index", str(photos), "--library", lib, "--model", MODEL, "--json"]) == 0
    s = _json(capsys)
    assert set(s) == {"indexed", "skipped_unchanged", "moved", "removed", "failed", "seconds"}
    assert (s["indexed"], s["failed"]) == (12, 1)

    q = photos / "trips" / "obj2_0.jpg"
    assert main(["search", str(q), "--library", lib, "-k", "4", "--json"]) == 0
    r = _json(capsys)
    assert r["query"] == str(q) and len(r["results"]) == 4
    assert set(r["results"][0]) >= {"path", "score"}
    assert str(q) not in [x["path"] for x in r["results"]]
    scores = [x["score"] for x in r["results"]]
    assert scores == sorted(scores, reverse=True)

    assert (
        main(["search", str(q), "--library", lib, "--folder", str(photos / "home"), "--json"]) == 0
    )
    assert all("/home/" in x["path"] for x in _json(capsys)["results"])
    assert main(["search", str(q), "--library", lib, "--bbox", "0,0,64,48", "--json"]) == 0
    assert _json(capsys)["box"] == [0.0, 0.0, 64.0, 48.0]

    assert main(["status", "--library", lib, "--json"]) == 0
    st = _json(capsys)
    assert st["files"] == {"indexed": 12, "pending": 0, "failed": 1}
    assert st["models"][0]["spec"] == MODEL and st["models"][0]["index"] == "flat"
    assert st["sift"]["on"] == "cpu"  # the default, GPU or not
    assert main(["status", "--library", lib]) == 0
    out = capsys.readouterr().out
    assert "12 indexed" in out and "SIFT runs on: the CPU (OpenCV, " in out
    monkeypatch.setenv("VISUAL_SEARCH_FEATURES_ON", "no-such-place")
    assert main(["status", "--library", lib, "--json"]) == 0  # status still answers
    assert _json(capsys)["sift"] == {
        "on": None,
        "text": "nothing: features run on one of cpu, cuda, torch-cpu, not 'no-such-place'",
    }
    monkeypatch.delenv("VISUAL_SEARCH_FEATURES_ON")

    assert main(["errors", "--library", lib, "--json"]) == 0
    errs = _json(capsys)
    assert len(errs) == 1 and errs[0]["path"].endswith("broken.jpg") and errs[0]["reason"]

    # library location from VISUAL_SEARCH_HOME when --library is not given
    monkeypatch.setenv("VISUAL_SEARCH_HOME", str(tmp_path / "home"))
    assert main(["index", str(photos / "home"), "--model", MODEL, "--json"]) == 0
    capsys.readouterr()
    assert (tmp_path / "home" / "library" / "library.sqlite3").exists()

    assert main(["forget", str(photos), "--library", lib, "--json"]) == 0
    assert _json(capsys) == {"folders": 1, "files": 13}
    assert main(["forget", str(photos), "--library", lib]) == EXIT_BAD_INPUT
    assert "not in the library" in capsys.readouterr().err


def test_duplicates_cli(tmp_path, photos, capsys):
    lib = str(tmp_path / "lib")
    shutil.copy(photos / "home" / "obj0_2.jpg", photos / "trips" / "dup.jpg")
    assert main(["index", str(photos), "--library", lib, "--model", MODEL, "--json"]) == 0
    capsys.readouterr()
    assert main(["duplicates", "--library", lib, "--json"]) == 0
    d = _json(capsys)
    groups = [{p.rsplit("/", 1)[1] for p in g["photos"]} for g in d["groups"]]
    assert {"obj0_2.jpg", "dup.jpg"} in groups
    (pair,) = d["groups"][groups.index({"obj0_2.jpg", "dup.jpg"})]["pairs"]
    assert pair["inliers"] >= 20 and pair["cover"] > 0.95  # an exact copy


def test_search_errors(tmp_path, photos, capsys):
    lib = str(tmp_path / "lib")
    assert main(["index", str(photos), "--library", lib, "--model", MODEL]) == 0
    capsys.readouterr()
    bad = tmp_path / "q.jpg"
    bad.write_text("not a photo")
    assert main(["search", str(bad), "--library", lib]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "q.jpg: not a recognised image format" in err and err.count("\n") == 1
    assert main(["index", str(tmp_path / "missing"), "--library", lib]) == EXIT_BAD_INPUT
    assert "does not exist" in capsys.readouterr().err


def test_precision_reaches_the_network_in_index_search_and_repair(tmp_path, photos, monkeypatch):
    from engine.network import extract

    seen = []
    init = extract.Extractor.__init__

    def recording(self, model, device="auto", precision="auto", **kw):
        seen.append(precision)
        init(self, model, device=device, precision=precision, **kw)

    monkeypatch.setattr(extract.Extractor, "__init__", recording)
    lib = str(tmp_path / "lib")
    common = ["--library", lib, "--model", MODEL, "--device", "cpu"]
    assert main(["index", str(photos), *common, "--precision", "fp32"]) == 0
    assert (
        main(["search", str(photos / "home" / "obj1_2.jpg"), *common, "--precision", "bf16"]) == 0
    )
    damage_all_but_folders(tmp_path / "lib" / "library.sqlite3")
    assert main(["repair", "--library", lib, "--model", MODEL, "--precision", "bf16"]) == 0
    assert seen == ["fp32", "bf16", "bf16"]
