"""Training sets: layouts, exclusion lists, clear errors for bad sets, aspect-ratio batches."""

from __future__ import annotations

import pytest
from PIL import Image

from engine.training.batches import bucket_of, bucket_size, epoch_batches
from engine.training.data import (
    DatasetError,
    FolderDataset,
    GLDv2Dataset,
    Item,
    open_dataset,
    read_exclusions,
)


def _img(path, size=(40, 30), color=(200, 10, 10)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)


def _folder_set(root, counts: dict[str, int]):
    for cls, n in counts.items():
        for i in range(n):
            _img(root / cls / f"{i}.jpg", color=(10 * i, 50, 100))
    return root


def test_folder_dataset_labels_and_report(tmp_path):
    root = _folder_set(tmp_path / "set", {"a": 3, "b": 4, "single": 1})
    (root / "b" / "broken.jpg").write_text("nope")
    ds = FolderDataset(root)
    assert ds.classes == ["a", "b"]
    assert len(ds.items) == 7 and {it.label for it in ds.items} == {0, 1}
    r = ds.report
    assert r.dropped_classes == {"single": 1}
    assert r.unreadable == 1 and "broken.jpg" in r.unreadable_examples[0]
    text = " ".join(r.lines())
    assert "2 classes, 7 images" in text and "1 unreadable" in text and "dropped" in text


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda r: None, "does not exist"),
        (lambda r: r.mkdir(), "no images found"),
        (lambda r: _folder_set(r, {"only": 5}), "only one class"),
        (lambda r: _folder_set(r, {"a": 1, "b": 1, "c": 1}), "fewer than 2 readable images"),
        (lambda r: _img(r / "loose.jpg"), "one sub-folder per class"),
    ],
)
def test_bad_folder_sets_are_refused_with_a_reason(tmp_path, make, message):
    root = tmp_path / "set"
    make(root)
    with pytest.raises(DatasetError, match=message):
        FolderDataset(root)


def test_exclusion_list(tmp_path):
    root = _folder_set(tmp_path / "set", {"a": 2, "b": 2, "c": 2})
    ex = tmp_path / "exclude.txt"
    ex.write_text("# overlapping with the evaluation set\nb\n\n")
    assert read_exclusions(ex) == {"b"}
    ds = open_dataset(root, exclude_file=ex)
    assert ds.classes == ["a", "c"] and ds.report.excluded_classes == 1


def _gld_images(root, ids):
    for i in ids:
        _img(root / i[0] / i[1] / i[2] / f"{i}.jpg")


def test_gldv2_train_clean_and_train_csv(tmp_path):
    images = tmp_path / "train"
    _gld_images(images, ["abc001", "abd002", "bcd003", "bce004", "cde005"])
    clean = tmp_path / "train_clean.csv"
    clean.write_text("landmark_id,images\n7,abc001 abd002\n9,bcd003 bce004 zzz999\n")
    ds = GLDv2Dataset(clean)
    assert ds.classes == ["7", "9"] and len(ds.items) == 4
    assert ds.report.missing_files == 1 and ds.report.missing_examples == ["zzz999"]
    full = tmp_path / "train.csv"
    full.write_text(
        "id,url,landmark_id\nabc001,http://x,7\nabd002,http://x,7\n"
        "bcd003,http://x,9\ncde005,http://x,9\n"
    )
    ds2 = open_dataset(full, images=images)
    assert ds2.classes == ["7", "9"] and len(ds2.items) == 4


def test_gldv2_bad_csvs(tmp_path):
    bad = tmp_path / "train.csv"
    bad.write_text("image,label\n1,2\n")
    with pytest.raises(DatasetError, match="missing columns"):
        GLDv2Dataset(bad)
    nofiles = tmp_path / "clean.csv"
    nofiles.write_text("landmark_id,images\n1,aaa111 bbb222\n2,ccc333\n")
    with pytest.raises(DatasetError, match="none of the 3 image ids has a file"):
        GLDv2Dataset(nofiles, images=tmp_path)
    with pytest.raises(DatasetError, match="file not found"):
        GLDv2Dataset(tmp_path / "missing.csv")


def test_split_keeps_two_per_class_in_training(tmp_path):
    ds = FolderDataset(_folder_set(tmp_path / "s", {"a": 10, "b": 2, "c": 3}))
    train, val = ds.split(0.3, seed=1)
    assert len(train) + len(val) == 15
    by = {c: sum(1 for it in train if it.label == i) for i, c in enumerate(ds.classes)}
    assert by["b"] == 2 and by["a"] == 7 and by["c"] >= 2
    assert ds.split(0.3, seed=1) == (train, val)


def test_batches_group_aspect_ratios_and_shard_evenly():
    items = [Item(path=None, label=i % 5, aspect=4 / 3 if i % 3 else 3 / 4) for i in range(50)]
    b0 = epoch_batches(items, 4, seed=0, epoch=0)
    assert b0 == epoch_batches(items, 4, seed=0, epoch=0)
    assert b0 != epoch_batches(items, 4, seed=0, epoch=1)
    for b in b0:
        assert len(b) == 4 and len({bucket_of(items[i].aspect) for i in b}) == 1
    r0 = epoch_batches(items, 4, 0, 0, rank=0, world=2)
    r1 = epoch_batches(items, 4, 0, 0, rank=1, world=2)
    assert len(r0) == len(r1) and not {tuple(b) for b in r0} & {tuple(b) for b in r1}
    assert bucket_size(bucket_of(4 / 3), 512) == (384, 512)
    assert bucket_size(bucket_of(3 / 4), 512) == (512, 384)
