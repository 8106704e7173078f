"""What a chunking worker process does with a batch of paths.

Workers get paths (not contents) and return msgspec-encoded `FileOutcome`
records (never trees). Each file is read once: stat, size check, read,
classify (binary/minified), hash, and only when the hash differs from the
one the index has, parse and extract. One bad file never fails its batch.
"""

from __future__ import annotations

import os
import stat
import time

import msgspec

from .classify import classify, content_hash
from .extract import ParseTimeoutError, extract
from .languages import LANGUAGES, detect_language
from .records import FileOutcome

# Enough for any shebang line; read before the language is known.
HEAD_BYTES = 256


class WorkItem(msgspec.Struct, frozen=True, array_like=True):
    """One path to (re)consider, with what the index knows of it."""

    path: str  # workspace-relative
    known_hash: str | None = None
    known_version: int = 0  # extractor version of the indexed rows
    force: bool = False


class WorkerSettings(msgspec.Struct, frozen=True):
    """Limits a worker applies; sent with every batch (tiny)."""

    root: str
    max_file_bytes: int
    max_line_bytes: int
    max_chunk_bytes: int
    parse_timeout_ms: int


_items_decoder = msgspec.msgpack.Decoder(list[WorkItem])
_settings_decoder = msgspec.msgpack.Decoder(WorkerSettings)
_outcomes_encoder = msgspec.msgpack.Encoder()


def process_batch(settings_blob: bytes, items_blob: bytes) -> bytes:
    """Entry point in the worker process: a batch in, encoded outcomes out."""
    settings = _settings_decoder.decode(settings_blob)
    items = _items_decoder.decode(items_blob)
    return _outcomes_encoder.encode([process_file(settings, item) for item in items])


def process_file(settings: WorkerSettings, item: WorkItem) -> FileOutcome:
    """Everything about one file, as an outcome; never raises."""
    path = item.path
    absolute = os.path.join(settings.root, path)
    language = detect_language(path, b"")
    try:
        fd = os.open(
            absolute, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        )
    except FileNotFoundError:
        return FileOutcome(path=path, status="missing")
    except OSError as exc:
        return _skip(path, "unreadable", f"cannot open: {exc.strerror}", language)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return _skip(path, "unreadable", "not a regular file", language, info)
        if info.st_size > settings.max_file_bytes:
            detail = f"{info.st_size} bytes > limit {settings.max_file_bytes}"
            return _skip(path, "too_large", detail, language, info)
        if language is None and "." in os.path.basename(path).lstrip("."):
            # An unknown extension: no need to read it to know we can't parse it.
            return _skip(
                path, "unsupported", "no language for this file name", None, info
            )
        try:
            data = _read_all(fd, info.st_size)
        except OSError as exc:
            return _skip(
                path, "unreadable", f"cannot read: {exc.strerror}", language, info
            )
    finally:
        os.close(fd)
    if language is None:
        language = detect_language(path, data[:HEAD_BYTES])
        if language is None:
            return _skip(
                path,
                "unsupported",
                "no language for this file name or shebang",
                None,
                info,
            )
    verdict = classify(
        data,
        max_file_bytes=settings.max_file_bytes,
        max_line_bytes=settings.max_line_bytes,
    )
    if verdict is not None:
        reason, detail = verdict
        return _skip(path, reason, detail, language, info)
    digest = content_hash(data)
    version = LANGUAGES[language].extractor_version
    if not item.force and digest == item.known_hash and version == item.known_version:
        return FileOutcome(
            path=path,
            status="unchanged",
            language=language,
            size=info.st_size,
            mtime_ns=info.st_mtime_ns,
            content_hash=digest,
            extractor_version=version,
        )
    started = time.perf_counter()
    try:
        extraction = extract(
            data,
            language,
            max_chunk_bytes=settings.max_chunk_bytes,
            timeout_ms=settings.parse_timeout_ms,
        )
    except ParseTimeoutError:
        detail = f"parse exceeded {settings.parse_timeout_ms} ms"
        return _skip(path, "parse_timeout", detail, language, info, digest)
    except Exception as exc:  # noqa: BLE001 - one bad file must not fail its batch
        detail = f"{type(exc).__name__}: {exc}"[:300]
        return _skip(path, "parse_failed", detail, language, info, digest)
    return FileOutcome(
        path=path,
        status="indexed",
        language=language,
        size=info.st_size,
        mtime_ns=info.st_mtime_ns,
        content_hash=digest,
        extractor_version=version,
        extraction=extraction,
        parse_ms=(time.perf_counter() - started) * 1000,
    )


def _read_all(fd: int, size_hint: int) -> bytes:
    # One read for the common case; loop for files that grew since fstat.
    chunks: list[bytes] = []
    while True:
        chunk = os.read(fd, max(size_hint, 65536))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _skip(
    path: str,
    reason: str,
    detail: str,
    language: str | None,
    info: os.stat_result | None = None,
    digest: str | None = None,
) -> FileOutcome:
    return FileOutcome(
        path=path,
        status="skipped",
        language=language,
        size=info.st_size if info else 0,
        mtime_ns=info.st_mtime_ns if info else 0,
        content_hash=digest,
        skip_reason=reason,  # type: ignore[arg-type]
        detail=detail,
    )


def warm_up() -> int:
    """Run once per worker at start: import everything a batch needs."""
    return os.getpid()
