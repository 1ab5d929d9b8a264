"""What can be wrong with a library as a whole (cheap to import: no database, no numpy).

Each is a ``VisualSearchError``: one line, exit 2 in the command line, a message in the GUI.
"""

from __future__ import annotations

import os
import shlex

from engine.errors import VisualSearchError


class LibraryError(VisualSearchError):
    """The library database cannot be opened or is not ours."""


class LibraryMissingError(LibraryError):
    """No library at the path given (only indexing creates one)."""


class LibraryReadOnlyError(LibraryError):
    """The library can be searched but not changed (a read-only folder, mount or file)."""


class LibraryDamagedError(LibraryError):
    """The library database is damaged ("database disk image is malformed", not a database)."""


def damaged(db_path: str | os.PathLike, detail: str) -> LibraryDamagedError:
    """The one-line message for a damaged database: what happened and the way forward."""
    folder = shlex.quote(os.path.dirname(os.fspath(db_path)))
    return LibraryDamagedError(
        f"{os.fspath(db_path)}: not a usable library database, it is damaged ({detail}); your "
        f"photos are untouched: run `visual-search repair --library {folder}` to set the "
        "damaged file aside and rebuild the library from its folders"
    )


def read_only(directory: str | os.PathLike, why: str) -> LibraryReadOnlyError:
    return LibraryReadOnlyError(
        f"{os.fspath(directory)}: the library is read-only ({why}); it can be searched, "
        "but indexing or changing it needs write access to that folder"
    )
