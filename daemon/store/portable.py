"""Portable snapshot files: one self-describing file another machine imports.

Format (version 1)::

    AXDSNAP1\\n                 magic line
    {manifest as JSON}\\n       `snapshots.Manifest`: id, label, created_at,
                                generation, schema_version, size_bytes and
                                the SHA-256 of the database bytes that follow
    <SQLite database bytes>     exactly size_bytes of them

Every path inside the database is workspace-relative (the index never
stores the root), so a file built at one path restores into a checkout of
the same tree anywhere; the reconcile afterwards re-parses only files whose
content differs.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from typing import TYPE_CHECKING

import msgspec

from axd.daemon.store.snapshots import (
    Manifest,
    SnapshotDir,
    SnapshotInvalidError,
    fsync_path,
    inspect,
    scratch,
)

if TYPE_CHECKING:
    from pathlib import Path

MAGIC = b"AXDSNAP1\n"
_MAX_MANIFEST = 64 * 1024
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Manifest)


def export(manifest: Manifest, db: Path, dest: Path) -> str:
    """Write `db` with its manifest to `dest` (temp, fsync, rename); the
    SHA-256 of the whole file."""
    temporary = dest.with_name(f".{dest.name}.tmp")
    digest = hashlib.sha256()
    try:
        with open(temporary, "wb") as out, open(db, "rb") as source:
            for part in (MAGIC, _encoder.encode(manifest) + b"\n"):
                out.write(part)
                digest.update(part)
            while block := source.read(1 << 20):
                out.write(block)
                digest.update(block)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    fsync_path(dest.parent)
    return digest.hexdigest()


def read(source: Path, work: Path, *, latest: int) -> Manifest:
    """Unpack `source` into `work` (a standalone database), verified: the
    magic, the manifest, a schema no newer than `latest`, the size and
    SHA-256 of the database bytes, and ``quick_check``.

    :raises SnapshotInvalidError: anything does not match.
    """
    with open(source, "rb") as handle:
        if handle.read(len(MAGIC)) != MAGIC:
            raise SnapshotInvalidError(f"{source} is not an axd snapshot file")
        line = handle.readline(_MAX_MANIFEST)
        try:
            manifest = _decoder.decode(line)
        except msgspec.DecodeError as exc:
            raise SnapshotInvalidError(f"{source}: bad manifest: {exc}") from exc
        if manifest.schema_version > latest:
            raise SnapshotInvalidError(
                f"{source.name} has schema version {manifest.schema_version}; this"
                f" axd knows up to {latest}: upgrade axd to import it"
            )
        digest = hashlib.sha256()
        with open(work, "wb") as out:
            size = 0
            while block := handle.read(1 << 20):
                out.write(block)
                digest.update(block)
                size += len(block)
            out.flush()
            os.fsync(out.fileno())
    if size != manifest.size_bytes or digest.hexdigest() != manifest.sha256:
        raise SnapshotInvalidError(
            f"{source} is damaged: its database does not match the manifest's"
            " size and sha256"
        )
    os.chmod(work, 0o600)
    facts = inspect(work)
    if facts.schema_version != manifest.schema_version:
        raise SnapshotInvalidError(
            f"{source}: the manifest says schema {manifest.schema_version}, the"
            f" database has {facts.schema_version}"
        )
    return manifest


def copy_file(source: Path, dest: Path) -> None:
    """Copy a standalone (not live) database file, fsynced."""
    shutil.copyfile(source, dest)
    os.chmod(dest, 0o600)
    fsync_path(dest)


def adopt(directory: SnapshotDir, source: Path, latest: int) -> Manifest:
    """Unpack and verify `source` into `directory` as an ``import`` snapshot."""
    directory.ensure()
    with scratch(directory.directory, "import") as work:
        manifest = read(source, work, latest=latest)
        return directory.adopt(
            work,
            label=manifest.label or f"imported from {source.name}",
            kind="import",
            created_at=manifest.created_at,
        )
