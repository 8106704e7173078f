"""Cold index of real repositories (issue #16's table): per tree, in one run,
axd's cold index against a one-process parse floor (and a two-process one,
the physical limit on this machine), Universal Ctags, CPU utilisation, peak
memory, index size, warm start to the first answer, and the stat pass.

Trees (skipped, with a message, when absent): ``moby`` and ``deno`` under
``/work/corpora`` (a Go-heavy and a Rust/TypeScript-heavy public repository,
extracted from a git snapshot; commits in ``/work/corpora/NAME.COMMIT`` and
in perf/RESULTS.md), or any ``--tree NAME=DIR``.

Per tree:

* **floor**: read + ``parser.parse`` of every file axd's language detection
  knows (<= 2 MiB) in one fresh process (`bench_index.floor_child`); **floor
  x2**: the same files split over two processes running at once (wall time
  until both finish), what two cores can parse. Both report CPU seconds
  too: on a shared machine, axd CPU / floor CPU is the load-independent
  figure (the work axd does per unit of parsing).
* **ctags**: ``ctags -R -f /dev/null``.
* **axd cold**: fresh daemon and state, ``workspace.add`` -> ready. Sampled
  every 100 ms over the daemon and all its descendants: summed VmRSS (peak),
  each process's VmHWM (summed at the end: an upper bound of the peak),
  summed Pss every 500 ms (shared pages, e.g. the grammars both workers map,
  counted once), the summed RSS and Pss 10 s after ready (idle), CPU
  seconds (utime + stime) per process; CPU utilisation = axd CPU seconds /
  (wall x cores), and the share of 1-second windows in which axd used at
  least 1.5 cores ("both cores busy"). The daemon's threads' CPU seconds
  (the writer is the busiest) and the machine's own busy share (/proc/stat,
  everyone's load) over the same time.
* **index size**: the state directory after shutdown against the bytes of
  the files indexed (``SUM(files.size)``), and per table/index (``dbstat``).
* **warm start**: restart on the same state; from process start, the first
  ``symbols.definition`` that answers with a known definition (polled every
  5 ms), ``index.wait`` ready, and the ``reconciled`` log line (files
  changed, stat pass ms).

    .venv/bin/python perf/bench_cold.py [--tree NAME=DIR ...] [--save FILE]
        [--py-spy DIR]

``--py-spy DIR`` also records the daemon and its workers with py-spy (in the
venv: ``pip install py-spy``) during each cold index, raw folded stacks per
tree in DIR (adds sampling overhead: use a separate run for timings).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Self

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_index as bi
import cold_timeline

CORPORA = Path("/work/corpora")
DEFAULT_TREES = {"moby": CORPORA / "moby", "deno": CORPORA / "deno"}
TICK_S = 0.1
IDLE_SETTLE_S = 10.0
# A second idle sample, after the workers' idle refresh (`worker_idle_s`,
# 60 s by default): `--idle-late` (seconds after ready; 0: none).
IDLE_LATE_S = 0.0
CLK = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1


# -- floors -----------------------------------------------------------------------------------


def floor_shard_child(root: str, shard: int, shards: int) -> None:
    """Parse every `shards`-th parseable file starting at `shard`; print JSON."""
    from tree_sitter_language_pack import get_parser

    from axd.daemon.index.languages import detect_language

    parsers: dict[str, Any] = {}
    files = size = index = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    for current, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            language = detect_language(name, b"")
            if language is None and "." in name.lstrip("."):
                continue
            path = os.path.join(current, name)
            try:
                with open(path, "rb") as handle:
                    data = handle.read()
            except OSError:
                continue
            if len(data) > bi.MAX_FILE_BYTES:
                continue
            language = language or detect_language(name, data[:256])
            if language is None:
                continue
            if language not in parsers:
                try:
                    parsers[language] = get_parser(language)  # type: ignore[arg-type]
                except Exception:  # noqa: BLE001 - a language without a grammar
                    parsers[language] = None
            parser = parsers[language]
            if parser is None:
                continue
            index += 1
            if index % shards != shard:
                continue
            parser.parse(data)
            files += 1
            size += len(data)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    print(json.dumps({"files": files, "bytes": size, "s": elapsed, "cpu_s": cpu}))


def floor(root: Path, shards: int) -> dict[str, Any]:
    """`shards` parse children at once; wall time until all are done, CPU."""
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [bi.PYTHON, __file__, "--_shard", str(root), str(i), str(shards)],
            stdout=subprocess.PIPE,
            cwd=bi.REPO,
        )
        for i in range(shards)
    ]
    outs = [json.loads(p.communicate()[0]) for p in procs]
    return {
        "s": time.perf_counter() - started,
        "files": sum(o["files"] for o in outs),
        "bytes": sum(o["bytes"] for o in outs),
        "parse_s": [o["s"] for o in outs],
        "cpu_s": sum(o["cpu_s"] for o in outs),
    }


def run_ctags(root: Path) -> dict[str, float]:
    """`ctags -R -f TAGS`: wall and CPU seconds (rusage).

    Into a real file: with ``-f /dev/null`` ctags 5.9 gives up part-way on a
    large tree ("failed to truncate the tag file"), which timed 0.8 s for
    100k files.
    """
    with tempfile.TemporaryDirectory(prefix="axdctags-") as scratch:
        started = time.perf_counter()
        proc = subprocess.Popen(
            ["ctags", "-R", "-f", os.path.join(scratch, "tags"), str(root)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        print(f"  ctags exited with {os.waitstatus_to_exitcode(status)}")
    return {
        "s": elapsed,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "rss": usage.ru_maxrss * 1024,
    }


# -- sampling a process tree ------------------------------------------------------------------


def _cpu_s(stat_path: str) -> float:
    with open(stat_path, "rb") as handle:
        fields = handle.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK  # utime, stime


def _runqueue_wait_s(pid: int, seen: dict[tuple[int, str], float]) -> float:
    """Seconds `pid`'s threads spent runnable but waiting for a CPU
    (`/proc/PID/task/TID/schedstat`, 2nd field): what another user's load
    took from it. On-CPU + this = what it wanted; the rest it was blocked.
    `seen` keeps each thread's last figure, so a thread that ended still
    counts (the sum never goes down)."""
    for entry in os.scandir(f"/proc/{pid}/task"):
        path = f"/proc/{pid}/task/{entry.name}/schedstat"
        with (
            contextlib.suppress(OSError, ValueError, IndexError),
            open(path, "rb") as f,
        ):
            seen[(pid, entry.name)] = int(f.read().split()[1]) / 1e9
    return sum(v for (p, _), v in seen.items() if p == pid)


def _machine_busy() -> tuple[float, float]:
    with open("/proc/stat", "rb") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class TreeSampler:
    """Peak summed VmRSS, last VmHWM and CPU seconds per process, CPU timeline."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_rss = 0
        self.peak_pss = 0  # summed Pss: shared pages (grammars) counted once
        # The daemon alone (Pss and RSS) and the rest of the tree at the
        # summed-Pss peak: which side the peak is made of.
        self.peak_daemon_pss = 0
        self.peak_daemon_rss = 0
        self.pss_at_peak: dict[str, int] = {}
        # Per worker (a process whose parent is not the daemon: the
        # forkserver's children): its largest sampled Pss and VmHWM, and
        # the forkserver's largest Pss (#16: each worker <= 60 MB).
        self.worker_pss: dict[int, int] = {}
        self.worker_hwm: dict[int, int] = {}
        self.forkserver_pss = 0
        # (seconds since start, daemon RSS, summed RSS) at every tick: when
        # the daemon's peak happens (crawl, batches, the final relink).
        self.rss_timeline: list[tuple[float, int, int]] = []
        self.ticks = 0
        self.peak_detail: dict[str, int] = {}
        self.hwm: dict[int, int] = {}
        self.cpu: dict[int, float] = {}
        self.names: dict[int, str] = {}
        self.timeline: list[tuple[float, float]] = []  # (t, axd CPU s so far)
        # (t, CPU s per pid, CPU s per daemon thread, run-queue wait s per
        # pid) at every tick
        self.ticks_detail: list[
            tuple[float, dict[int, float], dict[str, float], dict[int, float]]
        ] = []
        self.wait: dict[int, float] = {}
        self._thread_wait: dict[tuple[int, str], float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self.started = time.perf_counter()
        self.machine0 = _machine_busy()
        self.sample()
        self.base = dict(self.cpu)  # start-up CPU before the measured span
        self.timeline = [(self.started, 0.0)]
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()
        self.wall = time.perf_counter() - self.started
        busy1, total1 = _machine_busy()
        busy0, total0 = self.machine0
        self.machine_busy = (busy1 - busy0) / max(1, total1 - total0)

    def sample(self) -> None:
        pids = bi.process_tree(self.pid)
        rss_total = 0
        for pid in pids:
            with contextlib.suppress(OSError, ValueError, IndexError):
                self.cpu[pid] = _cpu_s(f"/proc/{pid}/stat")
                self.wait[pid] = _runqueue_wait_s(pid, self._thread_wait)
                rss = bi._status_kb(pid, b"VmRSS:") * 1024
                hwm = bi._status_kb(pid, b"VmHWM:") * 1024
                self.hwm[pid] = max(self.hwm.get(pid, 0), hwm)
                rss_total += rss
                if pid not in self.names:
                    with open(f"/proc/{pid}/cmdline", "rb") as handle:
                        self.names[pid] = (
                            handle.read().replace(b"\0", b" ")[-60:].decode()
                        )
        self.ticks += 1
        if self.ticks % 5 == 1:  # smaps_rollup walks the page tables: not every tick
            daemon_pss = 0
            with contextlib.suppress(OSError, ValueError):
                daemon_pss = _pss(self.pid)
                self.peak_daemon_pss = max(self.peak_daemon_pss, daemon_pss)
            pss = self._sample_pss(pids, daemon_pss)
            if pss > self.peak_pss:
                self.peak_pss = pss
                self.pss_at_peak = {"daemon": daemon_pss, "others": pss - daemon_pss}
        daemon_rss = bi._status_kb(self.pid, b"VmRSS:") * 1024
        self.peak_daemon_rss = max(self.peak_daemon_rss, daemon_rss)
        started = getattr(self, "started", time.perf_counter())
        self.rss_timeline.append((time.perf_counter() - started, daemon_rss, rss_total))
        if rss_total > self.peak_rss:
            self.peak_rss = rss_total
            daemon = bi._status_kb(self.pid, b"VmRSS:") * 1024
            self.peak_detail = {"daemon": daemon, "others": rss_total - daemon}
        now = time.perf_counter()
        self.timeline.append((now, self.cpu_total()))
        with contextlib.suppress(OSError):
            threads = dict(thread_cpu(self.pid))
            self.ticks_detail.append((now, dict(self.cpu), threads, dict(self.wait)))

    def _sample_pss(self, pids: list[int], daemon_pss: int) -> int:
        """Summed Pss of `pids` now, noting each worker's and the
        forkserver's (a child of the daemon with children of its own)."""
        total = daemon_pss
        parents: dict[int, int] = {}
        values: dict[int, int] = {}
        for pid in pids:
            if pid == self.pid:
                continue
            with contextlib.suppress(OSError, ValueError, IndexError):
                values[pid] = _pss(pid)
                with open(f"/proc/{pid}/stat", "rb") as handle:
                    parents[pid] = int(handle.read().rsplit(b") ", 1)[1].split()[1])
                total += values[pid]
        for pid, value in values.items():
            if parents.get(pid) not in (None, self.pid):
                self.worker_pss[pid] = max(self.worker_pss.get(pid, 0), value)
                self.worker_hwm[pid] = self.hwm.get(pid, 0)
            elif pid in parents.values():
                self.forkserver_pss = max(self.forkserver_pss, value)
        return total

    def cpu_total(self) -> float:
        """CPU seconds of the tree since `__enter__`."""
        return sum(self.cpu.values()) - sum(getattr(self, "base", {}).values())

    def cpu_of(self, pid: int) -> float:
        return self.cpu.get(pid, 0.0) - getattr(self, "base", {}).get(pid, 0.0)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(TICK_S)

    def busy_share(self, window_s: float = 1.0, cores: float = 1.5) -> float:
        """Share of `window_s` windows in which the tree used >= `cores` CPUs."""
        windows = busy = 0
        start_t, start_cpu = self.timeline[0]
        for t, cpu in self.timeline[1:]:
            if t - start_t >= window_s:
                windows += 1
                busy += (cpu - start_cpu) / (t - start_t) >= cores
                start_t, start_cpu = t, cpu
        return busy / windows if windows else float("nan")


def rss_points(
    timeline: list[tuple[float, int, int]], cold_s: float, points: int = 20
) -> list[tuple[float, int, int]]:
    """The largest daemon RSS (with the summed RSS then) in each of
    `points` equal windows of the cold index, and the daemon's peak."""
    width = max(cold_s, 1e-9) / points
    windows: dict[int, tuple[float, int, int]] = {}
    for t, daemon, total in timeline:
        key = min(points - 1, int(t / width)) if t <= cold_s else points
        if key not in windows or daemon > windows[key][1]:
            windows[key] = (t, daemon, total)
    return [windows[k] for k in sorted(windows)]


def _pss(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
        for line in handle:
            if line.startswith(b"Pss:"):
                return int(line.split()[1]) * 1024
    return 0


def tree_memory(pid: int) -> tuple[int, int]:
    """(summed VmRSS, summed Pss) of `pid` and its descendants now."""
    rss = pss = 0
    for child in bi.process_tree(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            rss += bi._status_kb(child, b"VmRSS:") * 1024
            pss += _pss(child)
    return rss, pss


def thread_cpu(pid: int) -> list[tuple[str, float]]:
    """CPU seconds of each thread of `pid`, busiest first."""
    out = []
    for entry in os.scandir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            name = Path(f"/proc/{pid}/task/{entry.name}/comm").read_text().strip()
            out.append(
                (f"{name}/{entry.name}", _cpu_s(f"/proc/{pid}/task/{entry.name}/stat"))
            )
    return sorted(out, key=lambda item: -item[1])


# -- the index database -------------------------------------------------------------------------


def index_facts(state: Path) -> dict[str, Any]:
    import apsw

    dbs = list(state.rglob("index.db"))
    if not dbs:
        return {}
    conn = apsw.Connection(str(dbs[0]), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        files, source = next(
            conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM files WHERE status = 'indexed'"
            )
        )
        tables = [
            (name, size)
            for name, size in conn.execute(
                "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
            )
        ]
        counts = {
            table: next(conn.execute(f"SELECT COUNT(*) FROM {table}"))[0]
            for table in ("files", "chunks", "symbols", "refs", "imports")
        }

        def columns(table: str) -> set[str]:
            return {str(r[1]) for r in conn.execute(f"PRAGMA table_info({table})")}

        # Since migration 0002 chunk text is stored compressed (`ztext`) and
        # references keep no context line.
        stored = "length(text)" + (
            " + COALESCE(length(ztext), 0)" if "ztext" in columns("chunks") else ""
        )
        text_bytes = next(
            conn.execute(f"SELECT COALESCE(SUM({stored}), 0) FROM chunks")
        )[0]
        ref_context = 0
        if "context" in columns("refs"):
            ref_context = next(
                conn.execute("SELECT COALESCE(SUM(length(context)), 0) FROM refs")
            )[0]
        kinds = "('function', 'method', 'class', 'struct', 'interface')"
        probe = next(
            conn.execute(
                f"SELECT name FROM symbols WHERE kind IN {kinds} ORDER BY id LIMIT 1"
                f" OFFSET (SELECT COUNT(*) / 2 FROM symbols WHERE kind IN {kinds})"
            ),
            (None,),
        )[0]
    finally:
        conn.close()
    return {
        "files": files,
        "source_bytes": source,
        # The database alone (the state directory also holds snapshots).
        "db_file_bytes": sum(
            p.stat().st_size
            for p in dbs[0].parent.iterdir()
            if p.name.startswith("index.db") and p.is_file()
        ),
        "tables": tables,
        "rows": counts,
        "chunk_text_bytes": text_bytes,
        "ref_context_bytes": ref_context,
        "probe_name": probe,
    }


# -- one tree ------------------------------------------------------------------------------------


def warm_start(daemon: bi.Daemon, root: str, name: str | None) -> dict[str, Any]:
    """Restart; from process start, the first answer holding `name`, and ready."""
    from axd.client.connection import Client, DaemonUnavailableError, RemoteError

    daemon.start()
    assert daemon.proc is not None
    started = daemon.started_at
    first_answer: float | None = None
    client = None
    deadline = time.monotonic() + 60
    while name is not None and time.monotonic() < deadline:
        try:
            if client is None:
                client = Client.connect(daemon.socket, timeout=90)
            params = {"root": root, "name": name}
            result = json.loads(client.call_raw("symbols.definition", params))
            if result["definitions"]:
                first_answer = time.perf_counter() - started
                break
        except (DaemonUnavailableError, OSError):
            client = None
        except RemoteError:
            pass  # e.g. the workspace is not loaded yet
        if daemon.proc.poll() is not None:
            raise RuntimeError(f"daemon exited: see {daemon.log_path}")
        time.sleep(0.005)
    if client is None:
        client = daemon.connect()
    bi.wait_ready(client, root)
    ready = time.perf_counter() - started
    reconciled = bi.log_event(daemon.logs(), "reconciled")
    daemon.stop(client)
    return {
        "first_answer_s": first_answer,
        "ready_s": ready,
        "reconciled_changed": reconciled.get("changed"),
        "reconciled_ms": reconciled.get("ms"),
    }


def run_tree(
    name: str,
    root: Path,
    py_spy: Path | None,
    no_floors: bool = False,
    config: str = "",
    no_warm: bool = False,
) -> dict[str, Any]:
    files, size = bi.tree_size(root)
    out: dict[str, Any] = {
        "root": str(root),
        "files_on_disk": files,
        "bytes_on_disk": size,
    }
    commit = root.parent / f"{root.name}.COMMIT"
    out["commit"] = commit.read_text().strip() if commit.is_file() else "?"
    out["load"] = {"start": bi.loadavg()}

    def stage(key: str, fn: Any) -> None:
        t0 = time.perf_counter()
        out[key] = fn()
        out["load"][key] = bi.loadavg()
        print(f"[{name}] {key}: {time.perf_counter() - t0:.1f} s (load {bi.loadavg()})",
              file=sys.stderr, flush=True)  # fmt: skip

    if no_floors:  # axd alone (memory, size, CPU seconds); the ratios print nan
        skipped = {"s": float("nan"), "cpu_s": float("nan"), "files": 0}
        out["floor"] = out["floor2"] = out["ctags"] = skipped
    else:
        stage("floor", lambda: floor(root, 1))
        stage("floor2", lambda: floor(root, 2))
        stage("ctags", lambda: run_ctags(root))

    workdir = Path(tempfile.mkdtemp(prefix="axdcold-", dir="/tmp"))
    state = workdir / "state"
    daemon = bi.Daemon(workdir, state)
    daemon.config.write_text(config)
    out["config"] = config
    spy: subprocess.Popen[bytes] | None = None
    try:
        daemon.start()
        client = daemon.connect()
        assert daemon.proc is not None
        if py_spy is not None:
            py_spy.mkdir(parents=True, exist_ok=True)
            spy = subprocess.Popen(
                [str(Path(bi.PYTHON).parent / "py-spy"), "record", "--pid",
                 str(daemon.proc.pid), "--subprocesses", "--threads",
                 "--rate", "50", "--format", "raw",
                 "--output", str(py_spy / f"{name}.folded"), "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(1.0)
        with (
            TreeSampler(daemon.proc.pid) as sampler,
            cold_timeline.StatusPoller(daemon.socket, str(root)) as poller,
        ):
            t0 = time.perf_counter()
            client.call_raw("workspace.add", {"root": str(root)})
            status = bi.wait_ready(client, str(root))
            cold = time.perf_counter() - t0
        window = max(1.0, round(cold / 60))
        rows = cold_timeline.timeline(
            [tick for tick in sampler.ticks_detail if tick[0] >= t0],
            daemon.proc.pid,
            sampler.names,
            poller.samples,
            window,
        )
        summary = cold_timeline.phases(rows, poller.samples, t0)
        print(f"[{name}] timeline, {window:.0f} s windows (cores = CPUs busy):",
              file=sys.stderr)  # fmt: skip
        print(
            "\n".join(cold_timeline.lines(rows, summary)), file=sys.stderr, flush=True
        )
        # Idle after the cold index (target: <= 150 MB): once the daemon has
        # settled (snapshot, checkpoint), summed RSS and Pss of the tree.
        time.sleep(IDLE_SETTLE_S)
        idle_rss, idle_pss = tree_memory(daemon.proc.pid)
        idle_daemon_pss = _pss(daemon.proc.pid)
        late: dict[str, float] = {}
        if IDLE_LATE_S > IDLE_SETTLE_S:
            time.sleep(IDLE_LATE_S - IDLE_SETTLE_S)
            late_rss, late_pss = tree_memory(daemon.proc.pid)
            late = {"s": IDLE_LATE_S, "rss": late_rss, "pss": late_pss,
                    "daemon_pss": _pss(daemon.proc.pid)}  # fmt: skip
        threads = thread_cpu(daemon.proc.pid)
        logs = daemon.logs()
        metrics = daemon.metrics()
        cpu_daemon = sampler.cpu_of(daemon.proc.pid)
        out["axd"] = {
            "cold_s": cold,
            "files_indexed": status["files_indexed"],
            "files_skipped": status["files_skipped"],
            "crawl_ms": bi.log_event(logs, "reconciled").get("ms"),
            # the serial end of a first index: every import resolved once
            "link_ms": bi.log_event(logs, "imports_linked").get("ms"),
            "write_s": bi.metric_sum(metrics, "axd_index_batch_seconds_sum"),
            "batches": int(bi.metric_sum(metrics, "axd_index_batch_seconds_count")),
            "cpu_s": sampler.cpu_total(),
            "cpu_daemon_s": cpu_daemon,
            "cpu_children_s": sampler.cpu_total() - cpu_daemon,
            "utilisation": sampler.cpu_total() / (sampler.wall * CORES),
            "both_cores_busy_share": sampler.busy_share(),
            # windows in which axd was on CPU or waiting for one (run queue)
            # for >= 1.5 cores: both cores busy, had the machine been idle
            "both_cores_wanted_share": cold_timeline.wanted_share(rows),
            "cores_wanted": cold_timeline.mean_wanted(rows),
            "machine_busy": sampler.machine_busy,
            "peak_rss": sampler.peak_rss,
            "peak_pss": sampler.peak_pss,
            "idle_rss": idle_rss,
            "idle_pss": idle_pss,
            "idle_daemon_pss": idle_daemon_pss,
            "idle_late": late,
            "peak_daemon_pss": sampler.peak_daemon_pss,
            "peak_daemon_rss": sampler.peak_daemon_rss,
            "pss_at_peak": sampler.pss_at_peak,
            "worker_pss_max": max(sampler.worker_pss.values(), default=0),
            "worker_hwm_max": max(sampler.worker_hwm.values(), default=0),
            "workers_seen": len(sampler.worker_pss),
            "forkserver_pss": sampler.forkserver_pss,
            "rss_timeline": rss_points(sampler.rss_timeline, cold),
            "peak_detail": sampler.peak_detail,
            "hwm_sum": sum(sampler.hwm.values()),
            "hwm": {
                f"{p} {sampler.names.get(p, '')}": v for p, v in sampler.hwm.items()
            },
            "daemon_threads_cpu_s": threads[:6],
            "processes": len(sampler.hwm),
            "timeline": rows,
            "phases": summary,
        }
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                spy.wait(60)
        print(f"[{name}] axd cold: {cold:.1f} s (load {bi.loadavg()})", file=sys.stderr,
              flush=True)  # fmt: skip
        out["load"]["axd"] = bi.loadavg()
        daemon.stop(client)
        out["db_bytes"] = sum(p.stat().st_size for p in state.rglob("*") if p.is_file())
        out["index"] = index_facts(state)
        if no_warm:
            out["warm"] = {"first_answer_s": None, "ready_s": float("nan"),
                           "reconciled_ms": None, "reconciled_changed": None}  # fmt: skip
        else:
            stage(
                "warm",
                lambda: warm_start(daemon, str(root), out["index"].get("probe_name")),
            )
    finally:
        if spy is not None and spy.poll() is None:
            spy.kill()
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                daemon.proc.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
    return out


def sample_tree(root: Path, files: int) -> Path:
    """Every k-th regular file of `root` (sorted paths), `files` in all,
    copied (never linked: the shared corpora's inodes stay untouched) into a
    new tree under /tmp."""
    paths = sorted(
        os.path.relpath(os.path.join(d, f), root)
        for d, _dirs, names in os.walk(root)
        for f in names
        if os.path.isfile(os.path.join(d, f)) and not os.path.islink(os.path.join(d, f))
    )
    step = max(1, len(paths) // files)
    dest = Path(tempfile.mkdtemp(prefix="axdsample-", dir="/tmp")) / root.name
    for rel in paths[::step][:files]:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)
    print(f"sample of {root}: {min(files, len(paths[::step]))} of {len(paths)} files"
          f" (every {step}th) in {dest}", file=sys.stderr, flush=True)  # fmt: skip
    return dest


# -- report ----------------------------------------------------------------------------------------


def mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB"


def report_lines(trees: dict[str, dict[str, Any]]) -> list[str]:
    head = (
        "| tree | files indexed | axd cold | floor 1 proc | cold/floor | floor 2 procs"
        " | ctags | CPU util (both cores busy) | peak RSS sum (VmHWM sum)"
        " | index.db / source (whole state dir)"
        " | warm: first answer / ready / stat pass | axd CPU / floor CPU |"
    )
    lines = [head, "|" + "---|" * 12]
    for name, t in trees.items():
        a, f, ix, w = t["axd"], t["floor"], t["index"], t["warm"]
        first = w["first_answer_s"]
        lines.append(
            f"| {name} | {a['files_indexed']:,} | {a['cold_s']:.1f} s | {f['s']:.1f} s"
            f" | **{a['cold_s'] / f['s']:.2f}x** | {t['floor2']['s']:.1f} s"
            f" ({f['s'] / t['floor2']['s']:.2f}x faster) | {t['ctags']['s']:.1f} s"
            f" | {100 * a['utilisation']:.0f}% ({100 * a['both_cores_busy_share']:.0f}% of"
            f" seconds >= 1.5 cores; wanted {a.get('cores_wanted', float('nan')):.2f} cores,"
            f" >= 1.5 in {100 * a.get('both_cores_wanted_share', float('nan')):.0f}%)"
            f" | {mb(a['peak_rss'])} ({mb(a['hwm_sum'])})"
            f" | {mb(ix.get('db_file_bytes', t['db_bytes']))} / {mb(ix['source_bytes'])}"
            f" = **{ix.get('db_file_bytes', t['db_bytes']) / max(1, ix['source_bytes']):.2f}x**"
            f" (state dir {mb(t['db_bytes'])})"
            f" | {'miss' if first is None else f'{first:.2f} s'} / {w['ready_s']:.2f} s /"
            f" {(w['reconciled_ms'] or 0) / 1000:.2f} s ({w['reconciled_changed']} changed)"
            f" | {a['cpu_s']:.0f} s / {f['cpu_s']:.1f} s = **{a['cpu_s'] / f['cpu_s']:.2f}x** |"
        )
    lines.append("")
    for name, t in trees.items():
        a, ix = t["axd"], t["index"]
        threads = ", ".join(f"{n} {s:.1f} s" for n, s in a["daemon_threads_cpu_s"][:4])
        tables = ", ".join(f"{n} {mb(s)}" for n, s in ix["tables"][:10])
        lines += [
            (
                f"{name} ({t['commit']}): {t['files_on_disk']:,} files on disk,"
                f" {mb(t['bytes_on_disk'])}; floor parsed {t['floor']['files']:,} files;"
                f" skipped {a['files_skipped']}; crawl {(a['crawl_ms'] or 0) / 1000:.2f} s;"
                f" import relink {(a.get('link_ms') or 0) / 1000:.2f} s;"
                f" writer (sum of batch commits) {a['write_s']:.1f} s in {a['batches']} batches"
                f" = {100 * a['write_s'] / a['cold_s']:.0f}% of the cold wall time;"
                f" ctags CPU {t['ctags']['cpu_s']:.1f} s; 2-process floor CPU"
                f" {t['floor2']['cpu_s']:.1f} s."
            ),
            (
                f"  CPU: axd {a['cpu_s']:.1f} s (daemon {a['cpu_daemon_s']:.1f} s, workers +"
                f" forkserver {a['cpu_children_s']:.1f} s) over {a['cold_s']:.1f} s x {CORES}"
                f" cores; the machine was {100 * a['machine_busy']:.0f}% busy (all users)."
                f" Daemon threads: {threads}."
            ),
            (
                f"  Workers: largest sampled Pss of one worker"
                f" {mb(a.get('worker_pss_max', 0))} (VmHWM {mb(a.get('worker_hwm_max', 0))});"
                f" {a.get('workers_seen', 0)} worker processes over the run (recycles start"
                f" new ones); forkserver peak Pss {mb(a.get('forkserver_pss', 0))}."
            ),
            f"  Memory: peak summed Pss {mb(a.get('peak_pss', 0))} (shared grammar pages"
            f" counted once); idle {IDLE_SETTLE_S:.0f} s after ready: RSS sum"
            f" {mb(a.get('idle_rss', 0))}, Pss sum {mb(a.get('idle_pss', 0))}"
            f" (daemon Pss {mb(a.get('idle_daemon_pss', 0))})"
            + (
                f"; {a['idle_late']['s']:.0f} s after ready: RSS sum"
                f" {mb(a['idle_late']['rss'])}, Pss sum {mb(a['idle_late']['pss'])}"
                f" (daemon Pss {mb(a['idle_late']['daemon_pss'])})"
                if a.get("idle_late")
                else ""
            )
            + f". Daemon alone: peak Pss {mb(a.get('peak_daemon_pss', 0))}, peak RSS"
            f" {mb(a.get('peak_daemon_rss', 0))}; at the summed-Pss peak: daemon"
            f" {mb(a.get('pss_at_peak', {}).get('daemon', 0))}, others"
            f" {mb(a.get('pss_at_peak', {}).get('others', 0))}."
            + (
                " Daemon RSS (max per 1/20 of the cold index, s: MB): "
                + ", ".join(f"{t:.0f}: {d / 1e6:.0f}" for t, d, _ in a["rss_timeline"])
                + "."
                if a.get("rss_timeline")
                else ""
            )
            + f" Peak RSS at the peak: daemon {mb(a['peak_detail'].get('daemon', 0))},"
            f" others {mb(a['peak_detail'].get('others', 0))}; VmHWM per process: "
            + ", ".join(f"{mb(v)}" for v in sorted(a["hwm"].values(), reverse=True)),
            (
                f"  Index by table/index (dbstat): {tables}. Rows: {ix['rows']}; chunk text"
                f" {mb(ix['chunk_text_bytes'])}, ref context {mb(ix['ref_context_bytes'])}."
            ),
            f"  Load: {t['load']}.",
            "",
        ]
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--_shard":
        floor_shard_child(argv[1], int(argv[2]), int(argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", action="append", default=[], help="NAME=DIR")
    parser.add_argument("--save", type=Path)
    parser.add_argument("--py-spy", type=Path)
    parser.add_argument(
        "--no-floors",
        action="store_true",
        help="skip the parse floors and ctags (when the machine is too loaded"
        " for them to mean anything): memory, size and CPU seconds only",
    )
    parser.add_argument("--workers", type=int, help="[index] workers (default: CPUs)")
    parser.add_argument("--batch-files", type=int, help="[index] batch_files")
    parser.add_argument("--no-warm", action="store_true", help="skip the warm start")
    parser.add_argument(
        "--idle-late",
        type=float,
        default=0.0,
        metavar="S",
        help="also sample memory S seconds after ready (e.g. 70: after the"
        " workers' idle refresh at worker_idle_s = 60)",
    )
    parser.add_argument(
        "--sample",
        type=int,
        metavar="N",
        help="index every k-th file of each tree (sorted paths;"
        " copied to a private tree under /tmp), N files in all: the same mix, smaller",
    )
    parser.add_argument(
        "--daemon-config",
        default="",
        help="TOML text for the daemon's config file (default: empty, i.e."
        " the defaults), e.g. '[index]\\nworker_idle_s = 5'",
    )
    args = parser.parse_args(argv)
    global IDLE_LATE_S  # one setting for every tree of the run
    IDLE_LATE_S = args.idle_late
    if args.daemon_config and (args.workers or args.batch_files):
        parser.error("--daemon-config replaces --workers/--batch-files: put them in it")
    config = args.daemon_config or "[index]\n"
    if args.workers:
        config += f"workers = {args.workers}\n"
    if args.batch_files:
        config += f"batch_files = {args.batch_files}\n"
    trees = (
        {k: Path(v) for k, v in (t.split("=", 1) for t in args.tree)}
        if args.tree
        else DEFAULT_TREES
    )
    print(
        f"Date {time.strftime('%Y-%m-%d %H:%M')}. Machine: {platform.machine()},"
        f" {CORES} cores, Python {platform.python_version()}, {bi.ctags_version()}."
        f" Load at start {bi.loadavg()}."
    )
    results: dict[str, dict[str, Any]] = {}
    for name, root in trees.items():
        if not root.is_dir():
            print(f"skipped {name}: no tree at {root} (see perf/RESULTS.md)")
            continue
        with contextlib.ExitStack() as cleanup:
            if args.sample:
                root = sample_tree(root, args.sample)
                cleanup.callback(shutil.rmtree, root.parent, True)
                name = f"{name}-sample{args.sample}"
            results[name] = run_tree(
                name, root, args.py_spy, args.no_floors, config, args.no_warm
            )
        if args.save:
            args.save.parent.mkdir(parents=True, exist_ok=True)
            args.save.write_text(json.dumps(results, indent=2, default=str))
    if results:
        print("\n".join(report_lines(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
