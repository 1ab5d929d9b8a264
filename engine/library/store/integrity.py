"""A quick integrity check of the library database, run on every open.

SQLite reads a damaged page only when a query needs it: a count that an index answers never
looks at the table beside it, so ``status`` and ``index`` could call a library sound that
``search`` then finds "malformed". ``PRAGMA quick_check`` walks every b-tree page, which
costs about 60 ms for a 100 MB database (5,000 photos with a global vector and local codes
each, warm page cache); above ``FULL_CHECK_BYTES`` only the small tables (folders, files,
models, codebooks and their indexes) are walked on open, and the large ones are left to the
queries that read them (which report damage the same way), to ``status`` and to ``repair``,
which always check everything.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

#: a database (with its ``-wal``) up to this size is checked whole on open
FULL_CHECK_BYTES = 256 * 2**20
#: the tables checked on open in a larger database (each with its indexes)
SMALL_TABLES = ("meta", "folders", "files", "models", "codebooks")
#: ``PRAGMA quick_check(TABLE)`` needs SQLite 3.33
_TABLE_CHECK = sqlite3.sqlite_version_info >= (3, 33, 0)


def database_bytes(db_path: Path) -> int:
    """The size of the database file and its ``-wal``."""
    total = 0
    for suffix in ("", "-wal"):
        with contextlib.suppress(OSError):
            total += os.stat(f"{os.fspath(db_path)}{suffix}").st_size
    return total


def check_statements(db_path: Path, full: bool = False) -> list[str]:
    """The ``quick_check`` pragmas for ``db_path``: one over everything, or one per small
    table when the file is large (``full`` forces the whole check)."""
    if full or not _TABLE_CHECK or database_bytes(db_path) <= FULL_CHECK_BYTES:
        return ["PRAGMA quick_check(1)"]
    return [f"PRAGMA quick_check({name})" for name in SMALL_TABLES]


def first_problem(rows: list) -> str | None:
    """None for ``quick_check``'s ``ok``, or its first finding on one line."""
    found = [str(r[0]) for r in rows]
    if found == ["ok"]:
        return None
    text = " ".join(" ".join(found).split()).replace("*** in database main *** ", "")
    return "database disk image is malformed: " + (text[:200] or "no answer from quick_check")


def quick_check(con: sqlite3.Connection, db_path: Path, full: bool = False) -> str | None:
    """What ``quick_check`` finds wrong through the open connection ``con``, or None.
    SQLite's own errors (``malformed``, ``not a database``) are raised as they come."""
    for stmt in check_statements(db_path, full):
        problem = first_problem(con.execute(stmt).fetchall())
        if problem:
            return problem
    return None
