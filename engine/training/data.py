"""Training data: folder-per-class sets and the Google Landmarks v2 layout.

* ``FolderDataset(root)``: ``root/<class>/*.jpg``.
* ``GLDv2Dataset(csv, images)``: ``train_clean.csv`` (``landmark_id,images`` with
  space-separated ids) or ``train.csv`` (``id,url,landmark_id``); image ``<id>`` lives at
  ``images/a/b/c/<id>.jpg`` (its first three characters).
* ``exclude``: class ids to leave out (``--exclude-classes FILE``: one id per line, ``#``
  comments) — how an RGLDv2-clean-style set is built.

Both check what they find and say so in ``report``: classes dropped for having too few images,
unreadable images (skipped and counted), ids without files. A set that cannot be trained on at
all (missing, empty, one class...) raises ``DatasetError`` with one line.

Turning items into tensor batches (aspect-ratio buckets, augmentation) is
:mod:`engine.training.batches`.
"""

from __future__ import annotations

import csv
import os
import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from engine.errors import BadImageError, InputFileError, VisualSearchError
from engine.inputs import check_regular, read_text
from engine.photo.formats import is_photo_name, is_plain_name


class DatasetError(VisualSearchError):
    """A training set that cannot be used."""


@dataclass
class Item:
    path: Path
    label: int
    aspect: float = 4 / 3


@dataclass
class DatasetReport:
    classes: int = 0
    images: int = 0
    dropped_classes: dict[str, int] = field(default_factory=dict)  # class id → image count
    excluded_classes: int = 0
    unreadable: int = 0
    unreadable_examples: list[str] = field(default_factory=list)
    missing_files: int = 0
    missing_examples: list[str] = field(default_factory=list)
    class_images: dict[str, int] = field(default_factory=dict)  # kept class id → image count
    #: every problem found, as (class id, file name, what is wrong)
    problems: list[tuple[str, str, str]] = field(default_factory=list)

    def class_rows(self) -> list[tuple[str, int, str]]:
        """One row per class found: (class id, usable images, its problems or "")."""
        by_class: dict[str, list[str]] = defaultdict(list)
        for cid, file, what in self.problems:
            by_class[cid].append(f"{file}: {what}")
        rows = []
        for cid in sorted({*self.class_images, *self.dropped_classes}):
            found = by_class.get(cid, [])
            if cid in self.dropped_classes:
                found = ["left out: fewer than 2 readable images", *found]
            n = self.class_images.get(cid, self.dropped_classes.get(cid, 0))
            rows.append((cid, n, "; ".join(found)))
        return rows

    def lines(self) -> list[str]:
        out = [f"{self.classes} classes, {self.images} images"]
        if self.excluded_classes:
            out.append(f"{self.excluded_classes} classes excluded by the exclusion list")
        if self.dropped_classes:
            ex = ", ".join(list(self.dropped_classes)[:5])
            out.append(
                f"{len(self.dropped_classes)} classes dropped for having fewer than 2 "
                f"readable images (e.g. {ex})"
            )
        if self.unreadable:
            out.append(
                f"{self.unreadable} unreadable images skipped "
                f"(e.g. {'; '.join(self.unreadable_examples[:3])})"
            )
        if self.missing_files:
            out.append(
                f"{self.missing_files} image ids have no file "
                f"(e.g. {', '.join(self.missing_examples[:3])})"
            )
        return out


#: an exclusion list holds class ids, one a line
MAX_LIST_BYTES = 16 * 1024 * 1024


def read_exclusions(path: str | os.PathLike) -> set[str]:
    """Class ids, one per line; blank lines and ``#`` comments ignored."""
    text = read_text(path, MAX_LIST_BYTES)  # a FIFO or device is refused, not read
    return {ln.split("#", 1)[0].strip() for ln in text.splitlines()} - {""}


def _header_aspect(path: Path) -> float:
    """Upright width/height from the header only (raises BadImageError when unreadable)."""
    try:
        st = path.stat()
    except OSError:
        raise BadImageError("file not found") from None
    if st.st_size == 0:
        raise BadImageError("empty file (0 bytes)")
    try:
        with Image.open(path) as im:
            w, h = im.size
            o = int(im.getexif().get(0x0112, 1) or 1)
    except Exception:
        raise BadImageError("not a recognised image format") from None
    if o in (5, 6, 7, 8):
        w, h = h, w
    return w / max(h, 1)


class LabelledSet:
    """Items with integer labels, ``classes[label]`` giving the original class id."""

    def __init__(
        self,
        by_class: dict[str, list[Path]],
        source: str,
        exclude: set[str] | None,
        min_per_class: int,
        check_images: bool,
        report: DatasetReport,
    ) -> None:
        exclude = exclude or set()
        self.source = source
        self.report = report
        if not by_class:
            raise DatasetError(f"{source}: no images found")
        report.excluded_classes = len(set(by_class) & exclude)
        kept: dict[str, list[tuple[Path, float]]] = {}
        for cid in sorted(by_class):
            if cid in exclude:
                continue
            good = []
            for p in by_class[cid]:
                if check_images:
                    try:
                        good.append((p, _header_aspect(p)))
                    except BadImageError as e:
                        report.unreadable += 1
                        report.problems.append((cid, p.name, str(e)))
                        if len(report.unreadable_examples) < 5:
                            report.unreadable_examples.append(f"{p.name}: {e}")
                else:
                    good.append((p, 4 / 3))
            if len(good) < min_per_class:
                report.dropped_classes[cid] = len(good)
                continue
            kept[cid] = good
            report.class_images[cid] = len(good)
        if not kept:
            if report.dropped_classes:
                raise DatasetError(
                    f"{source}: every class has fewer than {min_per_class} readable images; "
                    "each class needs at least two photos of the same object or place"
                )
            raise DatasetError(f"{source}: no usable images (all classes excluded or unreadable)")
        if len(kept) < 2:
            raise DatasetError(
                f"{source}: only one class ({next(iter(kept))}); training needs at least two"
            )
        self.classes = list(kept)
        self.items = [
            Item(p, label, a) for label, cid in enumerate(self.classes) for p, a in kept[cid]
        ]
        report.classes = len(self.classes)
        report.images = len(self.items)

    def split(self, val_fraction: float = 0.1, seed: int = 0) -> tuple[list[Item], list[Item]]:
        """Split by image within each class; classes with fewer than 3 images stay in train."""
        rng = random.Random(seed)
        by_label: dict[int, list[Item]] = defaultdict(list)
        for it in self.items:
            by_label[it.label].append(it)
        train, val = [], []
        for label in sorted(by_label):
            items = list(by_label[label])
            rng.shuffle(items)
            k = round(len(items) * val_fraction) if len(items) >= 3 else 0
            k = min(k, len(items) - 2)
            val += items[:k]
            train += items[k:]
        return train, val


class FolderDataset(LabelledSet):
    """``root/<class>/<image>``: one sub-folder per object or place."""

    def __init__(
        self,
        root: str | os.PathLike,
        exclude: set[str] | None = None,
        min_per_class: int = 2,
        check_images: bool = True,
    ) -> None:
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(
                f"{root}: " + ("does not exist" if not root.exists() else "is not a folder")
            )
        by_class: dict[str, list[Path]] = {}
        for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            files = sorted(
                p for p in d.rglob("*") if p.is_file() and is_photo_name(os.fsencode(p.name))
            )
            if files:
                by_class[d.name] = files
        if not by_class and any(is_photo_name(os.fsencode(p.name)) for p in root.iterdir()):
            raise DatasetError(
                f"{root}: photos must be in one sub-folder per class "
                "(root/<class>/*.jpg), found them directly in the folder"
            )
        super().__init__(by_class, str(root), exclude, min_per_class, check_images, DatasetReport())


class GLDv2Dataset(LabelledSet):
    """Google Landmarks v2: ``train_clean.csv`` or ``train.csv`` + ``images/a/b/c/<id>.jpg``."""

    def __init__(
        self,
        csv_path: str | os.PathLike,
        images: str | os.PathLike | None = None,
        exclude: set[str] | None = None,
        min_per_class: int = 2,
        check_images: bool = True,
    ) -> None:
        csv_path = Path(csv_path)
        try:  # read as a stream: only what is not a regular file is refused
            check_regular(csv_path, 1 << 40)
        except InputFileError as e:
            raise DatasetError(str(e)) from None
        images = Path(images) if images else _default_images_dir(csv_path)
        report = DatasetReport()
        by_class: dict[str, list[Path]] = defaultdict(list)
        try:
            with open(csv_path, newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                cols = set(reader.fieldnames or [])
                if {"landmark_id", "images"} <= cols:
                    rows = ((r["landmark_id"], (r["images"] or "").split()) for r in reader)
                elif {"id", "landmark_id"} <= cols:
                    rows = ((r["landmark_id"], [r["id"]]) for r in reader)
                else:
                    raise DatasetError(
                        f"{csv_path}: missing columns; expected landmark_id,images "
                        f"(train_clean.csv) or id,url,landmark_id (train.csv), found "
                        f"{','.join(reader.fieldnames or []) or 'no header'}"
                    )
                for cid, ids in rows:
                    for iid in ids:
                        if not is_plain_name(iid):
                            raise DatasetError(
                                f"{csv_path}: image id {iid!r} (landmark {cid}) is not a plain "
                                f"file name; refused, it would be read outside {images}"
                            )
                        p = (
                            images / iid[0] / iid[1] / iid[2] / f"{iid}.jpg"
                            if len(iid) >= 3
                            else images / f"{iid}.jpg"
                        )
                        if p.is_file():
                            by_class[str(cid)].append(p)
                        else:
                            report.missing_files += 1
                            report.problems.append((str(cid), f"{iid}.jpg", "no such file"))
                            if len(report.missing_examples) < 5:
                                report.missing_examples.append(iid)
        except UnicodeDecodeError:
            raise DatasetError(f"{csv_path}: not a text CSV file") from None
        except csv.Error as e:
            raise DatasetError(f"{csv_path}: malformed CSV ({e})") from None
        if not by_class and report.missing_files:
            raise DatasetError(
                f"{csv_path}: none of the {report.missing_files} image ids has a file under "
                f"{images} (expected {images}/a/b/c/<id>.jpg)"
            )
        super().__init__(
            dict(by_class), str(csv_path), exclude, min_per_class, check_images, report
        )


def _default_images_dir(csv_path: Path) -> Path:
    for cand in (csv_path.parent / "train", csv_path.parent / "images", csv_path.parent):
        if cand.is_dir():
            return cand
    return csv_path.parent


def open_dataset(
    data: str | os.PathLike,
    images: str | os.PathLike | None = None,
    exclude_file: str | os.PathLike | None = None,
    check_images: bool = True,
) -> LabelledSet:
    """A folder-per-class set, or a GLDv2 CSV, by what ``data`` is."""
    exclude = read_exclusions(exclude_file) if exclude_file else None
    if str(data).lower().endswith(".csv"):
        return GLDv2Dataset(data, images, exclude, check_images=check_images)
    return FolderDataset(data, exclude, check_images=check_images)
