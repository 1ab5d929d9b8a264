"""A damaged page of the library database is noticed when the library is opened: ``status``,
``errors`` and ``index`` refuse it in one line that sends the user to ``repair`` (before, only
``search`` said "malformed", when it happened to read the page)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from engine.cli import main
from tests.helpers import MODEL

PHOTOS = 3


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, _photo_template):
    """A library of ``PHOTOS`` photos, indexed once for the module."""
    root = tmp_path_factory.mktemp("indexed")
    photos = root / "photos"
    photos.mkdir()
    for src in sorted(_photo_template.rglob("*.jpg"))[:PHOTOS]:
        shutil.copy(src, photos / src.name)
    assert main(["index", str(photos), "--library", str(root / "lib"), "--model", MODEL]) == 0
    return root


def _damage_page_of(db: Path, table: str) -> None:
    """Overwrite the root page of ``table`` (a table or an index: its only page, or the top
    of its b-tree) with bytes that are no b-tree page, as a bad sector or a stray write
    would. The pages chosen are ones the old commands never read: a count answered from an
    index, a vector or local code that only ``search`` reads, an index only a move uses."""
    con = sqlite3.connect(db)
    page = con.execute("PRAGMA page_size").fetchone()[0]
    (root,) = con.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    con.close()
    assert not Path(f"{db}-wal").exists() or Path(f"{db}-wal").stat().st_size == 0
    with open(db, "r+b") as f:
        f.seek((root - 1) * page)
        f.write(b"\xa5" * page)


def _refused(argv: list[str], lib: Path, capsys) -> None:
    # a problem with the input: exit 1 (2 where bad input is told from usage that way)
    assert main([*argv, "--library", str(lib)]) in (1, 2), argv
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error" not in err, err
    assert "damaged (database disk image is malformed" in err, err
    assert f"visual-search repair --library {lib}" in err, err


@pytest.mark.parametrize("table", ["vectors", "local_codes", "ix_files_content_hash"])
def test_a_damaged_page_is_noticed_by_status_errors_and_index(indexed, tmp_path, capsys, table):
    lib = tmp_path / "lib"
    shutil.copytree(indexed / "lib", lib)
    _damage_page_of(lib / "library.sqlite3", table)
    photos = str(indexed / "photos")
    for argv in (["status"], ["errors"], ["index", photos, "--model", MODEL]):
        _refused(argv, lib, capsys)
    assert main(["repair", "--library", str(lib)]) == 0
    assert f"indexed {PHOTOS}, failed 0" in capsys.readouterr().out
    assert main(["status", "--library", str(lib)]) == 0
    assert f"photos: {PHOTOS} indexed" in capsys.readouterr().out


def test_a_large_database_checks_its_small_tables_on_open(indexed, tmp_path, capsys, monkeypatch):
    """Above ``FULL_CHECK_BYTES`` the open walks the folders, files, models and codebooks
    (and their indexes) only: a damaged page there is still caught at once."""
    from engine.library.store import integrity

    monkeypatch.setattr(integrity, "FULL_CHECK_BYTES", 0)
    lib = tmp_path / "lib"
    shutil.copytree(indexed / "lib", lib)
    db = lib / "library.sqlite3"
    assert integrity.check_statements(db) == [
        f"PRAGMA quick_check({t})" for t in integrity.SMALL_TABLES
    ]
    _damage_page_of(db, "ix_files_content_hash")  # an index of a small table: walked too
    _refused(["status"], lib, capsys)
    _refused(["errors"], lib, capsys)


def test_status_checks_every_table_even_of_a_large_database(indexed, tmp_path, capsys, monkeypatch):
    """A damaged vector page of a large database passes the open's check of the small tables
    (``errors`` never reads vectors), but ``status`` walks every table."""
    from engine.library.store import integrity

    monkeypatch.setattr(integrity, "FULL_CHECK_BYTES", 0)
    lib = tmp_path / "lib"
    shutil.copytree(indexed / "lib", lib)
    _damage_page_of(lib / "library.sqlite3", "vectors")
    assert main(["errors", "--library", str(lib)]) == 0
    assert capsys.readouterr().out.strip() == "no failed photos"
    _refused(["status"], lib, capsys)
