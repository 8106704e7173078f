"""The watch process itself (`notifyproc` is the daemon's side of it).

It lives for the daemon's whole life, so what it imports stays resident
all that time: a few standard-library modules (not even typing) and
watchfiles' extension module, loaded alone. watchfiles' package (59 modules
with anyio) and msgspec (inspect, decimal, uuid, typing_extensions ...)
cost this process ~4 MB of its own, against ~6 MB for the interpreter
(#16 target 2, idle memory; perf/RESULTS.md "#16 idle and peak memory
(round 8)").

    python -m axd.daemon.index.notifychild count --stop-after N -- TOP...
    python -m axd.daemon.index.notifychild watch

``count`` prints how many directories are under the TOPs (what recursive
watches on them cost), stopping past N. ``watch`` reads its settings from
one frame on stdin, builds one `RustNotify` per group, and writes frames to
stdout until its stdin reaches end of file (the daemon closed it, or died).

Frames are a 4-byte big-endian length and a body whose first byte says what
it is. The daemon sends one frame, `marshal`'s encoding of (groups: [(paths,
recursive)], force_polling, poll_delay_ms, debounce_ms, step_ms): the child
trusts its daemon. The child's frames are decoded by the daemon with
`struct` and bounds checks (`notifyproc.parse_message`), never with
`marshal`, whose loader is not meant for bytes that may not be its own:

* ``R``: the watches are in place;
* ``F`` kind (1 byte: an index into `FAILURE_KINDS`) errno (4 bytes, signed:
  -1 for none) message (UTF-8): `RustNotify` raised;
* ``L`` message: the watches broke in a way a fresh process repairs;
* ``C`` group (4 bytes), then per change: its code (1 byte), the path's
  length (4 bytes) and the path's bytes (any name, even non-UTF-8).
"""

from __future__ import annotations

import marshal
import os
import signal
import struct
import sys
import threading

# Not `typing.TYPE_CHECKING`: importing typing costs this process ~0.5 MB.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path
    from typing import Any

FRAME = struct.Struct(">I")
READY = b"R"
FAILURE = b"F"
LOST = b"L"
CHANGES = b"C"
FAILURE_KINDS = ("FileNotFoundError", "PermissionError", "OSError", "RuntimeError")
FAILURE_HEAD = struct.Struct(">Bi")  # kind index, errno (-1: none)
GROUP = struct.Struct(">I")
CHANGE = struct.Struct(">BI")  # watchfiles' change code, the path's length
# How watchfiles' error for a non-UTF-8 path begins.
UNDECODABLE = "Unable to decode path"
# The spec frame on stdin; far above any real one.
MAX_SPEC_BYTES = 64 << 20


def count_dirs(tops: Iterable[str | Path], stop_after: int) -> int:
    """Directories under `tops` (themselves included), not following links:
    what recursive watches on them cost. Stops past `stop_after`."""
    count = 0
    stack = [os.fspath(top) for top in tops]
    while stack:
        directory = stack.pop()
        count += 1
        if count > stop_after:
            return count
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                    except OSError:
                        continue
        except OSError:
            continue
    return count


def failure_body(exc: BaseException) -> bytes:
    """An ``F`` frame's body for what `RustNotify` raised."""
    if isinstance(exc, OSError):
        kind = (
            "FileNotFoundError"
            if isinstance(exc, FileNotFoundError)
            else "PermissionError"
            if isinstance(exc, PermissionError)
            else "OSError"
        )
        errno = exc.errno if exc.errno is not None else -1
        message = exc.strerror or str(exc)
    else:
        kind, errno, message = "RuntimeError", -1, str(exc)
    head = FAILURE_HEAD.pack(FAILURE_KINDS.index(kind), errno)
    return FAILURE + head + message.encode("utf-8", "replace")


def changes_body(group: int, changes: Iterable[tuple[int, bytes]]) -> bytes:
    """A ``C`` frame's body: `group`'s changes, each (code, path bytes)."""
    parts = [CHANGES, GROUP.pack(group)]
    for change, path in changes:
        parts += (CHANGE.pack(change, len(path)), path)
    return b"".join(parts)


_SEND_LOCK = threading.Lock()  # one frame at a time: groups send from threads


def _send(body: bytes) -> None:
    frame = FRAME.pack(len(body)) + body
    with _SEND_LOCK:
        view = memoryview(frame)
        while view:
            view = view[os.write(1, view) :]


def read_exactly(fd: int, size: int) -> bytes | None:
    """`size` bytes from `fd`, or None at end of file (both sides' frames)."""
    parts: list[bytes] = []
    while size:
        piece = os.read(fd, size)
        if not piece:
            return None
        parts.append(piece)
        size -= len(piece)
    return b"".join(parts)


def _read_stdin(size: int) -> bytes:
    data = read_exactly(0, size)
    if data is None:
        raise EOFError("stdin ended before the watch settings")
    return data


def _read_spec() -> tuple[list[tuple[list[str], bool]], bool, int, int, int]:
    (size,) = FRAME.unpack(_read_stdin(FRAME.size))
    if size > MAX_SPEC_BYTES:
        raise ValueError(f"a {size}-byte settings frame")
    spec = marshal.loads(_read_stdin(size))
    groups, force_polling, poll_delay_ms, debounce_ms, step_ms = spec
    return groups, force_polling, poll_delay_ms, debounce_ms, step_ms


def _rust_notify() -> Any:
    """watchfiles' `RustNotify`, from its extension module loaded alone (its
    package's ``__init__`` imports the rest of watchfiles)."""
    import importlib.machinery
    import importlib.util

    package = importlib.util.find_spec("watchfiles")  # found, not imported
    locations = package.submodule_search_locations if package else None
    spec = importlib.machinery.PathFinder.find_spec(
        "watchfiles._rust_notify", list(locations or [])
    )
    if spec is None or spec.loader is None:  # laid out otherwise: the usual way
        from watchfiles._rust_notify import RustNotify

        return RustNotify
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.RustNotify


def _exit_with_parent() -> None:
    """End this process when stdin closes (the daemon closed it, or died)."""
    while os.read(0, 65536):
        pass
    os._exit(0)


def _serve_watch() -> int:
    groups, force_polling, poll_delay_ms, debounce_ms, step_ms = _read_spec()
    try:
        rust_notify = _rust_notify()
        notifies = [
            rust_notify(
                paths,
                False,
                force_polling,
                poll_delay_ms,
                recursive,
                True,  # ignore_permission_denied
            )
            for paths, recursive in groups
        ]
    except Exception as exc:  # noqa: BLE001 - reported to the daemon, which raises it
        _send(failure_body(exc))
        return 1
    _send(READY)
    for index, notify in enumerate(notifies):
        threading.Thread(
            target=_follow,
            args=(notify, index, debounce_ms, step_ms),
            daemon=True,
        ).start()
    _exit_with_parent()
    return 0


def _follow(notify: Any, group: int, debounce_ms: int, step_ms: int) -> None:
    """Send one group's changes until its watcher fails (then exit)."""
    while True:
        try:
            raw = notify.watch(debounce_ms, step_ms, 60_000, None)
        except Exception as exc:  # noqa: BLE001 - reported to the daemon, which raises it
            if str(exc).startswith(UNDECODABLE):
                # A file name that is not UTF-8: watchfiles keeps the error
                # and fails every later wait. Not a limit of the system: a
                # fresh watch process (and a rescan, which leaves such names
                # out) puts things right, where polling would be for ever.
                message = f"a file name watchfiles cannot decode: {exc}"
                _send(LOST + message.encode("utf-8", "replace"))
            else:
                _send(failure_body(exc))
            os._exit(1)
        if isinstance(raw, set) and raw:
            changes = [(change, os.fsencode(path)) for change, path in raw]
            _send(changes_body(group, changes))


def _usage() -> int:
    sys.stderr.write(
        "usage: notifychild count --stop-after N [--] TOP... | notifychild watch\n"
    )
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    # Ctrl-C in the daemon's terminal, or a SIGTERM sent to its whole
    # process group (`timeout`, `kill -- -PGID`), reaches this process too:
    # the daemon shuts down and closes this process's stdin, and a watch
    # process gone first would be reported lost on the way out.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, signal.SIG_IGN)
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["watch"]:
        return _serve_watch()
    if len(args) >= 3 and args[:2] == ["count", "--stop-after"]:
        try:
            stop_after = int(args[2])
        except ValueError:
            return _usage()
        tops = args[3:]
        if tops[:1] == ["--"]:
            tops = tops[1:]
        sys.stdout.write(f"{count_dirs(tops, stop_after)}\n")
        return 0
    return _usage()


if __name__ == "__main__":
    sys.exit(main())
