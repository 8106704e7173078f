"""Running out of inotify watches, for real.

A daemon subprocess runs in a new user namespace whose
`user.max_inotify_watches` is lowered (tests/inotify_agent.py), so watches
genuinely run out while the machine's own limit is left alone. Checked:

* a workspace that does not fit is predicted and polled from the start,
  with a reason naming `fs.inotify.max_user_watches`, its value and how to
  raise it, while the other workspace keeps native watching; both follow
  edits;
* when another program takes the remaining watches later, notify drops the
  watch of a new directory silently; the watcher notices (a probe), falls
  back to polling with the reason, reconciles, and keeps following files,
  and the other workspace stays native.
"""

from __future__ import annotations

import errno
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import pytest
from support import call, environment_for, with_config

from axd.client.aio import AsyncClient
from axd.daemon.index import inotify
from axd.daemon.index.notifyproc import count_dirs, count_dirs_elsewhere

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from axd.daemon.config import Config

GUARD_S = 60  # hang guard for each wait
AGENT = Path(__file__).with_name("inotify_agent.py")


def _namespace_limits_work() -> str | None:
    """Why this machine cannot run these tests, or None."""
    if not sys.platform.startswith("linux"):
        return "inotify is Linux-only"
    if shutil.which("unshare") is None:
        return "no unshare(1)"
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "sh", "-c",
         "echo 7 > /proc/sys/user/max_inotify_watches"],
        capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    if probe.returncode != 0:
        return (
            "cannot lower inotify limits in a user namespace (needs Linux >= "
            f"5.11 and unprivileged user namespaces): {probe.stderr.strip()}"
        )
    return None


SKIP = _namespace_limits_work() if sys.platform.startswith("linux") else "not Linux"
namespaced = pytest.mark.skipif(SKIP is not None, reason=SKIP or "")


class Agent:
    """The namespace agent and the daemon it runs."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc

    async def ask(self, command: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        with anyio.fail_after(GUARD_S):
            return await anyio.to_thread.run_sync(self.proc.stdout.readline)


@pytest.fixture
async def limited(
    config: Config, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Agent, AsyncClient]]:
    """A daemon in a user namespace with `request.param` inotify watches."""
    cfg = with_config(config, state_dir=str(tmp_path / "state"))
    settings = tmp_path / "axd.toml"
    settings.write_text(
        "[watch]\ndebounce_ms = 20\nstep_ms = 20\npoll_interval_ms = 100\n"
        "[index]\nworkers = 1\n[log]\nlevel = 'info'\nformat = 'json'\n"
    )
    daemon = [sys.executable, "-m", "axd.daemon", "--config", str(settings)]
    log = (tmp_path / "daemon.log").open("wb")
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before any await
        ["unshare", "--user", "--map-root-user", sys.executable, str(AGENT),
         str(request.param), str(tmp_path / "scratch"), "--", *daemon],
        env=environment_for(cfg), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=log, text=True,
    )  # fmt: skip
    try:
        with anyio.fail_after(GUARD_S):
            while True:
                assert proc.poll() is None, (tmp_path / "daemon.log").read_text()
                try:
                    client = await AsyncClient.connect(Path(str(cfg.socket_path)))
                    break
                except Exception:  # noqa: BLE001 - not listening yet
                    await anyio.sleep(0.05)
        async with client:
            yield Agent(proc), client
    finally:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.close()  # the agent stops the daemon
        proc.stdout.close()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def make_tree(root: Path, dirs: int) -> None:
    for i in range(dirs):
        (root / "src" / f"d{i:03}").mkdir(parents=True)
    (root / "src" / "d000" / "first.py").write_text("def first_function(): pass\n")


async def add(client: AsyncClient, root: Path) -> None:
    await call(client, "workspace.add", root=str(root))
    await call(client, "index.wait", root=str(root), timeout_s=GUARD_S)


async def watcher_detail(client: AsyncClient, *wanted: str) -> str:
    """The health watcher check's detail, once it mentions all of `wanted`."""
    with anyio.fail_after(GUARD_S):
        while True:
            detail: str = (await call(client, "health"))["checks"]["watcher"]["detail"]
            if all(w in detail for w in wanted):
                return detail
            await anyio.sleep(0.05)


async def found(client: AsyncClient, root: Path, name: str) -> None:
    """Wait until `name` is defined in the index of `root`."""
    with anyio.fail_after(GUARD_S):
        while True:
            answer = await call(client, "symbols.definition", root=str(root), name=name)
            if answer["definitions"]:
                return
            await anyio.sleep(0.05)


@namespaced
@pytest.mark.slow
@pytest.mark.timeout(240)  # a hang guard; each wait has its own
@pytest.mark.parametrize("limited", [60], indirect=True)
async def test_a_workspace_too_big_for_the_limit_polls_from_the_start(
    limited: tuple[Agent, AsyncClient], tmp_path: Path
) -> None:
    _, client = limited
    small, big = tmp_path / "small", tmp_path / "big"
    make_tree(small, 3)  # 5 watches: root, src, 3 directories
    make_tree(big, 80)  # 82: more than the 60 the namespace allows
    await add(client, small)
    await add(client, big)
    detail = await watcher_detail(client, "1 native", "polling")
    assert "fs.inotify.max_user_watches = 60" in detail, detail
    assert "sudo sysctl fs.inotify.max_user_watches=" in detail, detail
    assert str(big.name) in detail and str(small.name) not in detail, detail
    # Both follow edits: one by polling, the other natively.
    (big / "src" / "d079" / "late.py").write_text("def late_in_big(): pass\n")
    (small / "src" / "d002" / "late.py").write_text("def late_in_small(): pass\n")
    await found(client, big, "late_in_big")
    await found(client, small, "late_in_small")
    status = await call(client, "index.status", root=str(small))
    assert status["state"] == "ready", status


@namespaced
@pytest.mark.slow
@pytest.mark.timeout(240)  # a hang guard; each wait has its own
@pytest.mark.parametrize("limited", [200], indirect=True)
async def test_watches_taken_by_another_program_switch_to_polling(
    limited: tuple[Agent, AsyncClient], tmp_path: Path
) -> None:
    agent, client = limited
    steady, growing = tmp_path / "steady", tmp_path / "growing"
    make_tree(steady, 3)
    make_tree(growing, 3)
    await add(client, steady)
    await add(client, growing)
    await watcher_detail(client, "2 native")
    # Another program of the same user takes every watch left.
    taken = await agent.ask("consume")
    assert taken.startswith("consumed "), taken
    # A new directory: notify cannot watch it and says nothing.
    fresh = growing / "src" / "d001" / "fresh"
    fresh.mkdir()
    (fresh / "inside.py").write_text("def made_in_fresh(): pass\n")
    detail = await watcher_detail(client, "1 native", "polling")
    assert "inotify watch limit reached" in detail, detail
    assert "fs.inotify.max_user_watches = 200" in detail, detail
    assert growing.name in detail and steady.name not in detail, detail
    # The reconciling pass found what was made in the unwatched directory,
    # and polling follows later edits there.
    await found(client, growing, "made_in_fresh")
    (fresh / "later.py").write_text("def later_in_fresh(): pass\n")
    await found(client, growing, "later_in_fresh")
    # The other workspace still follows edits.
    (steady / "src" / "d002" / "more.py").write_text("def steady_more(): pass\n")
    await found(client, steady, "steady_more")
    assert await agent.ask("release") == "released\n"


# -- the pieces, without a namespace -------------------------------------------------------


def test_limit_errors_are_told_apart() -> None:
    watch_limit = OSError(
        'OS file watch limit reached. about ["/x"] (Error { kind: MaxFilesWatch })'
    )
    assert inotify.is_limit_error(watch_limit) == inotify.WATCHES
    assert inotify.is_limit_error(OSError(errno.ENOSPC, "x")) == inotify.WATCHES
    instances = RuntimeError("Error creating recommended watcher: Too many open files")
    assert inotify.is_limit_error(instances) == inotify.INSTANCES
    assert inotify.is_limit_error(OSError(errno.EMFILE, "x")) == inotify.INSTANCES
    assert inotify.is_limit_error(OSError(errno.ENOENT, "gone")) is None
    assert inotify.is_limit_error(RuntimeError("other")) is None


def test_reasons_say_what_ran_out_and_how_to_raise_it() -> None:
    limits = inotify.Limits(watches=8192, instances=128)
    reason = inotify.limit_reason(inotify.WATCHES, limits, needed=9000)
    assert "9,000+ directories" in reason
    assert "fs.inotify.max_user_watches = 8,192" in reason
    assert "sudo sysctl fs.inotify.max_user_watches=524288" in reason
    reason = inotify.limit_reason(inotify.INSTANCES, limits)
    assert "fs.inotify.max_user_instances = 128" in reason
    assert "sysctl fs.inotify.max_user_instances=1024" in reason
    assert limits.reserve == 409
    assert inotify.Limits(watches=1_048_576, instances=None).reserve == 4096


def test_counting_directories_stops_early(tmp_path: Path) -> None:
    for i in range(10):
        (tmp_path / "a" / f"d{i}" / "e").mkdir(parents=True)
    (tmp_path / "a" / "link").symlink_to(tmp_path / "a")  # not followed
    assert count_dirs([tmp_path / "a"], stop_after=1000) == 21
    assert count_dirs([tmp_path / "a"], stop_after=5) == 6
    assert count_dirs([tmp_path / "missing"], stop_after=5) == 1
    # What the watcher runs: the same walk in a child process.
    assert count_dirs_elsewhere([tmp_path / "a"], stop_after=1000) == 21
    assert count_dirs_elsewhere([tmp_path / "a"], stop_after=5) == 6
    assert inotify.watch_available(tmp_path)


def test_a_plan_counts_each_top_once_and_holds_its_watches(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name / "x").mkdir(parents=True)
    tops = [tmp_path / "a", tmp_path / "b"]
    counted: dict[Path, int] = {}
    needed, reason = inotify.claim("w1", tmp_path, tops, counted)
    if inotify.limits().watches is None:
        pytest.skip("no inotify limits here")
    assert (needed, reason) == (5, None) and counted == {tops[0]: 2, tops[1]: 2}
    (tmp_path / "a" / "y").mkdir()  # a re-plan does not walk "a" again
    assert inotify.claim("w1", tmp_path, tops, counted) == (5, None)
    try:
        assert inotify.held() == 5
    finally:
        inotify.release("w1")
    assert inotify.held() == 0
