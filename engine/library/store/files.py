"""Folders and files in the library database (``Store.files``).

Reads return plain rows (``FileRow``); writes take what a scan saw (``FileState``) and run
``ROWS_PER_TRANSACTION`` rows per transaction, so a kill loses at most the chunk in flight.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, update

from engine.library.store.database import Database
from engine.library.store.fspath import fs_bytes, fs_text, is_within
from engine.library.store.schema import (
    FAILED,
    IDS_PER_QUERY,
    OK,
    ROWS_PER_TRANSACTION,
    FileRow,
    FileState,
    advance_all,
    chunks,
    drop_derived,
    files_t,
    folders_t,
    vectors_t,
)


class FileTable:
    """The folders and files of a library database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ----------------------------------------------------------------- folders

    def folders(self) -> list[tuple[int, bytes]]:
        with self.db.connect() as c:
            return [(r.id, r.path) for r in c.execute(select(folders_t).order_by(folders_t.c.path))]

    def add_folder(
        self, path: str | os.PathLike, follow_links: bool | None = None
    ) -> tuple[int, bytes, list[str]]:
        """Register a folder; returns ``(id, path, notes)``. ``follow_links``: whether its
        symbolic links are followed outside the indexed folders (None: as it was; off for a
        new folder).

        A folder inside an already registered one is not added twice (the parent covers it),
        nor one that is a registered folder (or inside one) reached through a symbolic link;
        a new parent of registered folders absorbs them and their files.
        """
        p = fs_bytes(path)
        notes: list[str] = []
        now = time.time()
        with self.db.begin() as c:
            rows = c.execute(select(folders_t.c.id, folders_t.c.path)).all()
            real = os.path.realpath(p)
            for fid, fp in rows:
                if not is_within(p, fp) and is_within(real, os.path.realpath(fp)):
                    notes.append(
                        f"{fs_text(p)} is {fs_text(fp)} (or inside it) through a symbolic link, "
                        "already indexed"
                    )
                    return fid, fp, notes
            for fid, fp in rows:
                if is_within(p, fp):
                    if p != fp:
                        notes.append(f"{fs_text(p)} is inside {fs_text(fp)}, already indexed")
                        if follow_links is not None:
                            notes.append(f"following links is set for {fs_text(fp)} as a whole")
                    elif follow_links is not None:
                        c.execute(
                            update(folders_t)
                            .where(folders_t.c.id == fid)
                            .values(follow_links=follow_links)
                        )
                    return fid, fp, notes
            new = {"path": p, "added_at": now, "follow_links": bool(follow_links)}
            new_id = c.execute(insert(folders_t).values(**new)).inserted_primary_key[0]
            for fid, fp in rows:
                # never equal here: that returned above; a registered folder inside the new
                # one through a symbolic link is absorbed too (its photos are found again
                # under the new folder's paths, as moves: described once)
                if is_within(fp, p) or is_within(os.path.realpath(fp), real):
                    c.execute(
                        update(files_t).where(files_t.c.folder_id == fid).values(folder_id=new_id)
                    )
                    c.execute(delete(folders_t).where(folders_t.c.id == fid))
                    notes.append(f"{fs_text(fp)} is now covered by {fs_text(p)}")
            return new_id, p, notes

    def following_links(self) -> set[bytes]:
        """The folders whose symbolic links are followed wherever they lead."""
        with self.db.connect() as c:
            q = select(folders_t.c.path).where(folders_t.c.follow_links.is_(True))
            return {r.path for r in c.execute(q)}

    def folder_for(self, path: str | os.PathLike) -> tuple[int, bytes] | None:
        """The registered folder that holds ``path``, if any."""
        p = fs_bytes(path)
        for fid, fp in self.folders():
            if is_within(p, fp):
                return fid, fp
        return None

    def as_stored(self, path: str | os.PathLike | bytes) -> bytes | None:
        """``path`` as the library names it: itself under a registered folder, or the same
        place reached through a symbolic link (either way round) under the registered folder
        that holds it; None when no folder holds it."""
        p = fs_bytes(path)
        folders = self.folders()
        if any(is_within(p, fp) for _, fp in folders):
            return p
        real = os.fsencode(os.path.realpath(p))
        for _, fp in folders:
            root = os.fsencode(os.path.realpath(fp))
            if is_within(real, root):
                return os.path.normpath(os.path.join(fp, os.path.relpath(real, root)))
        return None

    def mark_scanned(self, folder_id: int) -> None:
        with self.db.begin() as c:
            c.execute(
                update(folders_t).where(folders_t.c.id == folder_id).values(scanned_at=time.time())
            )

    def forget(self, path: str | os.PathLike) -> tuple[int, int]:
        """Remove a folder (or a single file) and its vectors. Returns (folders, files) removed."""
        p = fs_bytes(path)
        with self.db.begin() as c:
            fid = c.execute(select(folders_t.c.id).where(folders_t.c.path == p)).scalar()
            if fid is not None:
                n = c.execute(select(func.count()).where(files_t.c.folder_id == fid)).scalar_one()
                advance_all(c)
                c.execute(delete(folders_t).where(folders_t.c.id == fid))
                return 1, int(n)
            n = c.execute(delete(files_t).where(files_t.c.path == p)).rowcount
            if n:
                advance_all(c)
            return 0, int(n)

    # ----------------------------------------------------------------- files: reading

    def files_in_folder(self, folder_id: int) -> dict[bytes, FileRow]:
        with self.db.connect() as c:
            rows = c.execute(select(files_t).where(files_t.c.folder_id == folder_id))
            return {r.path: FileRow(**r._asdict()) for r in rows}

    def file_ids_under(self, path: str | os.PathLike) -> list[int]:
        """Ids of the files at or below ``path`` (empty when no registered folder holds it)."""
        hit = self.folder_for(path)
        if hit is None:
            return []
        prefix = fs_bytes(path)
        return [r.id for r in self.files_in_folder(hit[0]).values() if is_within(r.path, prefix)]

    def file_by_path(self, path: str | os.PathLike) -> FileRow | None:
        with self.db.connect() as c:
            r = c.execute(select(files_t).where(files_t.c.path == fs_bytes(path))).first()
            return FileRow(**r._asdict()) if r else None

    def files_by_ids(self, ids: Iterable[int]) -> dict[int, FileRow]:
        ids = [int(i) for i in ids]
        out: dict[int, FileRow] = {}
        with self.db.connect() as c:
            for chunk in chunks(ids, IDS_PER_QUERY):
                for r in c.execute(select(files_t).where(files_t.c.id.in_(chunk))):
                    out[r.id] = FileRow(**r._asdict())
        return out

    def ok_files(self) -> list[FileRow]:
        """Every decoded file, by path."""
        with self.db.connect() as c:
            rows = c.execute(select(files_t).where(files_t.c.status == OK).order_by(files_t.c.path))
            return [FileRow(**r._asdict()) for r in rows]

    def failed_files(self) -> list[FileRow]:
        """Files that failed, and indexed files with a note (their ``error``), by path."""
        noted = and_(files_t.c.status == OK, files_t.c.error.is_not(None))
        with self.db.connect() as c:
            rows = c.execute(
                select(files_t)
                .where(or_(files_t.c.status == FAILED, noted))
                .order_by(files_t.c.path)
            )
            return [FileRow(**r._asdict()) for r in rows]

    def pending_for_model(
        self, model_id: int, folder_ids: list[int] | None = None
    ) -> list[FileRow]:
        """Files that are not failed and have no vector for ``model_id`` yet, by path."""
        has = select(vectors_t.c.file_id).where(vectors_t.c.model_id == model_id)
        q = select(files_t).where(files_t.c.status != FAILED, files_t.c.id.not_in(has))
        if folder_ids is not None:
            q = q.where(files_t.c.folder_id.in_(folder_ids))
        with self.db.connect() as c:
            return [FileRow(**r._asdict()) for r in c.execute(q.order_by(files_t.c.path))]

    # ----------------------------------------------------------------- files: what a scan found

    def add_files(self, files: Sequence[FileState]) -> None:
        """Record new files: waiting for extraction, or failed when their state has an error."""
        now = time.time()
        rows = [
            {
                "folder_id": f.folder_id,
                "path": f.path,
                "size": f.size,
                "mtime_ns": f.mtime_ns,
                "content_hash": f.content_hash,
                "status": f.status,
                "error": f.error or None,
                "updated_at": now,
            }
            for f in files
        ]
        for chunk in chunks(rows, ROWS_PER_TRANSACTION):
            with self.db.begin() as c:
                c.execute(insert(files_t), chunk)

    def move_files(self, moves: Sequence[tuple[int, FileState]]) -> None:
        """``(file id, new state)``: a file found under a new path with the same content keeps
        its row, id and vectors; only its path, folder and mtime change."""
        now = time.time()
        rows = [
            {"b_id": i, "path": f.path, "folder_id": f.folder_id, "mtime_ns": f.mtime_ns}
            for i, f in moves
        ]
        stmt = update(files_t).where(files_t.c.id == bindparam("b_id")).values(updated_at=now)
        for chunk in chunks(rows, ROWS_PER_TRANSACTION):
            with self.db.begin() as c:
                c.execute(stmt, chunk)

    def reset_files(self, changes: Sequence[tuple[int, FileState]]) -> None:
        """``(file id, new state)``: a file whose size or mtime changed loses what was derived
        from its pixels (vectors, dimensions) and waits for extraction again."""
        now = time.time()
        rows = [
            {
                "b_id": i,
                "folder_id": f.folder_id,
                "size": f.size,
                "mtime_ns": f.mtime_ns,
                "content_hash": f.content_hash,
                "status": f.status,
                "error": f.error or None,
            }
            for i, f in changes
        ]
        stmt = (
            update(files_t)
            .where(files_t.c.id == bindparam("b_id"))
            .values(width=None, height=None, updated_at=now)
        )
        for chunk in chunks(rows, ROWS_PER_TRANSACTION):
            with self.db.begin() as c:
                drop_derived(c, [r["b_id"] for r in chunk])
                c.execute(stmt, chunk)

    def remove_files(self, file_ids: Sequence[int]) -> None:
        """Files that are gone from disk leave the library, with their vectors."""
        for chunk in chunks(list(file_ids), ROWS_PER_TRANSACTION):
            with self.db.begin() as c:
                c.execute(delete(files_t).where(files_t.c.id.in_(chunk)))
                advance_all(c)
