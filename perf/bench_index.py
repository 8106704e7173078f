"""Index engine checks: axd's cold index, warm restart and one-file re-index,
against a one-process tree-sitter parse floor and Universal Ctags, measured
in the same run on the same trees.

Trees: a copy of the Python standard library (``sysconfig`` stdlib without
site-packages and ``__pycache__``, under ``perf/out/bench_index/stdlib``) and
the ~100,000-file corpus of `corpus.build_corpus` (``perf/corpus``). A fresh
non-linked file ``axd_bench_touch.py`` is written into each tree first; stage
(e) appends to it.

Stages, per tree:

(a) parse floor: read + ``tree_sitter_language_pack.get_parser(lang).parse``
    of every file `detect_language` knows (<= 2 MiB), in one fresh process,
    no extraction, no database.
(b) ``ctags -R -f /dev/null ROOT``, wall time and peak RSS.
(c) axd cold index: a fresh daemon (empty state dir), ``workspace.add``,
    ``index.wait`` until ready. Wall time from ``workspace.add``; files/s,
    MB/s; peak of the summed VmRSS (and PSS) of the daemon and all its
    descendants (forkserver, workers), sampled every 100 ms (PSS every
    500 ms). Crawl ms (``reconciled`` log line) and write ms (sum of
    ``axd_index_batch_seconds``) from the daemon itself.
(d) warm restart: ``server.shutdown``, start again on the same state dir,
    time until ``index.wait`` says ready (from process start, and from the
    first successful connect); files re-parsed (``reconciled changed=``,
    ``axd_files_indexed``) must be 0.
(e) append a line to the touch file; time from the write until
    ``index.wait(generation=g+1)`` returns (median of `--touches`).

Then, with ``--breakdown`` (default on), a serial model of the worker +
writer work in one process on a sample of the tree (every file of the
stdlib, every `--sample`-th of the corpus): read, classify + hash,
tree-sitter parse, the rest of ``extract`` (queries, chunking), msgpack
round trip of the outcome, and ``Store.apply_batch`` in batches of 256.

    .venv/bin/python perf/bench_index.py [--corpus-files N] [--skip-corpus]
        [--repeat N] [--json] [--no-breakdown]

Targets (issue): 100k files cold < 240 s; axd cold <= 1.5x the parse floor;
peak RSS <= 300 MB (seed bound 500 MB); warm restart of 100k <= 10 s. The
script reports what it measures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Self

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PYTHON = sys.executable
TOUCH_NAME = "axd_bench_touch.py"
MAX_FILE_BYTES = 2 * 1024 * 1024  # axd's default [index] max_file_bytes
WAIT_SLICE_S = 60.0


# -- trees ------------------------------------------------------------------------------


def stdlib_tree(dest: Path) -> Path:
    """A private copy of the stdlib (no site-packages, no __pycache__)."""
    src = Path(sysconfig.get_paths()["stdlib"]).resolve()
    marker = dest / ".complete"
    if marker.is_file() and marker.read_text() == str(src):
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    for current, dirs, files in os.walk(src):
        if current == str(src):
            dirs[:] = [d for d in dirs if d not in ("site-packages", "dist-packages")]
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        target = dest / os.path.relpath(current, src)
        target.mkdir(parents=True, exist_ok=True)
        for name in files:
            path = os.path.join(current, name)
            if os.path.isfile(path) and not os.path.islink(path):
                shutil.copyfile(path, target / name)
    marker.write_text(str(src))
    return dest


def write_touch_file(root: Path) -> Path:
    """A file of its own (no hard link), so appending to it changes nothing else."""
    path = root / TOUCH_NAME
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    path.write_text('"""axd bench_index: stage (e) appends to this file."""\n')
    return path


def tree_size(root: Path) -> tuple[int, int]:
    files = size = 0
    for current, _dirs, names in os.walk(root):
        for name in names:
            with contextlib.suppress(OSError):
                size += os.stat(os.path.join(current, name)).st_size
                files += 1
    return files, size


# -- child processes with rusage ----------------------------------------------------------


def run_timed(argv: list[str], **kwargs: Any) -> tuple[float, int, bytes, int]:
    """(wall s, max RSS bytes of the child, stdout, returncode)."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, **kwargs)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss * 1024, out, proc.returncode


def floor_child(root: str) -> None:
    """(a), in a fresh process: read + parse every file, print JSON."""
    from tree_sitter_language_pack import get_parser

    from axd.daemon.index.languages import detect_language

    parsers: dict[str, Any] = {}
    files = parsed_bytes = 0
    started = time.perf_counter()
    for current, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(current, name)
            language = detect_language(name, b"")
            if language is None and "." in name.lstrip("."):
                continue
            try:
                with open(path, "rb") as handle:
                    data = handle.read()
            except OSError:
                continue
            if len(data) > MAX_FILE_BYTES:
                continue
            if language is None:
                language = detect_language(name, data[:256])
                if language is None:
                    continue
            parser = parsers.get(language, False)
            if parser is False:
                try:
                    parser = get_parser(language)  # type: ignore[arg-type]
                except Exception:  # noqa: BLE001 - a language without a grammar
                    parser = None
                parsers[language] = parser
            if parser is None:
                continue
            parser.parse(data)
            files += 1
            parsed_bytes += len(data)
    elapsed = time.perf_counter() - started
    print(json.dumps({"files": files, "bytes": parsed_bytes, "s": elapsed}))


def parse_floor(root: Path) -> dict[str, float]:
    wall, rss, out, rc = run_timed([PYTHON, __file__, "--_floor", str(root)], cwd=REPO)
    if rc != 0:
        raise RuntimeError(f"floor child failed ({rc})")
    data = json.loads(out)
    return {
        "s": data["s"],
        "wall_s": wall,
        "files": data["files"],
        "bytes": data["bytes"],
        "rss": rss,
    }


def run_ctags(root: Path) -> dict[str, float]:
    wall, rss, _, rc = run_timed(
        ["ctags", "-R", "-f", "/dev/null", str(root)], stderr=subprocess.DEVNULL
    )
    return {"s": wall, "rss": rss, "rc": rc}


def ctags_version() -> str:
    try:
        out = subprocess.run(
            ["ctags", "--version"], capture_output=True, text=True, check=False
        ).stdout
    except OSError:
        return "ctags not found"
    return out.splitlines()[0].split(", Copyright")[0] if out else "?"


# -- RSS of a process tree ------------------------------------------------------------------


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def process_tree(pid: int) -> list[int]:
    kids = _children_map()
    out, stack = [], [pid]
    while stack:
        current = stack.pop()
        out.append(current)
        stack += kids.get(current, [])
    return out


def _status_kb(pid: int, key: bytes) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as handle:
            for line in handle:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
            for line in handle:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssSampler:
    """Peak summed VmRSS (every 100 ms) and PSS (every 500 ms) of a tree."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_rss = 0
        self.peak_pss = 0
        self.peak_detail: dict[str, int] = {}
        self.processes_seen: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        tick = 0
        while not self._stop.is_set():
            pids = process_tree(self.pid)
            self.processes_seen.update(pids)
            sizes = {pid: _status_kb(pid, b"VmRSS:") * 1024 for pid in pids}
            total = sum(sizes.values())
            if total > self.peak_rss:
                self.peak_rss = total
                self.peak_detail = {
                    "daemon": sizes.get(self.pid, 0),
                    "children": total - sizes.get(self.pid, 0),
                    "processes": len(pids),
                }
            if tick % 5 == 0:
                pss = sum(_pss_kb(pid) for pid in pids) * 1024
                self.peak_pss = max(self.peak_pss, pss)
            tick += 1
            self._stop.wait(0.1)


# -- the daemon ---------------------------------------------------------------------------


class Daemon:
    """One `python -m axd.daemon` process on a private socket and state dir."""

    def __init__(self, workdir: Path, state: Path) -> None:
        self.workdir = workdir
        self.socket = workdir / "axd.sock"
        self.state = state
        self.config = workdir / "config.toml"
        self.config.write_text("")  # defaults; no user config leaks in
        self.log_path = workdir / "daemon.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self) -> None:
        env = dict(os.environ)
        for key in list(env):
            if key.startswith("AXD_"):
                del env[key]
        env["AXD_LOG_FORMAT"] = "json"
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "axd.daemon", "--socket", str(self.socket),
             "--state-dir", str(self.state), "--config", str(self.config),
             "--metrics-addr", "127.0.0.1:0"],
            stdout=subprocess.DEVNULL, stderr=log, cwd=REPO, env=env,
        )  # fmt: skip
        log.close()

    def connect(self, timeout: float = 60.0) -> Any:
        from axd.client.connection import Client, DaemonUnavailableError

        deadline = time.monotonic() + timeout
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited: see {self.log_path}")
            try:
                client = Client.connect(self.socket, timeout=WAIT_SLICE_S + 30)
                client.call_raw("server.info")
                return client
            except (DaemonUnavailableError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def logs(self) -> list[dict[str, Any]]:
        out = []
        with self.log_path.open("rb") as handle:
            handle.seek(self.log_offset)
            for line in handle:
                with contextlib.suppress(ValueError):
                    out.append(json.loads(line))
        return out

    def metrics(self) -> str:
        url = next(
            (e["url"] for e in self.logs() if e.get("event") == "metrics_listening"),
            None,
        )
        if url is None:
            return ""
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode()

    def stop(self, client: Any) -> None:
        assert self.proc is not None
        family = process_tree(self.proc.pid)
        with contextlib.suppress(Exception):
            client.call_raw("server.shutdown")
        client.close()
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        # The forkserver and workers must be gone before the next start.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(
            os.path.exists(f"/proc/{pid}") for pid in family
        ):
            time.sleep(0.05)


def wait_ready(client: Any, root: str, generation: int | None = None) -> dict:
    """index.wait in slices until the workspace is ready (and `generation`)."""
    from axd.client.connection import RemoteError

    params: dict[str, Any] = {"root": root, "timeout_s": WAIT_SLICE_S}
    if generation is not None:
        params["generation"] = generation
    while True:
        try:
            status = json.loads(client.call_raw("index.wait", params))
        except RemoteError as exc:
            if exc.code == -32008:  # timeout: keep waiting
                continue
            raise
        if status["state"] in ("ready", "error") and status["queue_depth"] == 0:
            return status


def metric_sum(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            head = line.split()[0]
            if head == name or head.startswith(name + "{"):
                total += float(line.split()[-1])
    return total


def log_event(logs: list[dict[str, Any]], event: str) -> dict[str, Any]:
    found = [e for e in logs if e.get("event") == event]
    return found[-1] if found else {}


# -- one tree, all axd stages ----------------------------------------------------------------


@dataclass
class AxdResult:
    cold_s: float = 0.0
    cold_files: int = 0
    cold_skipped: dict[str, int] = field(default_factory=dict)
    generation: int = 0
    peak_rss: int = 0
    peak_pss: int = 0
    peak_detail: dict[str, int] = field(default_factory=dict)
    crawl_ms: float = 0.0
    write_s: float = 0.0
    batches: int = 0
    files_indexed_metric: float = 0.0
    db_bytes: int = 0
    startup_s: float = 0.0
    warm_s: list[float] = field(default_factory=list)
    warm_after_connect_s: list[float] = field(default_factory=list)
    warm_reparsed: list[int] = field(default_factory=list)
    warm_indexed_metric: list[float] = field(default_factory=list)
    warm_crawl_ms: list[float] = field(default_factory=list)
    warm_peak_rss: int = 0
    touch_s: list[float] = field(default_factory=list)


def run_axd(root: Path, touch: Path, *, warm_repeat: int, touches: int) -> AxdResult:
    result = AxdResult()
    workdir = Path(tempfile.mkdtemp(prefix="axdbench-"))
    state = workdir / "state"
    daemon = Daemon(workdir, state)
    try:
        # (c) cold
        daemon.start()
        client = daemon.connect()
        result.startup_s = time.perf_counter() - daemon.started_at
        assert daemon.proc is not None
        with RssSampler(daemon.proc.pid) as sampler:
            started = time.perf_counter()
            client.call_raw("workspace.add", {"root": str(root)})
            status = wait_ready(client, str(root))
            result.cold_s = time.perf_counter() - started
        result.peak_rss, result.peak_pss = sampler.peak_rss, sampler.peak_pss
        result.peak_detail = sampler.peak_detail
        result.cold_files = status["files_indexed"]
        result.cold_skipped = status["files_skipped"]
        result.generation = status["generation"]
        logs = daemon.logs()
        result.crawl_ms = float(log_event(logs, "reconciled").get("ms", 0.0))
        metrics = daemon.metrics()
        result.write_s = metric_sum(metrics, "axd_index_batch_seconds_sum")
        result.batches = int(metric_sum(metrics, "axd_index_batch_seconds_count"))
        result.files_indexed_metric = metric_sum(metrics, "axd_files_indexed_total")
        daemon.stop(client)
        result.db_bytes = sum(p.stat().st_size for p in state.rglob("*") if p.is_file())

        # (d) warm restarts
        for restart in range(warm_repeat):
            daemon.start()
            assert daemon.proc is not None
            with RssSampler(daemon.proc.pid) as sampler:
                client = daemon.connect()
                connected = time.perf_counter()
                status = wait_ready(client, str(root))
                ready = time.perf_counter()
            result.warm_peak_rss = max(result.warm_peak_rss, sampler.peak_rss)
            result.warm_s.append(ready - daemon.started_at)
            result.warm_after_connect_s.append(ready - connected)
            logs = daemon.logs()
            reconciled = log_event(logs, "reconciled")
            result.warm_reparsed.append(int(reconciled.get("changed", -1)))
            result.warm_crawl_ms.append(float(reconciled.get("ms", 0.0)))
            result.warm_indexed_metric.append(
                metric_sum(daemon.metrics(), "axd_files_indexed_total")
            )
            if restart != warm_repeat - 1:
                daemon.stop(client)

        # (e) one file touched (the daemon of the last warm restart)
        generation = status["generation"]
        time.sleep(0.5)  # let the watcher settle after start
        for i in range(touches):
            with touch.open("a") as handle:
                started = time.perf_counter()
                handle.write(f"BENCH_TOUCH_{i} = {i}\n")
            status = wait_ready(client, str(root), generation + 1)
            result.touch_s.append(time.perf_counter() - started)
            generation = status["generation"]
            time.sleep(0.2)
        daemon.stop(client)
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                daemon.proc.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
    return result


# -- breakdown: the worker and writer work, serially, in one process ------------------------


def breakdown_child(root: str, every: int) -> None:
    """Per-stage seconds of axd's per-file work on every `every`-th file."""
    import msgspec
    from tree_sitter_language_pack import get_parser

    from axd.daemon.index.classify import classify, content_hash
    from axd.daemon.index.extract import extract
    from axd.daemon.index.languages import detect_language
    from axd.daemon.index.worker import WorkerSettings, WorkItem, process_file
    from axd.daemon.records import FileOutcome
    from axd.daemon.store.store import Store

    settings = WorkerSettings(
        root=root,
        max_file_bytes=MAX_FILE_BYTES,
        max_line_bytes=5000,
        max_chunk_bytes=4096,
        parse_timeout_ms=5000,
    )
    paths: list[str] = []
    for current, dirs, names in os.walk(root):
        dirs.sort()
        rel_dir = os.path.relpath(current, root)
        paths.extend(
            name if rel_dir == "." else f"{rel_dir}/{name}" for name in sorted(names)
        )
    paths = paths[::every]
    times = dict.fromkeys(
        ("read", "classify_hash", "parse", "extract_rest", "ipc", "process_file"),
        0.0,
    )
    parsers: dict[str, Any] = {}
    encoder = msgspec.msgpack.Encoder()
    decoder = msgspec.msgpack.Decoder(list[FileOutcome])
    parsed = 0
    parsed_bytes = 0
    for rel in paths:
        absolute = os.path.join(root, rel)
        language = detect_language(rel, b"")
        t0 = time.perf_counter()
        try:
            with open(absolute, "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        t1 = time.perf_counter()
        times["read"] += t1 - t0
        if language is None or len(data) > MAX_FILE_BYTES:
            continue
        verdict = classify(data, max_file_bytes=MAX_FILE_BYTES, max_line_bytes=5000)
        content_hash(data)
        t2 = time.perf_counter()
        times["classify_hash"] += t2 - t1
        if verdict is not None:
            continue
        parser = parsers.get(language, False)
        if parser is False:
            try:
                parser = get_parser(language)  # type: ignore[arg-type]
            except Exception:  # noqa: BLE001
                parser = None
            parsers[language] = parser
        if parser is None:
            continue
        t3 = time.perf_counter()
        parser.parse(data)
        t4 = time.perf_counter()
        times["parse"] += t4 - t3
        with contextlib.suppress(Exception):
            extract(data, language, max_chunk_bytes=4096, timeout_ms=5000)
        t5 = time.perf_counter()
        times["extract_rest"] += (t5 - t4) - (t4 - t3)  # extract parses again
        parsed += 1
        parsed_bytes += len(data)
    # The worker entry point as the pool runs it, plus the IPC encode/decode.
    t0 = time.perf_counter()
    outcomes = [process_file(settings, WorkItem(path=rel)) for rel in paths]
    t1 = time.perf_counter()
    times["process_file"] = t1 - t0
    for start in range(0, len(outcomes), 256):
        decoder.decode(encoder.encode(outcomes[start : start + 256]))
    times["ipc"] = time.perf_counter() - t1
    # The writer: apply_batch in batches of 256 into a fresh database.
    workdir = tempfile.mkdtemp(prefix="axdbench-db-")
    try:
        store = Store.open(Path(workdir) / "index.db", root=root)
        write_s = 0.0
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        for start in range(0, len(outcomes), 256):
            t0 = time.perf_counter()
            profiler.enable()
            store.apply_batch(outcomes[start : start + 256])
            profiler.disable()
            write_s += time.perf_counter() - t0
        store.close()
        stats = pstats.Stats(profiler)
        top = sorted(
            (
                (value[3], f"{func[0].rsplit('/', 1)[-1]}:{func[2]}")
                for func, value in stats.stats.items()  # type: ignore[attr-defined]
            ),
            reverse=True,
        )[:12]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    times["write"] = write_s
    print(
        json.dumps(
            {
                "files": len(paths),
                "parsed": parsed,
                "bytes": parsed_bytes,
                "s": times,
                "write_top_cumulative": [[round(s, 3), name] for s, name in top],
            }
        )
    )


def breakdown(root: Path, every: int) -> dict[str, Any]:
    wall, _, out, rc = run_timed(
        [PYTHON, __file__, "--_breakdown", str(root), str(every)], cwd=REPO
    )
    if rc != 0:
        raise RuntimeError(f"breakdown child failed ({rc})")
    data = json.loads(out)
    data["wall_s"] = wall
    data["every"] = every
    return data


# -- reporting ------------------------------------------------------------------------------


def machine_line() -> str:
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python"
        f" {platform.python_version()}, {ctags_version()}"
    )


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def mb(n: float) -> str:
    return f"{n / 1e6:.0f} MB"


def tree_report(name: str, data: dict[str, Any]) -> list[str]:
    floor_s = med([f["s"] for f in data["floor"]])
    ctags_s = med([c["s"] for c in data["ctags"]])
    axd: list[dict[str, Any]] = data["axd"]
    cold = med([a["cold_s"] for a in axd])
    files, size = data["files"], data["bytes"]
    rss = max(a["peak_rss"] for a in axd)
    pss = max(a["peak_pss"] for a in axd)
    warm = med([w for a in axd for w in a["warm_s"]])
    warm_c = med([w for a in axd for w in a["warm_after_connect_s"]])
    reparsed = [r for a in axd for r in a["warm_reparsed"]]
    reindexed = [int(r) for a in axd for r in a["warm_indexed_metric"]]
    touch = med([t for a in axd for t in a["touch_s"]])
    floor_files = data["floor"][0]["files"]
    n = len(axd)
    lines = [
        f"### {name}: {files} files, {mb(size)} ({floor_files} parsed by the floor)",
        "",
        "| stage | median | runs | notes |",
        "|---|---:|---:|---|",
        (
            f"| (a) parse floor, 1 process | {floor_s:.2f} s | {len(data['floor'])} |"
            f" {floor_files / floor_s:.0f} files/s, {size / 1e6 / floor_s:.1f} MB/s,"
            f" max RSS {mb(data['floor'][0]['rss'])} |"
        ),
        (
            f"| (b) ctags -R | {ctags_s:.2f} s | {len(data['ctags'])} |"
            f" max RSS {mb(data['ctags'][0]['rss'])} |"
        ),
        (
            f"| (c) axd cold index | {cold:.2f} s | {n} |"
            f" {files / cold:.0f} files/s, {size / 1e6 / cold:.1f} MB/s; peak RSS"
            f" {mb(rss)} (PSS {mb(pss)}; at the peak daemon"
            f" {mb(axd[0]['peak_detail'].get('daemon', 0))}, others"
            f" {mb(axd[0]['peak_detail'].get('children', 0))} in"
            f" {axd[0]['peak_detail'].get('processes', 0)} processes); crawl {axd[0]['crawl_ms'] / 1000:.2f} s,"
            f" writer {axd[0]['write_s']:.1f} s in {axd[0]['batches']} batches;"
            f" {axd[0]['cold_files']} indexed, skipped {axd[0]['cold_skipped']};"
            f" db {mb(axd[0]['db_bytes'])} |"
        ),
        (
            f"| (d) warm restart | {warm:.2f} s | {sum(len(a['warm_s']) for a in axd)} |"
            f" {warm_c:.2f} s after connect; stat-changed {reparsed}, re-indexed {reindexed};"
            f" stat pass {med([w for a in axd for w in a['warm_crawl_ms']]) / 1000:.2f} s |"
        ),
        (
            f"| (e) touch one file | {touch * 1000:.0f} ms |"
            f" {sum(len(a['touch_s']) for a in axd)} | write -> index.wait(g+1) |"
        ),
        "",
        (
            f"Ratios: axd cold / floor = **{cold / floor_s:.2f}x**,"
            f" axd cold / ctags = **{cold / ctags_s:.2f}x**,"
            f" floor / ctags = {floor_s / ctags_s:.2f}x."
        ),
        "",
    ]
    bd = data.get("breakdown")
    if bd:
        s = bd["s"]
        total = s["read"] + s["classify_hash"] + s["parse"] + s["extract_rest"]
        total += s["ipc"] + s["write"]
        share = " / ".join(
            f"{k} {v:.2f} s ({100 * v / total:.0f}%)"
            for k, v in s.items()
            if k != "process_file"
        )
        lines += [
            (
                f"Serial breakdown ({bd['files']} files, every {bd['every']}th):"
                f" {share}; process_file end to end {s['process_file']:.2f} s."
            ),
            "Writer top cumulative (cProfile): "
            + ", ".join(f"{name} {sec}s" for sec, name in bd["write_top_cumulative"]),
            "",
        ]
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--_floor":
        floor_child(argv[1])
        return 0
    if argv and argv[0] == "--_breakdown":
        breakdown_child(argv[1], int(argv[2]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus-files", type=int, default=100_000)
    parser.add_argument("--skip-corpus", action="store_true")
    parser.add_argument("--json", action="store_true", help="JSON instead of tables")
    parser.add_argument("--repeat", type=int, default=3, help="stdlib runs (corpus: 1)")
    parser.add_argument("--warm-repeat", type=int, default=3)
    parser.add_argument("--touches", type=int, default=5)
    parser.add_argument("--sample", type=int, default=20, help="corpus breakdown")
    parser.add_argument("--no-breakdown", action="store_true")
    parser.add_argument("--save", type=Path, help="also write the JSON report here")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(HERE))
    from corpus import build_corpus

    trees: list[tuple[str, Path, int, int]] = []
    started = time.perf_counter()
    stdlib = stdlib_tree(REPO / "perf" / "out" / "bench_index" / "stdlib")
    trees.append(("stdlib", stdlib, args.repeat, 1))
    if not args.skip_corpus:
        info = build_corpus(HERE / "corpus", args.corpus_files)
        trees.append((f"corpus-{args.corpus_files}", info.root, 1, args.sample))
    setup_s = time.perf_counter() - started
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine_line(),
        "setup_s": setup_s,
        "trees": {},
    }
    for name, root, repeat, every in trees:
        touch = write_touch_file(root)
        files, size = tree_size(root)
        data: dict[str, Any] = {
            "root": str(root),
            "files": files,
            "bytes": size,
            "floor": [],
            "ctags": [],
            "axd": [],
            "load": [],
            "stage_s": {},
        }
        for _ in range(repeat):
            for stage, fn in (
                ("floor", lambda root=root: parse_floor(root)),
                ("ctags", lambda root=root: run_ctags(root)),
                (
                    "axd",
                    lambda root=root, touch=touch: asdict(
                        run_axd(
                            root,
                            touch,
                            warm_repeat=args.warm_repeat,
                            touches=args.touches,
                        )
                    ),
                ),
            ):
                data["load"].append(f"{stage} before: {loadavg()}")
                t0 = time.perf_counter()
                data[stage].append(fn())
                data["stage_s"][stage] = data["stage_s"].get(stage, 0.0) + (
                    time.perf_counter() - t0
                )
                print(
                    f"[{name}] {stage}: {time.perf_counter() - t0:.1f} s"
                    f" (load {loadavg()})",
                    file=sys.stderr,
                    flush=True,
                )
        if not args.no_breakdown:
            t0 = time.perf_counter()
            data["breakdown"] = breakdown(root, every)
            data["stage_s"]["breakdown"] = time.perf_counter() - t0
        data["load"].append(f"end: {loadavg()}")
        report["trees"][name] = data
    report["total_s"] = time.perf_counter() - started
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text(json.dumps(report, indent=2, default=str))
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    lines = [f"Date {report['date']}. Machine: {report['machine']}.", ""]
    for name, data in report["trees"].items():
        lines += tree_report(name, data)
        lines.append(
            "Stage run times: "
            + ", ".join(f"{k} {v:.0f} s" for k, v in data["stage_s"].items())
            + f". Load: {'; '.join(data['load'])}."
        )
        lines.append("")
    lines.append(
        f"Setup (trees) {report['setup_s']:.0f} s; total {report['total_s']:.0f} s."
    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
