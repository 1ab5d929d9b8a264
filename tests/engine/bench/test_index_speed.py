"""``bench index --breakdown`` runs end to end on a few photos (its
figures are printed, never asserted: this only keeps the commands working)."""

from __future__ import annotations

import json

from engine.cli import main
from engine.training.generator import render_scene


def test_the_index_breakdown_names_every_stage(tmp_path, capsys):
    for i in range(6):
        render_scene([i], seed=i, size=(160, 120))[0].save(tmp_path / f"p{i}.jpg", quality=90)
    assert main(["bench", "index", "--breakdown", "--photos", str(tmp_path), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    stages = row["stage_ms_per_photo"]
    for stage in (
        "decode",
        "resize",
        "detection and description",
        "RootSIFT",
        "perceptual hash",
        "word assignment",
        "ASMK aggregation",
        "store writes",
        "network (only when ranking uses it)",
    ):
        assert stages[stage] > 0, stage
    assert row["photos"] == 6 and row["index_photos_per_s"] > 0
    assert row["bare_decode_sift_photos_per_s"] > 0 and row["peak_rss_mb_main_process"] > 0
