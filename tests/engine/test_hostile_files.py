"""Hostile data files through the command line: names that leave the data folder, and sizes,
nesting and pickles that would allocate without bound. Each is one line and exit 1."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from PIL import Image

from engine.cli.entry import EXIT_BAD_INPUT, main

MODEL = "gem:resnet18"


def _photo(path, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(path, quality=90)
    return path


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "internal error" not in err[0]
    return err[0]


# ------------------------------------------------------------------ names leaving the folder


@pytest.fixture
def gldv2(tmp_path):
    """A GLDv2 layout with two landmarks of two photos each, and a real photo outside it."""
    images = tmp_path / "gld" / "train"
    ids = {"7": ["abc001", "abc002"], "9": ["def001", "def002"]}
    for n, iids in enumerate(ids.values()):
        for k, iid in enumerate(iids):
            _photo(images / iid[0] / iid[1] / iid[2] / f"{iid}.jpg", seed=10 * n + k)
    outside = _photo(tmp_path / "private" / "secret.jpg", seed=99)
    return images, ids, outside


@pytest.mark.parametrize("layout", ["train.csv", "train_clean.csv"])
@pytest.mark.parametrize("how", ["absolute", "dotdot"])
def test_gldv2_ids_that_leave_the_images_folder_are_refused(tmp_path, gldv2, capsys, layout, how):
    images, ids, outside = gldv2
    # up from images/a/b/c/abc: c, b, a, train, gld, then the folder holding private/
    bad = (
        str(outside.with_suffix("")) if how == "absolute" else "abc/" + "../" * 6 + "private/secret"
    )
    # joined as GLDv2 lays files out (a/b/c/<id>.jpg), the id reaches the photo outside
    joined = images / bad[0] / bad[1] / bad[2] / f"{bad}.jpg"
    assert joined.resolve() == outside.resolve()
    csv = tmp_path / "gld" / layout
    if layout == "train.csv":
        rows = [f"{iid},http://x,{cid}" for cid, iids in ids.items() for iid in iids]
        csv.write_text("id,url,landmark_id\n" + "\n".join([*rows, f"{bad},http://x,9"]) + "\n")
    else:
        rows = [f"{cid},{' '.join(iids)}" for cid, iids in ids.items()]
        rows[1] += f" {bad}"
        csv.write_text("landmark_id,images\n" + "\n".join(rows) + "\n")
    code = main(["train", str(csv), "--images", str(images), "--out", str(tmp_path / "run")])
    assert code == EXIT_BAD_INPUT
    line = _one_error_line(capsys)
    assert repr(bad) in line and "not a plain file name" in line
    assert not (tmp_path / "run").exists()


def test_gldv2_ids_inside_the_folder_still_train(tmp_path, gldv2):
    from engine.training.data import open_dataset

    images, ids, _ = gldv2
    csv = tmp_path / "gld" / "train.csv"
    rows = [f"{iid},http://x,{cid}" for cid, iids in ids.items() for iid in iids]
    csv.write_text("id,url,landmark_id\n" + "\n".join(rows) + "\n")
    ds = open_dataset(csv, images=images)
    assert ds.report.images == 4 and len(ds.classes) == 2


def _gnd(path, imlist, qimlist):
    gnd = [
        {"bbx": None, "easy": np.array([0]), "hard": np.array([], int), "junk": np.array([], int)}
        for _ in qimlist
    ]
    with open(path, "wb") as f:
        pickle.dump({"imlist": imlist, "qimlist": qimlist, "gnd": gnd}, f)
    return path


@pytest.mark.parametrize("where", ["imlist", "qimlist"])
@pytest.mark.parametrize("how", ["absolute", "dotdot"])
def test_ground_truth_names_that_leave_the_images_folder_are_refused(tmp_path, capsys, where, how):
    images = tmp_path / "jpg"
    for i in range(2):
        _photo(images / f"db{i}.jpg", seed=i)
    _photo(images / "q0.jpg", seed=5)
    outside = _photo(tmp_path / "private" / "secret.jpg", seed=99)
    bad = str(outside.with_suffix("")) if how == "absolute" else "../private/secret"
    imlist, qimlist = ["db0", "db1"], ["q0"]
    (imlist if where == "imlist" else qimlist).append(bad)
    gnd = _gnd(tmp_path / "gnd_x.pkl", imlist, qimlist)
    args = ["evaluate", "--gnd", str(gnd), "--images", str(images), "--model", MODEL]
    assert main([*args, "--pipeline", "global"]) == EXIT_BAD_INPUT
    line = _one_error_line(capsys)
    assert repr(bad) in line and "outside" in line


# ------------------------------------------------------------------ unbounded sizes


def _checkpoint(tmp_path, **fields) -> str:
    d = tmp_path / "ckpt"
    d.mkdir()
    cfg = {"format": "visual-search-checkpoint", "architecture": "gem", "backbone": "resnet18"}
    cfg.update(fields)
    (d / "config.json").write_text(json.dumps(cfg))
    (d / "model.safetensors").write_bytes(b"never read: the config is refused first")
    return str(d)


@pytest.mark.parametrize(
    "fields, reason",
    [
        ({"descriptor_dim": 1e9}, "descriptor_dim must be a whole number from 1 to"),
        ({"scales": [1e6]}, "scales must be 1 to"),
        ({"scales": [0.5] * 100}, "scales must be 1 to"),
        ({"image_size": 1e300}, "image_size must be a whole number"),
        ({"arch_params": {"gcn": True, "gcn_nodes": 10**9}}, "gcn_nodes must be"),
        ({"arch_params": {"smoothing": True, "smoothing_kernel": 4001}}, "smoothing_kernel"),
        ({"mean": [0.5, 0.5, 1e400]}, "mean must be a finite number"),
    ],
)
def test_oversized_checkpoint_configs_are_refused(tmp_path, capsys, fields, reason):
    ckpt = _checkpoint(tmp_path, **fields)
    photo = _photo(tmp_path / "p.jpg")
    assert main(["embed", str(photo), "--model", ckpt]) == EXIT_BAD_INPUT
    line = _one_error_line(capsys)
    assert "config.json" in line and reason in line


def test_deeply_nested_config_json_is_refused(tmp_path, capsys):
    ckpt = _checkpoint(tmp_path)
    depth = 200_000
    (tmp_path / "ckpt" / "config.json").write_text(
        '{"format": "visual-search-checkpoint", "extra": ' + "[" * depth + "]" * depth + "}"
    )
    photo = _photo(tmp_path / "p.jpg")
    assert main(["embed", str(photo), "--model", ckpt]) == EXIT_BAD_INPUT
    line = _one_error_line(capsys)
    assert "config.json" in line and "nested more than 64 levels" in line


def test_a_sane_checkpoint_config_still_loads(tmp_path, capsys):
    from engine.network.checkpoint import read_config

    ckpt = _checkpoint(tmp_path, descriptor_dim=256.0, scales=[0.7071, 1, 1.4142])
    cfg = read_config(ckpt)
    assert cfg.descriptor_dim == 256 and cfg.scales == (0.7071, 1.0, 1.4142)


class _Allocates:
    """Pickles as ``bytes(10**13)``: 10 TB on unpickling, were it allowed."""

    def __reduce__(self):
        return (bytes, (10**13,))


class _HugeArray:
    def __reduce__(self):
        return (np.ndarray, ((10**7, 10**6),))


@pytest.mark.parametrize(
    "payload, what", [(_Allocates(), "refused bytes(10000000000000)"), (_HugeArray(), "array")]
)
def test_gnd_pickles_that_allocate_are_refused(tmp_path, capsys, payload, what):
    images = tmp_path / "jpg"
    _photo(images / "a.jpg")
    gnd = tmp_path / "gnd_evil.pkl"
    gnd.write_bytes(pickle.dumps({"imlist": ["a"], "qimlist": [], "gnd": [], "x": payload}))
    args = ["evaluate", "--gnd", str(gnd), "--images", str(images), "--model", MODEL]
    assert main(args) == EXIT_BAD_INPUT
    line = _one_error_line(capsys)
    assert str(gnd) in line and what in line and "only plain data" in line


def test_gnd_pickles_of_plain_arrays_still_load(tmp_path):
    from engine.evaluation.revisitop import load_ground_truth

    for protocol in (3, 4, 5):
        p = _gnd(tmp_path / f"gnd_p{protocol}.pkl", ["a", "b"], ["q"])
        p.write_bytes(pickle.dumps(pickle.loads(p.read_bytes()), protocol=protocol))
        gt = load_ground_truth(p)
        assert gt.imlist == ["a", "b"] and list(gt.gnd[0]["easy"]) == [0]
