"""What a chunking worker process does with a batch of paths.

Workers get paths (not contents) and return msgspec-encoded `FileOutcome`
records (never trees). Each file is read once: stat, size check, read,
classify (binary/minified), hash, and only when the hash differs from the
one the index has, parse and extract. One bad file never fails its batch.
"""

from __future__ import annotations

import functools
import os
import select
import signal
import stat
import threading
import time

import msgspec
import structlog

from axd.daemon.index import heap
from axd.daemon.index.classify import classify, content_hash
from axd.daemon.index.derive import derive
from axd.daemon.index.extract import ParseTimeoutError, compiled, extract
from axd.daemon.index.extract import _compiled as _built
from axd.daemon.index.languages import LANGUAGES, detect_language, refine_language
from axd.daemon.records import FileOutcome, ship
from axd.daemon.store import fts

log = structlog.get_logger()

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


# A worker's memory (#16 target 2). The identifier-splitting caches
# (`store/fts.py`) held ~35 MB after 1,500 files of the 100k-file corpus
# (most of a worker's growth) and hit rarely across files: emptied, all four
# together, after any file that leaves them above this many bytes
# (perf/RESULTS.md "#16 worker memory (round 6)": hit rate against CPU).
# Checked per file, not per batch: one 4 MiB part of generated files with
# unique names (Symfony's emoji tables) grew them by 11 MB before its end
# ("#16 memory (round 7)").
TERM_CACHE_BYTES = 8 << 20
# After a batch with this many source bytes parsed, freed tree-sitter trees
# are returned to the kernel (`heap.trim`: ~4 ms, so not after every save).
TRIM_AFTER_BYTES = 1 << 20


def process_batch(settings_blob: bytes, items_blob: bytes) -> bytes:
    """Entry point in the worker process: a batch in, encoded outcomes out."""
    settings = _settings_decoder.decode(settings_blob)
    items = _items_decoder.decode(items_blob)
    shipped = []
    parsed = 0
    for item in items:
        outcome = process_file(settings, item)
        if outcome.status == "indexed":
            parsed += outcome.size
            bound_term_caches()
        shipped.append(ship(outcome))
    blob = _outcomes_encoder.encode(shipped)
    del shipped
    release_memory(parsed)
    return blob


def bound_term_caches() -> None:
    """Empty the identifier-splitting caches once past `TERM_CACHE_BYTES`
    (a few attribute reads: cheap enough after every file)."""
    if fts.term_cache_bytes() > TERM_CACHE_BYTES:
        fts.clear_term_caches()


def release_memory(parsed_bytes: int) -> None:
    """Keep a long-lived worker near its live data after a batch."""
    bound_term_caches()
    if parsed_bytes >= TRIM_AFTER_BYTES:
        heap.trim()


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
        name = os.path.basename(path)
        if language is None and "." in name.lstrip("."):
            # An unknown extension: no need to read it to know we can't parse it.
            extension = "." + name.rsplit(".", 1)[1]
            detail = f"no language for {extension!r} files"
            return _skip(path, "unsupported", detail, None, info)
        try:
            # Never more than the limit allows, even from a file that keeps
            # growing while we read it (a log being written).
            data = _read_all(fd, info.st_size, settings.max_file_bytes + 1)
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
    language = refine_language(language, data)
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
    seen = functools.partial(
        FileOutcome,
        path=path,
        language=language,
        size=info.st_size,
        mtime_ns=info.st_mtime_ns,
        content_hash=digest,
        extractor_version=version,
    )
    if not item.force and digest == item.known_hash and version == item.known_version:
        return seen(status="unchanged")
    started = time.perf_counter()
    try:
        extraction = extract(
            data,
            language,
            max_chunk_bytes=settings.max_chunk_bytes,
            timeout_ms=settings.parse_timeout_ms,
        )
    except ParseTimeoutError:
        spent = (time.perf_counter() - started) * 1000
        detail = (
            f"parse exceeded {settings.parse_timeout_ms} ms"
            f" (stopped after {spent:.0f} ms, {info.st_size} bytes)"
        )
        return _skip(path, "parse_timeout", detail, language, info, digest)
    except Exception as exc:  # noqa: BLE001 - one bad file must not fail its batch
        detail = f"{type(exc).__name__}: {exc}"[:300]
        return _skip(path, "parse_failed", detail, language, info, digest)
    # The writer's per-row work, done here (#16: the writer is the bottleneck).
    extraction = msgspec.structs.replace(extraction, derived=derive(extraction))
    return seen(
        status="indexed",
        extraction=extraction,
        parse_ms=(time.perf_counter() - started) * 1000,
        # Indexed, but not in full: files.explain says what was left out.
        detail=extraction.shortfall,
    )


def _read_all(fd: int, size_hint: int, limit: int) -> bytes:
    """Up to `limit` bytes: one read for the common case, a loop for files
    that grew since fstat."""
    chunks: list[bytes] = []
    remaining = limit
    while remaining > 0:
        chunk = os.read(fd, min(max(size_hint, 65536), remaining))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


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
        # The version that judged it: a warm restart compares it with the
        # current one (see Indexer._reconcile) and must not re-read an
        # unchanged skipped file every time.
        extractor_version=_version(language),
    )


def _version(language: str | None) -> int:
    spec = LANGUAGES.get(language) if language else None
    return spec.extractor_version if spec else 0


def exit_with(daemon_pid: int) -> None:
    """Executor initializer: end this worker when the daemon process ends.

    Workers are children of multiprocessing's forkserver, not of the daemon;
    a daemon killed with SIGKILL (OOM killer, `kill -9`) would otherwise
    leave them, and the forkserver, blocked on their queues forever.

    Ctrl-C in the daemon's terminal (`make run`) signals its whole process
    group: the daemon stops its workers itself, so a worker ignores SIGINT
    rather than die with a KeyboardInterrupt traceback on the terminal (and
    a broken pool) while the daemon shuts down. SIGTERM still ends it: the
    pool's close sends it (`executors.py`).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    thread = threading.Thread(
        target=_wait_for_exit, args=(daemon_pid,), name="axd-parent-watch", daemon=True
    )
    thread.start()


def _wait_for_exit(pid: int) -> None:
    try:
        fd = os.pidfd_open(pid)  # Linux >= 5.3: readable once `pid` exits
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        select.select([fd], [], [])
    else:
        while True:  # macOS, old kernels: poll
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            except PermissionError:
                pass
            time.sleep(1.0)
    os._exit(1)


def warm_up() -> int:
    """Run once per worker at start: import everything a batch needs."""
    return os.getpid()


def languages_built() -> int:
    """How many languages this process has a parser and query for: every
    registry language in a worker forked from the prebuilt forkserver."""
    # extract's per-process cache of built languages (functools.cache).
    return _built.cache_info().currsize


def preload(languages: list[str]) -> int:
    """Build the parser and query of each language now (a query of a large
    grammar takes 0.1-0.8 s to compile), so the first save of a file of
    that language after a warm start does not wait for it (#16)."""
    built = 0
    for language in languages:
        try:
            compiled(language)
            built += 1
        except Exception:  # noqa: BLE001, S110 - the batch that needs it reports it
            pass
    return built


def log_shortfalls(outcomes: list[FileOutcome]) -> None:
    """Log each file indexed only in part (run in the daemon, not a worker)."""
    for outcome in outcomes:
        if outcome.status == "indexed" and outcome.detail:
            log.warning(
                "file_indexed_in_part", path=outcome.path, detail=outcome.detail
            )
