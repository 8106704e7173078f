"""Native watches live in a child process (`index/notifychild.py`, driven by
`index/notifyproc.py`), and the stat pass's crawl looks up each directory's
ignore rules once.

Why the child: watchfiles adds its recursive watches while holding the GIL,
which stopped every thread of the daemon for seconds on a large tree.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import threading
from typing import TYPE_CHECKING

import anyio
import pytest
import test_watcher
from hypothesis import given
from hypothesis import strategies as st
from test_live import GUARD_S, Live, function, write

from axd.daemon.index import inotify
from axd.daemon.index.crawl import crawl
from axd.daemon.index.ignore import IgnoreMatch, IgnoreRules
from axd.daemon.index.notifychild import changes_body, failure_body
from axd.daemon.index.notifyproc import (
    MODULE,
    FrameError,
    Message,
    NotifyProcess,
    WatchGroup,
    WatchProcessLost,
    WatchSpec,
    _child_env,
    parse_message,
    rebuilt,
)
from axd.daemon.index.rules import WorkspaceRules
from axd.protocol import methods as m

if TYPE_CHECKING:
    from pathlib import Path


def _watch_processes() -> set[int]:
    """This process's children running `notifychild watch` (the daemon of
    these tests runs in the test process)."""
    found = set()
    me = str(os.getpid())
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                parent = handle.read().rsplit(b")", 1)[1].split()[1].decode()
            with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue  # gone meanwhile
        if parent == me and MODULE.encode() in argv and b"watch" in argv:
            found.add(int(entry.name))
    return found


def _write_bytes_name(path: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(b"x = 1\n")


# The small live workspace of the watcher's tests (a fixture).
live = test_watcher.live


async def _replaced_natively(live: Live, old: set[int]) -> None:
    """A new watch process, native watching (not polling), and it delivers."""
    with anyio.fail_after(GUARD_S):
        while not (_watch_processes() - old):  # noqa: ASYNC110 - no event to wait on
            await anyio.sleep(0.05)
    check = (await live.client.call(m.HEALTH)).checks["watcher"]
    assert check.status == "HEALTHY", check
    before = await live.generation()
    write(live.root / "src" / "later.py", function("later"))
    await live.until(before, lambda: "src/later.py" in live.indexed())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
async def test_a_killed_watch_process_is_replaced_and_nothing_is_lost(
    live: Live,
) -> None:
    killed = _watch_processes()
    assert killed, "the watches do not run in a child process"
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    before = await live.generation()
    write(live.root / "src" / "after_kill.py", function("after_kill"))
    await live.until(before, lambda: "src/after_kill.py" in live.indexed())
    await _replaced_natively(live, killed)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
async def test_a_file_name_that_is_not_utf8_does_not_end_native_watching(
    live: Live,
) -> None:
    """watchfiles fails for good on such a name: its process is replaced."""
    first = _watch_processes()
    before = await live.generation()
    _write_bytes_name(os.fsencode(live.root / "src") + b"/bad\xff.py")
    write(live.root / "src" / "good.py", function("good"))
    await live.until(before, lambda: "src/good.py" in live.indexed())
    await _replaced_natively(live, first)
    assert not any("bad" in path for path in live.indexed())


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        OSError(errno.EMFILE, "Too many open files"),
        RuntimeError("error in underlying watcher: MaxFilesWatch"),
        FileNotFoundError("No path was found."),
        PermissionError(errno.EACCES, "Permission denied"),
    ],
)
def test_a_watch_error_is_raised_again_as_the_watcher_knows_it(
    error: Exception,
) -> None:
    """The watcher tells inotify limits (poll instead, and say how to raise
    them) from other failures by the exception: the child's report must
    rebuild the same kind, errno and message."""
    failure = parse_message(failure_body(error)).failure
    assert failure is not None
    again = rebuilt(failure)
    assert type(again) is type(error)
    assert str(again) == str(error)
    assert getattr(again, "errno", None) == getattr(error, "errno", None)
    assert inotify.is_limit_error(again) == inotify.is_limit_error(error)


def test_a_watch_process_reports_changes_and_ends_when_closed(tmp_path: Path) -> None:
    (tmp_path / "below").mkdir()
    spec = WatchSpec(
        groups=[
            WatchGroup([str(tmp_path)], recursive=False),
            WatchGroup([str(tmp_path / "below")], recursive=True),
        ],
        force_polling=False,
        poll_delay_ms=300,
        debounce_ms=10,
        step_ms=5,
    )
    stop = threading.Event()
    with NotifyProcess(spec) as notify:
        (tmp_path / "new.py").write_text("x = 1\n")
        (tmp_path / "below" / "deeper.py").write_text("x = 1\n")
        wanted = {
            (0, str(tmp_path / "new.py")),
            (1, str(tmp_path / "below" / "deeper.py")),
        }
        seen: set[tuple[int, str]] = set()
        while not wanted <= seen:
            raw = notify.watch(int(GUARD_S * 1000), stop)
            assert isinstance(raw, tuple), raw
            group, changes = raw
            seen |= {(group, path) for _, path in changes}
        stop.set()
        assert notify.watch(int(GUARD_S * 1000), stop) == "stop"
        pid = notify.pid
    assert not os.path.exists(f"/proc/{pid}") or _zombie_or_gone(pid)


def test_a_watch_process_outlives_a_stop_signal_to_the_group(tmp_path: Path) -> None:
    """SIGTERM or SIGINT to the daemon's process group (`timeout`, Ctrl-C)
    leaves the child to the daemon, which closes it on its way out."""
    spec = WatchSpec(
        groups=[WatchGroup([str(tmp_path)], recursive=True)],
        force_polling=False,
        poll_delay_ms=300,
        debounce_ms=10,
        step_ms=5,
    )
    with NotifyProcess(spec) as notify:
        os.kill(notify.pid, signal.SIGTERM)
        os.kill(notify.pid, signal.SIGINT)
        (tmp_path / "after.py").write_text("x = 1\n")
        seen: set[str] = set()
        while str(tmp_path / "after.py") not in seen:
            raw = notify.watch(int(GUARD_S * 1000), threading.Event())
            assert isinstance(raw, tuple), raw
            seen |= {path for _, path in raw[1]}
        pid = notify.pid
    assert not os.path.exists(f"/proc/{pid}") or _zombie_or_gone(pid)


@pytest.mark.parametrize(
    ("output", "then_exits"),
    [
        (b"\xff\xff\xff\xff", False),  # a length no frame of ours has
        (b"\x00\x00\x00\x08abc", True),  # cut off in the middle of a frame
        (b"\x00\x00\x00\x03\xc1\xc1\xc1", False),  # a frame of no kind of ours
        (b"\x00\x00\x00\x07C\x00\x00\x00\x00\x01\xff", False),  # a cut change
    ],
)
def test_a_watch_process_that_writes_garbage_is_reported_lost(
    output: bytes, then_exits: bool
) -> None:
    """Whatever the child's stdout holds, the watcher learns it is lost (and
    replaces it) instead of waiting for ever or failing another way. The
    child stays alive (as a real one does, until its stdin closes) unless
    the case is a cut-off stream."""
    writer = f"import os, sys; os.write(1, {output!r})"
    if not then_exits:
        writer += "; sys.stdin.buffer.read()"
    notify = object.__new__(NotifyProcess)  # the framing alone, on a real pipe
    notify._process = subprocess.Popen(
        [sys.executable, "-c", writer], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    notify._closed = False
    try:
        with pytest.raises(WatchProcessLost):
            notify.watch(int(GUARD_S * 1000), threading.Event())
    finally:
        notify.close()


def _zombie_or_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")
    except OSError:
        return True


# -- the crawl's per-directory rules ------------------------------------------------


class _EntryByEntry:
    """The rules asked one entry at a time (no `listing_matcher`)."""

    def __init__(self, rules: IgnoreRules) -> None:
        self._rules = rules

    def match_entry(
        self, rel_dir: str, name: str, is_dir: bool, /
    ) -> IgnoreMatch | None:
        return self._rules.match_entry(rel_dir, name, is_dir)


def _tree(root: Path) -> None:
    write(root / ".gitignore", "*.log\nbuild/\n!keep.log\n/top_only.py\n")
    write(root / "top_only.py", "x = 1\n")
    write(root / "keep.log", "kept\n")
    write(root / "a.log", "ignored\n")
    write(root / "build" / "out.py", "x = 1\n")
    write(root / "src" / ".gitignore", "gen/\n*.tmp\n!important.tmp\n")
    write(root / "src" / "gen" / "made.py", "x = 1\n")
    write(root / "src" / "important.tmp", "kept\n")
    write(root / "src" / "scratch.tmp", "ignored\n")
    write(root / "src" / "deep" / "top_only.py", "kept: anchored to the root\n")
    write(root / "src" / "deep" / "er" / ".axdignore", "*.py\n!wanted.py\n")
    write(root / "src" / "deep" / "er" / "wanted.py", "x = 1\n")
    write(root / "src" / "deep" / "er" / "other.py", "x = 1\n")
    write(root / "node_modules" / "pkg" / "index.js", "ignored by default\n")
    for i in range(20):
        write(root / "plain" / f"d{i}" / f"f{i}.py", "x = 1\n")


def test_listing_matcher_keeps_what_entry_by_entry_matching_keeps(
    tmp_path: Path,
) -> None:
    root = tmp_path.resolve()
    _tree(root)
    fast = list(crawl(root, WorkspaceRules(root, ["plain/d3/"])))
    slow = list(crawl(root, _EntryByEntry(IgnoreRules.load(root, ["plain/d3/"]))))
    assert fast == slow
    kept = {entry.path for entry in fast}
    assert {"keep.log", "src/important.tmp", "src/deep/top_only.py"} <= kept
    assert "src/deep/er/wanted.py" in kept and "src/deep/er/other.py" not in kept
    assert not kept & {"a.log", "top_only.py", "src/scratch.tmp", "plain/d3/f3.py"}
    assert not any(p.startswith(("build/", "src/gen/", "node_modules/")) for p in kept)


def test_the_crawl_opens_only_the_ignore_files_that_exist(tmp_path: Path) -> None:
    root = tmp_path.resolve()
    _tree(root)
    opened: list[str] = []
    recording = [True]

    def audit(event: str, args: tuple[object, ...]) -> None:
        path = args[0] if args else None
        if (
            recording[0]
            and event == "open"
            and isinstance(path, str)
            and path.startswith(str(root))
        ):
            opened.append(os.path.relpath(path, root))

    sys.addaudithook(audit)  # hooks cannot be removed: this one is switched off
    try:
        list(crawl(root, WorkspaceRules(root)))
    finally:
        recording[0] = False
    ignore_files = sorted(
        p for p in opened if os.path.basename(p) in (".gitignore", ".axdignore")
    )
    assert ignore_files == [
        ".gitignore",
        "src/.gitignore",
        "src/deep/er/.axdignore",
    ]


@given(
    group=st.integers(0, 2**32 - 1),
    changes=st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=300))),
)
def test_a_changes_frame_reads_back_as_written(
    group: int, changes: list[tuple[int, bytes]]
) -> None:
    assert parse_message(changes_body(group, changes)) == Message(
        group=group, changes=changes
    )


@given(body=st.binary(max_size=200))
def test_any_frame_body_is_a_message_or_a_frame_error(body: bytes) -> None:
    """The child's stdout is read with bounds checks only: whatever it holds
    is a message or `FrameError` (the watch process is then replaced)."""
    try:
        message = parse_message(body)
    except FrameError:
        return
    assert isinstance(message, Message)


def test_the_watch_process_imports_only_what_it_needs() -> None:
    """It lives as long as the daemon: neither msgspec nor watchfiles'
    package (nor typing, argparse, subprocess) is loaded into it, only
    watchfiles' extension module (#16 target 2: ~6 MB of its ~14)."""
    code = (
        "import sys; from axd.daemon.index import notifychild; "
        "print(notifychild._rust_notify().__name__); "
        "print(' '.join(sorted(sys.modules)))"
    )
    env = _child_env()
    # Not measured by coverage (`make unit` hands every Python child its
    # configuration): coverage imports typing and much else at start.
    env.pop("COVERAGE_PROCESS_START", None)
    env.pop("COVERAGE_PROCESS_CONFIG", None)
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    name, modules = done.stdout.splitlines()
    assert name == "RustNotify"
    heavy = {"msgspec", "watchfiles", "typing", "argparse", "subprocess", "anyio"}
    assert heavy.isdisjoint(modules.split())
