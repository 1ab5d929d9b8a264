"""A query with too little detail (a flat grey image, a blank region) lists nothing and says
so, in the library, the CLI and its JSON; a query with detail still lists its matches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from engine.cli import main
from engine.library import TOO_LITTLE_DETAIL_TEXT, Library
from engine.training.generator import render_scene


@pytest.fixture(scope="module")
def indexed(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("featureless")
    photos = root / "photos"
    photos.mkdir()
    for i in range(4):
        img, _ = render_scene([i], seed=i, size=(160, 120), occlusion=0.0)
        img.save(photos / f"p{i}.jpg", quality=90)
    Image.new("RGB", (320, 240), (128, 128, 128)).save(root / "grey.png")
    # a half-grey half-textured photo: a box on its grey half is a blank region
    tex, _ = render_scene([5], seed=9, size=(160, 240), occlusion=0.0)
    half = Image.new("RGB", (320, 240), (90, 90, 90))
    half.paste(tex, (160, 0))
    half.save(root / "half.png")
    with Library(root / "lib") as lib:
        lib.index([photos])
    return root, photos


@pytest.mark.parametrize("pipeline", ["fused", "local", "global"])
def test_a_grey_image_lists_nothing_and_says_why(indexed, pipeline):
    root, photos = indexed
    with Library(root / "lib") as lib:
        res = lib.search(root / "grey.png", pipeline=pipeline)
        assert res.too_little_detail and res.hits == [] and not res.no_match
        assert res.message == TOO_LITTLE_DETAIL_TEXT
        detailed = lib.search(photos / "p1.jpg", pipeline=pipeline, exclude_self=False)
        assert not detailed.too_little_detail and detailed.hits and detailed.message is None


def test_a_blank_region_of_a_detailed_photo_says_region(indexed):
    root, _ = indexed
    with Library(root / "lib") as lib:
        assert not lib.search(root / "half.png").too_little_detail
        res = lib.search(root / "half.png", box=(10, 10, 150, 230))
        assert res.too_little_detail and res.hits == []
        assert res.message == "this region has too little detail to search"


def test_the_cli_prints_the_message_and_exits_0(indexed, capsys):
    root, _ = indexed
    lib = str(root / "lib")
    assert main(["search", str(root / "grey.png"), "--library", lib]) == 0
    assert capsys.readouterr().out.strip() == TOO_LITTLE_DETAIL_TEXT
    assert main(["search", str(root / "grey.png"), "--library", lib, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["too_little_detail"] is True and out["results"] == []
    assert out["message"] == TOO_LITTLE_DETAIL_TEXT and out["no_match"] is False
