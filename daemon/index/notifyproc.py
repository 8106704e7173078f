"""Native file watching in a child process, so it never stops the daemon.

watchfiles' `RustNotify` adds its recursive watches inside its constructor
without releasing the GIL: ~27k directories (a 100k-file tree) took 1.6 s
on a quiet machine and 3.5 s under load, during which no other thread of
the process ran: not the event loop (queries waited), not the stat pass
(a warm start's pass went from ~2 s to ~5 s, #16 target 4). Counting the
directories first (`count_dirs`, what the watches will cost) is a Python
walk of the whole tree that, run beside the stat pass, slowed both by GIL
hand-offs (1.9 s -> 5.4 s for the pass).

Both therefore run in a small child process (`index/notifychild.py`, which
imports only the standard library and watchfiles' extension module, and
says how its frames are laid out):

* ``count --stop-after N -- TOP...``: prints the number of directories.
* ``watch``: reads its settings (`WatchSpec`) from stdin, builds one
  `RustNotify` per `WatchGroup` (a workspace's root alone, and its kept
  top-level directories recursively: the watches go in there), reports
  ready or the error, then writes each debounced set of changes, tagged
  with its group, to stdout as a length-prefixed frame. It exits when its
  stdin reaches end of file: the daemon closed it, or died.

`NotifyProcess` is the daemon's side (blocking calls, made in worker
threads); `parse_message` reads the child's frames, checking every length
against the frame (whatever a child's stdout holds is at worst a lost
watch process, never another error in the daemon). A child that dies
(killed, out of memory) is reported as `WatchProcessLost`; errors the child
met (inotify limits) are raised again in the daemon with their type, errno
and message, so the watcher tells them apart as before.
"""

from __future__ import annotations

import marshal
import os
import select
import struct
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Literal, Self

import msgspec

from axd.daemon.index.notifychild import (
    CHANGE,
    CHANGES,
    FAILURE,
    FAILURE_HEAD,
    FAILURE_KINDS,
    FRAME,
    GROUP,
    LOST,
    READY,
    count_dirs,
    read_exactly,
)

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path
    from typing import Protocol

    class StopFlag(Protocol):
        def is_set(self) -> bool: ...


__all__ = [
    "NotifyProcess",
    "WatchGroup",
    "WatchProcessLost",
    "WatchSpec",
    "count_dirs",
    "count_dirs_elsewhere",
    "parse_message",
]

MODULE = "axd.daemon.index.notifychild"
# How often a waiting `watch` looks at its stop flag (stop is for re-plans
# and shutdown; changes themselves wake it at once).
STOP_CHECK_S = 0.05
# Far above any real frame (one debounced set of changes); a length past it
# means the stream is not ours any more.
MAX_FRAME_BYTES = 256 << 20


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


class Failure(msgspec.Struct, frozen=True):
    """What `RustNotify` raised in the child."""

    kind: str  # one of notifychild.FAILURE_KINDS
    message: str
    errno: int | None = None


class Message(msgspec.Struct, frozen=True):
    """One frame of the child's (`notifychild`)."""

    ready: bool = False
    failure: Failure | None = None
    # The watches broke in a way a fresh start repairs (notifychild._follow).
    lost: str | None = None
    group: int = 0  # which `WatchSpec.groups` entry the changes are from
    # (watchfiles' change code, the path as bytes: any name, even non-UTF-8)
    changes: list[tuple[int, bytes]] = msgspec.field(default_factory=list)


class FrameError(ValueError):
    """A frame that is not one the child writes."""


def parse_message(body: bytes) -> Message:
    """The message in a frame's body.

    :raises FrameError: it is not one (unknown kind, lengths past its end).
    """
    tag, rest = body[:1], memoryview(body)[1:]
    try:
        if tag == READY and not rest:
            return Message(ready=True)
        if tag == LOST:
            return Message(lost=bytes(rest).decode("utf-8", "replace"))
        if tag == FAILURE:
            kind, errno = FAILURE_HEAD.unpack_from(rest)
            message = bytes(rest[FAILURE_HEAD.size :]).decode("utf-8", "replace")
            return Message(
                failure=Failure(
                    FAILURE_KINDS[kind], message, None if errno < 0 else errno
                )
            )
        if tag == CHANGES:
            return _parse_changes(rest)
    except (struct.error, IndexError) as exc:
        raise FrameError(f"a malformed {tag!r} frame: {exc}") from exc
    raise FrameError(f"a frame of unknown kind {tag!r} ({len(body)} bytes)")


def _parse_changes(rest: memoryview) -> Message:
    (group,) = GROUP.unpack_from(rest)
    offset, changes = GROUP.size, []
    while offset < len(rest):
        change, size = CHANGE.unpack_from(rest, offset)
        offset += CHANGE.size
        if offset + size > len(rest):
            raise FrameError(f"a path of {size} bytes past the frame's end")
        changes.append((change, bytes(rest[offset : offset + size])))
        offset += size
    return Message(group=group, changes=changes)


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
            settings = marshal.dumps(
                (
                    [(list(g.paths), g.recursive) for g in spec.groups],
                    spec.force_polling,
                    spec.poll_delay_ms,
                    spec.debounce_ms,
                    spec.step_ms,
                )
            )
            self._process.stdin.write(FRAME.pack(len(settings)) + settings)
            self._process.stdin.flush()
            first = self._read_message(None)
        except BaseException:
            self.close()
            raise
        if first is None or not first.ready:
            self.close()
            if first is not None and first.failure is not None:
                raise rebuilt(first.failure)
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
                raise rebuilt(message.failure)
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

    def _read_message(self, timeout_s: float | None) -> Message | None:
        """One message; None when `timeout_s` passed without one.

        :raises WatchProcessLost: the child's stdout ended.
        """
        stdout = self._process.stdout
        assert stdout is not None
        if timeout_s is not None:
            ready, _, _ = select.select([stdout], [], [], timeout_s)
            if not ready:
                return None
        header = read_exactly(stdout.fileno(), FRAME.size)
        if header is None:
            raise WatchProcessLost(self._ended("while watching"))
        size = FRAME.unpack(header)[0]
        if size > MAX_FRAME_BYTES:
            # Not a frame of ours (something else wrote to its stdout):
            # replaced, rather than waiting for gigabytes that never come.
            raise WatchProcessLost(f"the watch process sent a {size}-byte frame")
        body = read_exactly(stdout.fileno(), size)
        if body is None:
            raise WatchProcessLost(self._ended("in the middle of a frame"))
        try:
            return parse_message(body)
        except FrameError as exc:
            raise WatchProcessLost(
                f"the watch process sent an unreadable frame: {exc}"
            ) from exc

    def _ended(self, when: str) -> str:
        code = self._process.poll()
        how = "is gone" if code is None else f"exited with {code}"
        return f"the watch process (pid {self._process.pid}) {how} {when}"


def rebuilt(failure: Failure) -> Exception:
    """The child's error as the exception `RustNotify` raised."""
    if failure.kind == "RuntimeError":
        return RuntimeError(failure.message)
    kind = {"FileNotFoundError": FileNotFoundError, "PermissionError": PermissionError}
    if failure.errno is not None:
        return kind.get(failure.kind, OSError)(failure.errno, failure.message)
    return kind.get(failure.kind, OSError)(failure.message)
