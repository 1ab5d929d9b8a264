"""``visual-search localize`` on real photo pixels (it replaced the network seed method's
command): per photo found, method, box, polygon, confidence, or the reason; a photo it cannot
read is a reason, not a failure; a click outside the query is one line on stderr; ``--overlay``
draws the outlines. That it gives the library's outline: tests/engine/library/test_locate.py."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from engine.cli import main
from engine.cli.entry import EXIT_BAD_INPUT
from engine.photo.drawing import box_iou
from tests.pasted import pasted_photos


@pytest.fixture(scope="module")
def pasted(tmp_path_factory):
    return pasted_photos(tmp_path_factory.mktemp("pasted"))


def test_localize_prints_each_photo_with_its_outline_or_reason(pasted, tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_text("not a photo")
    (held, truth), without = pasted.holding[0], pasted.without[0]
    click = "{},{}".format(*pasted.point)
    args = ["localize", str(pasted.query), str(held), str(without), str(bad), "--point", click]
    assert main([*args, "--json", "--overlay", str(tmp_path / "ov")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["point"] == list(pasted.point) and out["box"] is None
    found, missing, unread = out["results"]
    assert found["found"] and box_iou(found["box"], truth) >= 0.6
    assert found["method"] in ("evidence", "words", "rematch") and 0 < found["confidence"] <= 1
    assert len(found["polygon"]) >= 3 and found["reason"] is None
    assert not missing["found"] and missing["reason"].startswith("not found in this photo (")
    assert not unread["found"] and "not a recognised image format" in unread["reason"]
    assert sorted(p.name for p in (tmp_path / "ov").iterdir()) == [f"{held.stem}.png"]
    assert Image.open(tmp_path / "ov" / f"{held.stem}.png").size == Image.open(held).size
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{held}: found (") and "confidence" in lines[0]
    assert lines[1].startswith(f"{without}: not found in this photo (")


def test_localize_refuses_a_click_outside_the_query_and_needs_a_click_or_a_box(pasted, capsys):
    held = str(pasted.holding[0][0])
    assert main(["localize", str(pasted.query), held, "--point", "9999,1"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "outside the 512x480 query photo" in err and err.count("\n") == 1
    with pytest.raises(SystemExit) as e:
        main(["localize", str(pasted.query), held])
    assert e.value.code == 2
    box = ",".join(str(v) for v in pasted.box)
    assert main(["localize", str(pasted.query), held, "--box", box, "--json"]) == 0
    (r,) = json.loads(capsys.readouterr().out)["results"]
    assert r["found"] and box_iou(r["box"], pasted.holding[0][1]) >= 0.6


def test_localize_in_a_library_gives_the_reason_indexing_failed(pasted, tmp_path, capsys):
    import shutil

    folder = tmp_path / "photos"
    folder.mkdir()
    held = folder / "held.jpg"
    shutil.copy(pasted.holding[0][0], held)
    (folder / "bad.jpg").write_text("not a photo")
    lib = str(tmp_path / "lib")
    assert main(["index", str(folder), "--library", lib]) == 0
    capsys.readouterr()
    click = "{},{}".format(*pasted.point)
    args = ["localize", str(pasted.query), str(held), str(folder / "bad.jpg"), "--point", click]
    assert main([*args, "--library", lib, "--json"]) == 0
    found, unread = json.loads(capsys.readouterr().out)["results"]
    assert found["found"]
    assert not unread["found"] and "cannot read: not a recognised image format" in unread["reason"]
