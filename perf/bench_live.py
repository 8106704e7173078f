"""Live edits: how long after a save is the change queryable, against
Watchman's own `subscribe` reporting the same write in the same run.

The tree (default ``/work/corpora/deno``, a real Rust/TypeScript repository;
``--tree`` for another) is copied to a temporary directory, so the edits never
touch the original. A private Watchman (its own socket, state, log and pid
files in the temporary directory, default settle) watches the copy, and a real
axd daemon (`daemon_proc.Daemon`) indexes it cold; then:

* **one-file saves** (``--edits``, default 30): append a definition with a
  fresh unique name (``axdliveRUNxI``) to an existing indexed file chosen at
  random (seeded; ``files.explain`` confirms axd indexes it) and time, from
  just before the write:
  - *queryable*: the first ``symbols.definition`` (or ``search`` with
    ``--probe search``) reply that holds the name, polled every ``--poll-ms``;
  - *notified*: the arrival of the ``index.changed`` notification naming the
    file (``subscribe`` on a second connection, read by its own thread);
  - *watchman*: the arrival of Watchman's subscription PDU naming the file.
  Each save is followed by a pause (``--gap-ms``) so the next starts idle.
* **ordering**: a save counts as "query before notification" when a query
  reply holding the change arrived before the ``index.changed`` for it.
* **a burst** (``--burst``, default 200 files): the same append to that many
  other files, back to back; time from the end of the last write until
  ``symbols.search`` (one prefix query, limit 1000) returns all of them, until
  ``index.changed`` has named them all, and until Watchman has named them all;
  and the CPU seconds the daemon and its workers spent meanwhile (the
  load-independent side: on a shared machine the wall time is mostly
  waiting for a core). The polls are the daemon's work too (one poll's
  CPU is measured after the burst and printed with the poll count).
* **a second burst** (``--burst2``, default as many files, others): the same,
  but the probe waits for the ``index.changed`` notifications naming every
  file (its own connection and thread) and only then queries (every
  ``--poll-ms`` until the query shows them all): the time the burst takes
  when the benchmark does not share the daemon's CPU with its polls.

**A large tree without a cold index** (``--state DIR``: a state directory
holding a complete index of ``--tree``, e.g. ``/work/bench/state100k`` for
``/work/bench/corpus100k/tree``): the tree is hard-linked (``cp -al``, no
bytes copied) instead of copied, the index database is copied and its
workspace re-keyed to the copy's path (snapshots hard-linked, so no
automatic snapshot is taken during the run), and the daemon starts warm on
it; every file the run edits is first given its own inode
(`corpus.make_private`), so no write reaches the original tree.
``--workdir`` puts the copy somewhere other than /tmp (the same filesystem
as the tree, for the hard links).

Ratios printed: axd queryable / Watchman (p50, p95) and burst / Watchman.
Without ``/usr/bin/watchman`` (or with ``--no-watchman``) only axd's figures
are printed. Without the tree the script says so and exits 0.

    .venv/bin/python perf/bench_live.py [--tree DIR] [--edits N] [--burst N]
        [--probe definition|search] [--poll-ms MS] [--save FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from corpus import make_private
from daemon_proc import Daemon

DEFAULT_TREE = Path("/work/corpora/deno")
WATCHMAN = shutil.which("watchman")
HANG_S = 30.0  # hang guard for one wait; a miss is recorded, not waited forever

# A top-level definition per extension, appended at the end of the file.
SNIPPETS = {
    ".py": "\n\ndef {name}():\n    return 1\n",
    ".go": "\n\nfunc {name}() int { return 1 }\n",
    ".rs": "\n\nfn {name}() -> i32 { 1 }\n",
    ".ts": "\n\nexport function {name}(): number { return 1; }\n",
    ".tsx": "\n\nexport function {name}(): number { return 1; }\n",
    ".mts": "\n\nexport function {name}(): number { return 1; }\n",
    ".js": "\n\nfunction {name}() { return 1; }\n",
    ".mjs": "\n\nfunction {name}() { return 1; }\n",
    ".c": "\n\nint {name}(void) { return 1; }\n",
    ".rb": "\n\ndef {name}\n  1\nend\n",
    ".java": "",  # appending after the class is not Java: never chosen
}
MAX_EDIT_BYTES = 512 * 1024


# -- Watchman ---------------------------------------------------------------------------


class Watchman:
    """A private `watchman --foreground` and one subscription to a root."""

    def __init__(self, workdir: Path, root: Path) -> None:
        self.dir = workdir / "watchman"
        self.dir.mkdir()
        self.sock_path = self.dir / "sock"
        self.proc = subprocess.Popen(
            [str(WATCHMAN), "--foreground", f"--sockname={self.sock_path}",
             f"--logfile={self.dir / 'log'}", f"--statefile={self.dir / 'state'}",
             f"--pidfile={self.dir / 'pid'}", "--no-save-state"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(str(self.sock_path))
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.05)
        self.reader = self.sock.makefile("rb")
        self.events: list[tuple[float, set[str]]] = []
        self.cond = threading.Condition()
        watch = self._command(["watch-project", str(root)])
        self.prefix = watch.get("relative_path", "")
        self.version = watch.get("version", "?")
        self._command(
            ["subscribe", watch["watch"], "axdbench",
             {"expression": ["type", "f"], "fields": ["name"],
              "empty_on_fresh_instance": True}]
        )  # fmt: skip
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _command(self, command: list[Any]) -> dict[str, Any]:
        self.sock.sendall(json.dumps(command).encode() + b"\n")
        while True:
            message: dict[str, Any] = json.loads(self.reader.readline())
            if "error" in message:
                raise RuntimeError(f"watchman: {message['error']}")
            if not message.get("unilateral"):
                return message

    def _read(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            for line in self.reader:
                now = time.perf_counter()
                message = json.loads(line)
                if message.get("is_fresh_instance") or "files" not in message:
                    continue
                names = {self._relative(n) for n in message["files"]}
                with self.cond:
                    self.events.append((now, names))
                    self.cond.notify_all()

    def _relative(self, name: str) -> str:
        return name[len(self.prefix) + 1 :] if self.prefix else name

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


# -- axd notifications ------------------------------------------------------------------


class Changes:
    """`index.changed` notifications for one root, read by their own thread."""

    def __init__(self, daemon: Daemon, root: str) -> None:
        self.client = daemon.connect()
        self.client.call_raw("subscribe", {"root": root, "events": ["index.changed"]})
        self.client.settimeout(None)
        self.events: list[tuple[float, int, set[str]]] = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        with contextlib.suppress(Exception):
            while True:
                method, params = self.client.next_notification()
                now = time.perf_counter()
                if method != "index.changed":
                    continue
                data = json.loads(params)
                paths = {c["path"] for c in data["changes"]}
                with self.cond:
                    self.events.append((now, data["generation"], paths))
                    self.cond.notify_all()

    def close(self) -> None:
        self.client.close()


def first_naming(
    cond: threading.Condition,
    events: list[Any],
    paths: set[str],
    after: float,
    timeout: float = HANG_S,
) -> float | None:
    """The arrival time of the event that completes `paths` (seen after `after`)."""
    deadline = time.monotonic() + timeout
    with cond:
        while True:
            left = set(paths)
            for event in events:
                if event[0] >= after:
                    left -= event[-1]
                    if not left:
                        return float(event[0])
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            cond.wait(remaining)


# -- the run ------------------------------------------------------------------------------


@dataclass
class Edit:
    path: str
    size: int
    queryable_ms: float | None
    notified_ms: float | None
    watchman_ms: float | None
    polls: int
    # On the probing connection, which also subscribes: had its index.changed
    # naming the file arrived before the first reply that saw the change?
    notified_first: bool | None = None


@dataclass
class Report:
    machine: str
    tree: str
    files: int
    probe: str
    poll_ms: float
    load_before: str
    cold_index_s: float = 0.0
    warm: bool = False  # a warm start on a copied index (--state), not a cold index
    watcher: str = ""
    watchman: str = "absent"
    edits: list[Edit] = field(default_factory=list)
    burst_files: int = 0
    burst_write_ms: float = 0.0
    burst_queryable_ms: float | None = None
    burst_notified_ms: float | None = None
    burst_watchman_ms: float | None = None
    # CPU seconds (utime+stime) from just before the first write to the first
    # reply holding every file: the daemon (watcher, writer, and the polling
    # queries it answers) and its worker processes (parsing).
    burst_cpu_daemon_s: float | None = None
    burst_cpu_check_s: float | None = None  # background threads meanwhile
    burst_cpu_workers_s: float | None = None
    # The benchmark's own share of the daemon's CPU during the burst: its
    # polls, and one poll's daemon CPU (measured after, on the same query).
    burst_polls: int = 0
    burst_poll_cpu_ms: float | None = None
    # The second burst: waits on index.changed, then queries.
    burst2_files: int = 0
    burst2_queryable_ms: float | None = None
    burst2_notified_ms: float | None = None
    burst2_queries: int = 0
    burst2_cpu_daemon_s: float | None = None
    burst2_cpu_workers_s: float | None = None
    burst2_cpu_check_s: float | None = None  # background threads meanwhile
    burst2_cpu_threads: dict[str, float] = field(default_factory=dict)
    burst2_new_processes: int | None = None  # workers started (recycled) meanwhile
    # CPU seconds by kind of live descendant (watch, forkserver, workers)
    burst2_cpu_processes: dict[str, float] = field(default_factory=dict)
    burst2_axd_events: list[tuple[float, int]] = field(default_factory=list)
    # The daemon process's VmRSS / VmHWM (KiB) once the burst is queryable.
    daemon_rss_kib: int | None = None
    daemon_hwm_kib: int | None = None
    # (ms after the last write, burst files named) per notification
    burst_axd_events: list[tuple[float, int]] = field(default_factory=list)
    burst_watchman_events: list[tuple[float, int]] = field(default_factory=list)
    load_after: str = ""


# The daemon's threads that are not the burst's work: the open-time
# `quick_check` of an index over 64 MiB (workspaces.py) reads the whole index
# once after a warm start (minutes at 100k files) in a thread of its own at
# nice 19, using whatever CPU is idle: counted as the burst's otherwise.
# Python does not name its threads for the kernel, so they are told by their
# nice value.
BACKGROUND_NICE = 19


def _tasks(pid: int) -> Iterator[tuple[str, list[str]]]:
    """(tid, the fields of /proc/PID/task/TID/stat after the name)."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(f"/proc/{pid}/task"):
            try:
                with open(f"{entry.path}/stat") as handle:
                    yield entry.name, handle.read().rpartition(")")[2].split()
            except OSError:
                continue


def background_cpu_s(pid: int) -> float:
    """CPU seconds of `pid`'s threads at nice `BACKGROUND_NICE`."""
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(
        (int(fields[11]) + int(fields[12])) / ticks
        for _, fields in _tasks(pid)
        if int(fields[16]) >= BACKGROUND_NICE
    )


def thread_cpu_s(pid: int) -> dict[str, float]:
    """CPU seconds of each of `pid`'s threads by tid (py-spy's `thread
    (tid)` names them), "(nice 19)" after a background one."""
    ticks = os.sysconf("SC_CLK_TCK")
    return {
        tid + (" (nice 19)" if int(fields[16]) >= BACKGROUND_NICE else ""): (
            int(fields[11]) + int(fields[12])
        )
        / ticks
        for tid, fields in _tasks(pid)
    }


def descendants(pid: int) -> set[int]:
    """The process ids of `pid`'s descendants (workers, their forkserver,
    the watch process) now."""
    parent: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError), open(f"{entry.path}/stat") as handle:
                parent[int(entry.name)] = int(
                    handle.read().rsplit(")", 1)[1].split()[1]
                )
    return family_of(pid, parent)


def family_of(pid: int, parent: dict[int, int]) -> set[int]:
    """`pid`'s descendants in a process-id -> parent-id map."""
    family, frontier = set(), [pid]
    while frontier:
        current = frontier.pop()
        children = [p for p, pp in parent.items() if pp == current]
        family.update(children)
        frontier.extend(children)
    return family


def process_cpu_s(daemon: int, pids: set[int]) -> dict[int, tuple[str, float]]:
    """(what it is, CPU seconds) of each of `pids` still alive: the watch
    process, the forkserver (the daemon's child), a worker (the forkserver's:
    same command line), or the resource tracker."""
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[int, tuple[str, float]] = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                command = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "notifychild" in command or "notifyproc" in command:
            kind = "watch"
        elif "resource_tracker" in command:
            kind = "tracker"
        elif "forkserver" in command and int(fields[1]) == daemon:
            kind = "forkserver"
        else:
            kind = "workers"
        out[pid] = (kind, (int(fields[11]) + int(fields[12])) / ticks)
    return out


def cpu_s(pid: int) -> tuple[float, float]:
    """CPU seconds (utime+stime) of `pid` but its background threads, and
    of its descendants: the live ones', plus what the ended ones used
    (cutime+cstime of whoever reaped them: workers recycled meanwhile are
    the forkserver's)."""
    ticks = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    used: dict[int, float] = {}
    reaped: dict[int, float] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        parent[int(entry.name)] = int(fields[1])
        used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
        reaped[int(entry.name)] = (int(fields[13]) + int(fields[14])) / ticks
    family = family_of(pid, parent)
    ended = reaped.get(pid, 0.0) + sum(reaped[p] for p in family)
    daemon = used.get(pid, 0.0) - background_cpu_s(pid)
    return daemon, sum(used[p] for p in family) + ended


def memory_kib(pid: int) -> tuple[int | None, int | None]:
    """VmRSS and VmHWM of `pid` in KiB (None when unreadable)."""
    found: dict[str, int] = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0])
    return found.get("VmRSS"), found.get("VmHWM")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def copy_tree(src: Path, dest: Path, *, link: bool = False) -> int:
    if link:  # hard links: edited files are made private first (make_private)
        subprocess.run(["cp", "-al", str(src), str(dest)], check=True)
    else:
        shutil.copytree(src, dest, symlinks=True)
    return sum(len(files) for _, _, files in os.walk(dest))


def relocate_state(state: Path, old_root: Path, new_root: Path, dest: Path) -> None:
    """A copy of `state`'s index of `old_root`, keyed to `new_root` (paths in
    the index are relative, so a tree copied with its mtimes is unchanged)."""
    from axd.daemon.workspaces import workspace_id

    registry = json.loads((state / "workspaces.json").read_text())
    found = [w for w in registry["workspaces"] if w["root"] == str(old_root)]
    if not found and len(registry["workspaces"]) == 1:
        # One workspace, indexed where the same tree used to be (a corpus
        # rebuilt elsewhere): its paths are relative, so it still fits.
        found = registry["workspaces"]
        print(f"state: {state} indexed {found[0]['root']}; used for {old_root}")
    if not found:
        raise SystemExit(f"{state} has no index of {old_root}")
    entry = found[0]
    src = state / "workspaces" / entry["id"]
    ident = workspace_id(str(new_root))
    target = dest / "workspaces" / ident
    (target / "snapshots").mkdir(parents=True)
    for path in (dest, dest / "workspaces", target, target / "snapshots"):
        path.chmod(0o700)
    subprocess.run(["cp", "-a", str(src / "index.db"), str(target)], check=True)
    for snap in (src / "snapshots").glob("*"):
        os.link(snap, target / "snapshots" / snap.name)
    (target / "root").write_text(f"{new_root}\n")
    record = {"root": str(new_root), "id": ident, "added_at": entry["added_at"]}
    (dest / "workspaces.json").write_text(
        json.dumps({"version": 1, "workspaces": [record]})
    )


def candidates(daemon: Daemon, root: Path, rng: random.Random, count: int) -> list[str]:
    """`count` distinct indexed files whose extension has a snippet."""
    pool: list[str] = []
    for current, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            ext = os.path.splitext(name)[1]
            if not SNIPPETS.get(ext) or name.endswith(".d.ts"):
                continue
            path = os.path.join(current, name)
            if os.path.islink(path) or os.path.getsize(path) > MAX_EDIT_BYTES:
                continue
            pool.append(os.path.relpath(path, root))
    rng.shuffle(pool)
    chosen: list[str] = []
    for rel in pool:
        info = daemon.call("files.explain", {"root": str(root), "path": rel})
        if info.get("indexed"):
            chosen.append(rel)
            if len(chosen) == count:
                break
    return chosen


def append(root: Path, rel: str, name: str) -> None:
    snippet = SNIPPETS[os.path.splitext(rel)[1]].replace("{name}", name)
    with open(root / rel, "a") as handle:
        handle.write(snippet)


def probe(daemon: Daemon, kind: str, root: str, name: str) -> bool:
    if kind == "definition":
        result = daemon.call("symbols.definition", {"root": root, "name": name})
        return any(d["name"] == name for d in result["definitions"])
    result = daemon.call("search", {"root": root, "query": name, "limit": 5})
    return any(name in (r.get("snippet") or "") or r.get("symbol") == name
               for r in result["results"])  # fmt: skip


def poll_until(
    check: Any, poll_s: float, timeout: float = HANG_S
) -> tuple[float | None, int]:
    """(arrival time of the first reply that passes, polls made)."""
    deadline = time.perf_counter() + timeout
    polls = 0
    while time.perf_counter() < deadline:
        polls += 1
        if check():
            return time.perf_counter(), polls
        time.sleep(poll_s)
    return None, polls


def ms(t: float | None, t0: float) -> float | None:
    return None if t is None else (t - t0) * 1000


@contextlib.contextmanager
def spy(pid: int, out: Path | None) -> Iterator[None]:
    """py-spy samples of `pid` (threads on a CPU, native frames too, 250
    Hz, raw stacks) while the block runs, written to `out`; nothing when
    None."""
    if out is None:
        yield
        return
    spy_bin = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    command = [spy_bin, "record", "--pid", str(pid), "--rate", "250", "--threads"]
    command += ["--native", "--format", "raw", "--output", str(out)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # attached (a benchmark, not a test: no event to wait on)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)


def burst_notified(
    daemon: Daemon,
    root: Path,
    changes: Changes,
    files: list[str],
    run_id: int,
    poll_s: float,
    report: Report,
    profile: Path | None = None,
) -> None:
    """The second burst (module docstring): no query until `index.changed`
    has named every file. `profile`: py-spy's samples of the daemon during
    it (raw, per thread, on-CPU, native frames) are written there."""
    prefix = f"axdburst{run_id}z"
    names = [f"{prefix}{j}" for j in range(len(files))]
    wanted = set(names)

    def all_found() -> bool:
        result = daemon.call(
            "symbols.search", {"root": str(root), "query": prefix, "limit": 1000}
        )
        return wanted <= {s["name"] for s in result["symbols"]}

    with spy(daemon.proc.pid, profile):
        cpu_before = cpu_s(daemon.proc.pid)
        check_before = background_cpu_s(daemon.proc.pid)
        threads_before = thread_cpu_s(daemon.proc.pid)
        family_before = descendants(daemon.proc.pid)
        processes_before = process_cpu_s(daemon.proc.pid, family_before)
        t_first = time.perf_counter()
        for rel, name in zip(files, names, strict=True):
            append(root, rel, name)
        t_last = time.perf_counter()
        notified = first_naming(changes.cond, changes.events, set(files), t_first, 120)
        seen, queries = poll_until(all_found, poll_s, timeout=120)
        cpu_after = cpu_s(daemon.proc.pid)
        report.burst2_cpu_check_s = background_cpu_s(daemon.proc.pid) - check_before
        threads_after = thread_cpu_s(daemon.proc.pid)
        family_after = descendants(daemon.proc.pid)
        report.burst2_new_processes = len(family_after - family_before)
        for pid, (kind, used) in process_cpu_s(daemon.proc.pid, family_after).items():
            spent = used - processes_before.get(pid, (kind, 0.0))[1]
            report.burst2_cpu_processes[kind] = round(
                report.burst2_cpu_processes.get(kind, 0.0) + spent, 3
            )
    report.burst2_cpu_threads = {
        key: round(used - threads_before.get(key, 0.0), 3)
        for key, used in sorted(threads_after.items(), key=lambda kv: -kv[1])
        if used - threads_before.get(key, 0.0) > 0
    }
    report.burst2_files = len(files)
    report.burst2_notified_ms = ms(notified, t_last)
    report.burst2_queryable_ms = ms(seen, t_last)
    report.burst2_queries = queries
    report.burst2_cpu_daemon_s = cpu_after[0] - cpu_before[0]
    report.burst2_cpu_workers_s = cpu_after[1] - cpu_before[1]
    with changes.cond:
        report.burst2_axd_events = [
            (round((t - t_last) * 1000, 1), len(paths & set(files)))
            for t, _, paths in changes.events
            if t >= t_first and paths & set(files)
        ]


def run(args: argparse.Namespace) -> Report | None:
    tree: Path = args.tree
    if not tree.is_dir():
        print(f"skipped: no tree at {tree} (see perf/RESULTS.md for how to get it)")
        return None
    use_watchman = WATCHMAN is not None and not args.no_watchman
    workdir = Path(tempfile.mkdtemp(prefix="axdlive-", dir=args.workdir))
    report = Report(
        machine=(
            f"{platform.machine()}, {os.cpu_count()} cores,"
            f" Python {platform.python_version()}"
        ),
        tree=str(tree),
        files=0,
        probe=args.probe,
        poll_ms=args.poll_ms,
        load_before=loadavg(),
    )
    root = workdir / "tree"
    watchman: Watchman | None = None
    daemon: Daemon | None = None
    changes: Changes | None = None
    try:
        report.files = copy_tree(tree, root, link=args.state is not None)
        if args.state is not None:
            relocate_state(args.state, tree, root, workdir / "state")
        if use_watchman:
            watchman = Watchman(workdir, root)
            report.watchman = f"{watchman.version} (default settle)"
        started = time.perf_counter()
        daemon = Daemon(workdir, workdir / "state", call_timeout=120)
        if args.state is None:
            daemon.call("workspace.add", {"root": str(root)})
        daemon.wait(str(root))
        report.cold_index_s = time.perf_counter() - started
        report.warm = args.state is not None
        health = daemon.call("health")
        report.watcher = str(health["checks"].get("watcher", {}).get("detail", "?"))
        changes = Changes(daemon, str(root))
        # The probing connection subscribes too: on one connection, order is
        # exact (no reader threads between the socket and the clock).
        daemon.call("subscribe", {"root": str(root), "events": ["index.changed"]})
        rng = random.Random(args.seed)
        files = candidates(daemon, root, rng, args.edits + args.burst + args.burst2)
        edit_files = files[: args.edits]
        burst_files = files[args.edits : args.edits + args.burst]
        burst2_files = files[args.edits + args.burst :]
        if args.state is not None:  # hard links: no write may reach the original
            for rel in files:
                make_private(root / rel)
            daemon.wait(str(root))
        run_id = rng.randrange(10**6)
        poll_s = args.poll_ms / 1000
        time.sleep(1.0)  # let both watchers settle after the copy and the crawl
        for i, rel in enumerate(edit_files):
            name = f"axdlive{run_id}x{i}"
            daemon.client.notifications.clear()
            t0 = time.perf_counter()
            append(root, rel, name)
            seen, polls = poll_until(
                lambda name=name: probe(daemon, args.probe, str(root), name), poll_s
            )
            first = any(
                method == "index.changed"
                and rel in {c["path"] for c in json.loads(params)["changes"]}
                for method, params in daemon.client.notifications
            )
            notified = first_naming(changes.cond, changes.events, {rel}, t0)
            wm = None
            if watchman is not None:
                wm = first_naming(watchman.cond, watchman.events, {rel}, t0)
            edit = Edit(
                path=rel,
                size=(root / rel).stat().st_size,
                queryable_ms=ms(seen, t0),
                notified_ms=ms(notified, t0),
                watchman_ms=ms(wm, t0),
                polls=polls,
                notified_first=first if seen is not None else None,
            )
            report.edits.append(edit)
            print(
                f"edit {i:3d} {edit.size:8d} B  queryable {fmt(edit.queryable_ms)}"
                f"  notified {fmt(edit.notified_ms)}  watchman {fmt(edit.watchman_ms)}"
                f"  {rel}",
                file=sys.stderr,
                flush=True,
            )
            time.sleep(args.gap_ms / 1000)
        if burst_files:
            prefix = f"axdburst{run_id}y"
            names = [f"{prefix}{j}" for j in range(len(burst_files))]
            cpu_before = cpu_s(daemon.proc.pid)
            check_before = background_cpu_s(daemon.proc.pid)
            t_first = time.perf_counter()
            for rel, name in zip(burst_files, names, strict=True):
                append(root, rel, name)
            t_last = time.perf_counter()
            report.burst_files = len(burst_files)
            report.burst_write_ms = (t_last - t_first) * 1000
            wanted = set(names)

            def all_found() -> bool:
                result = daemon.call(
                    "symbols.search",
                    {"root": str(root), "query": prefix, "limit": 1000},
                )
                return wanted <= {s["name"] for s in result["symbols"]}

            seen, polls = poll_until(all_found, poll_s, timeout=120)
            daemon.client.notifications.clear()
            report.burst_queryable_ms = ms(seen, t_last)
            cpu_after = cpu_s(daemon.proc.pid)
            report.burst_cpu_check_s = background_cpu_s(daemon.proc.pid) - check_before
            report.burst_cpu_daemon_s = cpu_after[0] - cpu_before[0]
            report.burst_cpu_workers_s = cpu_after[1] - cpu_before[1]
            report.burst_polls = polls
            # What one poll costs the daemon (the same query, all found: the
            # dearest case), to tell the daemon's own work from the polling.
            probes = 100
            quiet = cpu_s(daemon.proc.pid)
            for _ in range(probes):
                all_found()
            report.burst_poll_cpu_ms = (
                (cpu_s(daemon.proc.pid)[0] - quiet[0]) / probes * 1000
            )
            report.daemon_rss_kib, report.daemon_hwm_kib = memory_kib(daemon.proc.pid)
            notified = first_naming(
                changes.cond, changes.events, set(burst_files), t_first, timeout=120
            )
            report.burst_notified_ms = ms(notified, t_last)
            if watchman is not None:
                wm = first_naming(
                    watchman.cond, watchman.events, set(burst_files), t_first
                )
                report.burst_watchman_ms = ms(wm, t_last)
                with watchman.cond:
                    report.burst_watchman_events = [
                        (round((t - t_last) * 1000, 1), len(names & set(burst_files)))
                        for t, names in watchman.events
                        if t >= t_first and names & set(burst_files)
                    ]
            with changes.cond:
                report.burst_axd_events = [
                    (round((t - t_last) * 1000, 1), len(paths & set(burst_files)))
                    for t, _, paths in changes.events
                    if t >= t_first and paths & set(burst_files)
                ]
        if burst2_files:
            daemon.wait(str(root))
            time.sleep(1.0)
            burst_notified(
                daemon,
                root,
                changes,
                burst2_files,
                run_id,
                poll_s,
                report,
                args.profile,
            )
        report.load_after = loadavg()
    finally:
        if changes is not None:
            changes.close()
        if daemon is not None:
            daemon.__exit__()
        if watchman is not None:
            watchman.close()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return report


# -- reporting ------------------------------------------------------------------------------


def fmt(value: float | None) -> str:
    return "   miss" if value is None else f"{value:7.1f}"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(report: Report) -> list[str]:
    lines = [
        (
            f"machine: {report.machine}; load before {report.load_before},"
            f" after {report.load_after}"
        ),
        (
            f"tree: {report.tree} ({report.files} files, private copy);"
            f" {'warm start' if report.warm else 'cold index'}"
            f" {report.cold_index_s:.1f} s; axd watcher: {report.watcher};"
            f" watchman: {report.watchman}"
        ),
        f"probe: {report.probe}, polled every {report.poll_ms:g} ms",
        "",
    ]

    def row(label: str, values: list[float | None]) -> tuple[float, float] | None:
        got = [v for v in values if v is not None]
        missed = len(values) - len(got)
        if not got:
            lines.append(f"{label:24} no data ({missed} missed)")
            return None
        p50, p95 = statistics.median(got), pct(got, 0.95)
        lines.append(
            f"{label:24} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  max {max(got):7.1f} ms"
            f"  n={len(got)}" + (f"  missed {missed}" if missed else "")
        )
        return p50, p95

    edits = report.edits
    q = row("axd queryable", [e.queryable_ms for e in edits])
    row("axd index.changed", [e.notified_ms for e in edits])
    has_watchman = report.watchman != "absent"
    w = (
        row("watchman subscribe", [e.watchman_ms for e in edits])
        if has_watchman
        else None
    )
    if q and w:
        lines.append(
            f"ratio axd queryable / watchman: p50 {q[0] / w[0]:.2f}x, p95 {q[1] / w[1]:.2f}x"
        )
    early = [
        e.notified_ms - e.queryable_ms
        for e in edits
        if e.queryable_ms is not None
        and e.notified_ms is not None
        and e.queryable_ms < e.notified_ms
    ]
    lines.append(
        f"ordering: a query saw the change before its index.changed arrived in"
        f" {len(early)} of {len(edits)} saves"
        + (f" (by {min(early):.1f}-{max(early):.1f} ms)" if early else "")
    )
    behind = [e for e in edits if e.notified_first is False]
    lines.append(
        f"ordering on one connection: a reply saw the change before its"
        f" index.changed in {len(behind)} of {len(edits)} saves"
    )
    big = max(edits, key=lambda e: e.size, default=None)
    if big is not None:
        lines.append(
            f"largest file edited: {big.size} B, queryable {fmt(big.queryable_ms)} ms"
        )
    if report.burst_files:
        lines += [
            "",
            (
                f"burst: {report.burst_files} files written in {report.burst_write_ms:.0f} ms;"
                f" after the last write: queryable {fmt(report.burst_queryable_ms)} ms,"
                f" index.changed {fmt(report.burst_notified_ms)} ms"
                + (
                    f", watchman {fmt(report.burst_watchman_ms)} ms"
                    if has_watchman
                    else ""
                )
            ),
        ]
        lines.append(
            "  index.changed (ms after the last write, files): "
            + ", ".join(f"{t:.0f} ms {n}" for t, n in report.burst_axd_events)
        )
        if has_watchman:
            lines.append(
                "  watchman (ms after the last write, files): "
                + ", ".join(f"{t:.0f} ms {n}" for t, n in report.burst_watchman_events)
            )
        if report.burst_cpu_daemon_s is not None:
            total = report.burst_cpu_daemon_s + (report.burst_cpu_workers_s or 0.0)
            lines.append(
                f"  burst CPU: daemon {report.burst_cpu_daemon_s:.2f} s (writer, watcher,"
                f" the polling queries), workers {report.burst_cpu_workers_s:.2f} s;"
                f" {total / (os.cpu_count() or 1) * 1000:.0f} ms on {os.cpu_count()}"
                " cores if perfectly spread"
                f" (not counted: the background quick_check,"
                f" {report.burst_cpu_check_s or 0:.2f} s)"
            )
            if report.burst_poll_cpu_ms is not None:
                polling = report.burst_polls * report.burst_poll_cpu_ms / 1000
                lines.append(
                    f"  of the daemon's: the benchmark's {report.burst_polls} polls"
                    f" x {report.burst_poll_cpu_ms:.2f} ms (one poll, measured after)"
                    f" = ~{polling:.2f} s; the rest {report.burst_cpu_daemon_s - polling:.2f} s"
                )
        if report.daemon_rss_kib is not None:
            lines.append(
                f"  daemon memory after the burst: VmRSS {report.daemon_rss_kib / 1024:.0f}"
                f" MiB, VmHWM {(report.daemon_hwm_kib or 0) / 1024:.0f} MiB"
            )
    if report.burst2_files:
        lines.append(
            f"burst 2 (no query before index.changed named them all):"
            f" {report.burst2_files} files; after the last write: index.changed"
            f" {fmt(report.burst2_notified_ms)} ms, queryable"
            f" {fmt(report.burst2_queryable_ms)} ms ({report.burst2_queries}"
            f" queries); CPU: daemon {report.burst2_cpu_daemon_s or 0:.2f} s,"
            f" workers {report.burst2_cpu_workers_s or 0:.2f} s"
            f" (not counted: the background quick_check,"
            f" {report.burst2_cpu_check_s or 0:.2f} s)"
        )
        lines.append(
            f"  processes started meanwhile (workers recycled): {report.burst2_new_processes};"
            " CPU of the live ones (s): "
            + ", ".join(
                f"{k} {v:.2f}" for k, v in sorted(report.burst2_cpu_processes.items())
            )
        )
        lines.append(
            "  daemon threads' CPU (s): "
            + ", ".join(f"{k} {v:.2f}" for k, v in report.burst2_cpu_threads.items())
        )
        lines.append(
            "  index.changed (ms after the last write, files): "
            + ", ".join(f"{t:.0f} ms {n}" for t, n in report.burst2_axd_events)
        )
    if report.burst_queryable_ms is not None and report.burst_watchman_ms:
        ratio = report.burst_queryable_ms / report.burst_watchman_ms
        lines.append(f"ratio burst axd queryable / watchman: {ratio:.1f}x")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", type=Path, default=DEFAULT_TREE)
    parser.add_argument("--edits", type=int, default=30)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument(
        "--burst2",
        type=int,
        default=None,
        help="second burst's files (default: --burst)",
    )
    parser.add_argument(
        "--probe", choices=("definition", "search"), default="definition"
    )
    parser.add_argument("--poll-ms", type=float, default=2.0)
    parser.add_argument(
        "--gap-ms", type=float, default=300.0, help="pause between saves"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-watchman", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy")
    parser.add_argument(
        "--state", type=Path, help="a state dir with a complete index of --tree"
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp"))
    parser.add_argument("--save", type=Path, help="also write the JSON report here")
    parser.add_argument(
        "--profile",
        type=Path,
        help="py-spy samples of the daemon during the second burst (raw stacks)",
    )
    args = parser.parse_args(argv)
    if args.burst2 is None:
        args.burst2 = args.burst
    report = run(args)
    if report is None:
        return 0
    print("\n".join(summary(report)))
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text(json.dumps(asdict(report), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
