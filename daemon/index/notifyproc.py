"""Native file watching in a child process, so it never stops the daemon.

watchfiles' `RustNotify` adds its recursive watches inside its constructor
without releasing the GIL: ~27k directories (a 100k-file tree) took 1.6 s
on a quiet machine and 3.5 s under load, during which no other thread of
the process ran: not the event loop (queries waited), not the stat pass
(a warm start's pass went from ~2 s to ~5 s, #16 target 4). Counting the
directories first (`count_dirs`, what the watches will cost) is a Python
walk of the whole tree that, run beside the stat pass, slowed both by GIL
hand-offs (1.9 s -> 5.4 s for the pass).

Both therefore run in a small child process (`python -m
axd.daemon.index.notifyproc`), which imports only the standard library,
msgspec and watchfiles' extension:

* ``count TOP... --stop-after N``: prints the number of directories.
* ``watch``: reads its settings (`WatchSpec`) from one line of stdin, builds
  one `RustNotify` per `WatchGroup` (a workspace's root alone, and its kept
  top-level directories recursively: the watches go in there), reports
  `ready` or the error, then writes each debounced set of changes, tagged
  with its group, to stdout as a length-prefixed msgpack frame. It exits
  when its stdin reaches end of file: the daemon closed it, or died.

`NotifyProcess` is the daemon's side (blocking calls, made in worker
threads). A child that dies (killed, out of memory) is reported as
`WatchProcessLost`; errors the child met (inotify limits) are raised again
in the daemon with their type, errno and message, so the watcher tells them
apart as before.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Literal, Self

import msgspec

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path
    from typing import Protocol

    class StopFlag(Protocol):
        def is_set(self) -> bool: ...


__all__ = [
    "NotifyProcess",
    "WatchGroup",
    "WatchProcessLost",
    "WatchSpec",
    "count_dirs_elsewhere",
]

MODULE = "axd.daemon.index.notifyproc"
# How often a waiting `watch` looks at its stop flag (stop is for re-plans
# and shutdown; changes themselves wake it at once).
STOP_CHECK_S = 0.05
_FRAME = struct.Struct(">I")
# Far above any real frame (one debounced set of changes); a length past it
# means the stream is not ours any more.
MAX_FRAME_BYTES = 256 << 20
# How watchfiles' error for a non-UTF-8 path begins.
UNDECODABLE = "Unable to decode path"


class WatchProcessLost(RuntimeError):
    """The watch process ended without being asked to (killed, crashed)."""


class WatchGroup(msgspec.Struct, frozen=True):
    """Paths watched alike (one `RustNotify`)."""

    paths: list[str]
    recursive: bool


class WatchSpec(msgspec.Struct, frozen=True):
    """What the child watches, and how (`RustNotify`'s arguments)."""

    groups: list[WatchGroup]
    force_polling: bool
    poll_delay_ms: int
    debounce_ms: int
    step_ms: int


class _Failure(msgspec.Struct, frozen=True):
    kind: Literal["FileNotFoundError", "PermissionError", "OSError", "RuntimeError"]
    message: str
    errno: int | None = None


class _Message(msgspec.Struct, frozen=True, omit_defaults=True):
    ready: bool = False
    failure: _Failure | None = None
    # The watches broke in a way a fresh start repairs (see `_follow`).
    lost: str | None = None
    group: int = 0  # which `WatchSpec.groups` entry the changes are from
    # (watchfiles' change code, the path as bytes: any name, even non-UTF-8)
    changes: list[tuple[int, bytes]] = []


_encode = msgspec.msgpack.Encoder().encode
_decode_message = msgspec.msgpack.Decoder(_Message).decode


def _child_env() -> dict[str, str]:
    """The daemon's environment, with the import path it runs with (an
    editable install or a test's PYTHONPATH must reach the child too)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env


# -- the daemon's side ---------------------------------------------------------


def count_dirs_elsewhere(tops: Iterable[Path], stop_after: int) -> int:
    """`count_dirs` run in a child process (module docstring)."""
    args = [sys.executable, "-m", MODULE, "count", "--stop-after", str(stop_after)]
    done = subprocess.run(
        [*args, "--", *(os.fspath(top) for top in tops)],
        capture_output=True,
        env=_child_env(),
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"counting directories failed ({done.returncode}): "
            + done.stderr.decode(errors="replace")[-500:]
        )
    return int(done.stdout)


class NotifyProcess:
    """A `RustNotify` living in a child process (module docstring).

    Construction blocks until the watches are in place (call it in a worker
    thread) and raises what `RustNotify` would have raised.
    """

    def __init__(self, spec: WatchSpec) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", MODULE, "watch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=_child_env(),
        )
        self._closed = False
        try:
            assert self._process.stdin is not None
            self._process.stdin.write(msgspec.json.encode(spec) + b"\n")
            self._process.stdin.flush()
            first = self._read_message(None)
        except BaseException:
            self.close()
            raise
        if first is None or not first.ready:
            self.close()
            if first is not None and first.failure is not None:
                raise _rebuilt(first.failure)
            raise WatchProcessLost(self._ended("before its watches were in place"))

    @property
    def pid(self) -> int:
        return self._process.pid

    def watch(
        self, timeout_ms: int, stop: StopFlag
    ) -> tuple[int, set[tuple[int, str]]] | Literal["stop", "timeout"]:
        """The next set of changes and the index of its group, "stop" once
        `stop` is set, or "timeout" after `timeout_ms` without any (the
        debounce and step are the child's: `WatchSpec`)."""
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            if stop.is_set():
                return "stop"
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            message = self._read_message(min(left, STOP_CHECK_S))
            if message is None:
                continue
            if message.failure is not None:
                raise _rebuilt(message.failure)
            if message.lost is not None:
                raise WatchProcessLost(message.lost)
            paths = {(change, os.fsdecode(path)) for change, path in message.changes}
            return message.group, paths

    def close(self) -> None:
        """Stop the child (it keeps nothing worth a graceful exit)."""
        if self._closed:
            return
        self._closed = True
        process = self._process
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        process.kill()
        process.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _read_message(self, timeout_s: float | None) -> _Message | None:
        """One message; None when `timeout_s` passed without one.

        :raises WatchProcessLost: the child's stdout ended.
        """
        stdout = self._process.stdout
        assert stdout is not None
        if timeout_s is not None:
            ready, _, _ = select.select([stdout], [], [], timeout_s)
            if not ready:
                return None
        header = _read_exactly(stdout.fileno(), _FRAME.size)
        if header is None:
            raise WatchProcessLost(self._ended("while watching"))
        size = _FRAME.unpack(header)[0]
        if size > MAX_FRAME_BYTES:
            # Not a frame of ours (something else wrote to its stdout):
            # replaced, rather than waiting for gigabytes that never come.
            raise WatchProcessLost(f"the watch process sent a {size}-byte frame")
        body = _read_exactly(stdout.fileno(), size)
        if body is None:
            raise WatchProcessLost(self._ended("in the middle of a frame"))
        try:
            return _decode_message(body)
        except msgspec.DecodeError as exc:
            raise WatchProcessLost(
                f"the watch process sent an unreadable frame: {exc}"
            ) from exc

    def _ended(self, when: str) -> str:
        code = self._process.poll()
        how = "is gone" if code is None else f"exited with {code}"
        return f"the watch process (pid {self._process.pid}) {how} {when}"


def _read_exactly(fd: int, size: int) -> bytes | None:
    """`size` bytes from `fd`, or None at end of file."""
    parts: list[bytes] = []
    while size:
        piece = os.read(fd, size)
        if not piece:
            return None
        parts.append(piece)
        size -= len(piece)
    return b"".join(parts)


def _rebuilt(failure: _Failure) -> Exception:
    """The child's error as the exception `RustNotify` raised."""
    if failure.kind == "RuntimeError":
        return RuntimeError(failure.message)
    kind = {"FileNotFoundError": FileNotFoundError, "PermissionError": PermissionError}
    if failure.errno is not None:
        return kind.get(failure.kind, OSError)(failure.errno, failure.message)
    return kind.get(failure.kind, OSError)(failure.message)


# -- the child's side ----------------------------------------------------------


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


_SEND_LOCK = threading.Lock()  # one frame at a time: groups send from threads


def _send(message: _Message) -> None:
    body = _encode(message)
    frame = _FRAME.pack(len(body)) + body
    with _SEND_LOCK:
        view = memoryview(frame)
        while view:
            view = view[os.write(1, view) :]


def _failure_of(exc: BaseException) -> _Failure:
    if isinstance(exc, OSError):
        kind: Literal["FileNotFoundError", "PermissionError", "OSError"] = (
            "FileNotFoundError"
            if isinstance(exc, FileNotFoundError)
            else "PermissionError"
            if isinstance(exc, PermissionError)
            else "OSError"
        )
        return _Failure(kind, exc.strerror or str(exc), exc.errno)
    return _Failure("RuntimeError", str(exc))


def _exit_with_parent() -> None:
    """End this process when stdin closes (the daemon closed it, or died)."""
    while os.read(0, 65536):
        pass
    os._exit(0)


def _serve_watch() -> int:
    from watchfiles._rust_notify import RustNotify  # the only extension needed

    spec = msgspec.json.decode(sys.stdin.buffer.readline(), type=WatchSpec)
    try:
        notifies = [
            RustNotify(
                group.paths,
                False,
                spec.force_polling,
                spec.poll_delay_ms,
                group.recursive,
                True,  # ignore_permission_denied
            )
            for group in spec.groups
        ]
    except Exception as exc:  # noqa: BLE001 - reported to the daemon, which raises it
        _send(_Message(failure=_failure_of(exc)))
        return 1
    _send(_Message(ready=True))
    for index, notify in enumerate(notifies):
        threading.Thread(
            target=_follow, args=(spec, index, notify), daemon=True
        ).start()
    _exit_with_parent()
    return 0


def _follow(spec: WatchSpec, group: int, notify: Any) -> None:
    """Send one group's changes until its watcher fails (then exit)."""
    while True:
        try:
            raw = notify.watch(spec.debounce_ms, spec.step_ms, 60_000, None)
        except Exception as exc:  # noqa: BLE001 - reported to the daemon, which raises it
            if str(exc).startswith(UNDECODABLE):
                # A file name that is not UTF-8: watchfiles keeps the error
                # and fails every later wait. Not a limit of the system: a
                # fresh watch process (and a rescan, which leaves such names
                # out) puts things right, where polling would be for ever.
                _send(_Message(lost=f"a file name watchfiles cannot decode: {exc}"))
            else:
                _send(_Message(failure=_failure_of(exc)))
            os._exit(1)
        if isinstance(raw, set) and raw:
            changes = [(change, os.fsencode(path)) for change, path in raw]
            _send(_Message(group=group, changes=changes))


def main(argv: Sequence[str] | None = None) -> int:
    # Ctrl-C in the daemon's terminal reaches the whole process group: the
    # daemon shuts down, and closes this process's stdin.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parser = argparse.ArgumentParser(prog=MODULE)
    sub = parser.add_subparsers(dest="command", required=True)
    count = sub.add_parser("count")
    count.add_argument("--stop-after", type=int, required=True)
    count.add_argument("tops", nargs="*")
    sub.add_parser("watch")
    args = parser.parse_args(argv)
    if args.command == "count":
        sys.stdout.write(f"{count_dirs(args.tops, args.stop_after)}\n")
        return 0
    return _serve_watch()


if __name__ == "__main__":
    sys.exit(main())
