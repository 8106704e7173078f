"""Shared fixtures: a real daemon on a real socket with real SQLite files."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import coverage
import pytest
import structlog
from hypothesis import settings

from axd.client.aio import AsyncClient
from axd.daemon.config import Config, IndexConfig, LogConfig, MetricsConfig, WatchConfig
from axd.daemon.lifecycle import Daemon

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

# No per-example deadline: on a loaded two-core machine a slow example is the
# scheduler's doing, not a bug (hypothesis would report it as a failure).
settings.register_profile("axd", deadline=None)
settings.load_profile("axd")

# structlog's default console renderer formats tracebacks with rich, locals
# included: seconds per traceback on a loaded machine (test_full_disk once
# hit its 60 s timeout inside that renderer). In-process daemons log plain
# tracebacks in tests.
structlog.configure(
    processors=[
        *structlog.get_config()["processors"][:-1],
        structlog.dev.ConsoleRenderer(
            exception_formatter=structlog.dev.plain_traceback
        ),
    ]
)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In a pytest-xdist worker under `coverage run` (make unit), save the
    coverage data now. Coverage saves at exit, and the controller kills a
    worker still exiting after 10 s (execnet): on a slow host a worker's
    whole share of the data was lost that way (daemon coverage 92.9% ->
    86.1% in one CI run). What teardown adds is saved at exit as before."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    measuring = coverage.Coverage.current()
    if measuring is not None:
        measuring.save()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short private directory: AF_UNIX paths must stay under ~107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="axdt-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def config(tmp_path: Path, short_dir: Path) -> Config:
    """A daemon config isolated in tmp dirs, tuned for fast tests."""
    return Config(
        socket_path=str(short_dir / "axd.sock"),
        state_dir=str(tmp_path / "state"),
        metrics=MetricsConfig(addr="127.0.0.1:0"),
        log=LogConfig(level="warning", format="json"),
        index=IndexConfig(workers=2),
        watch=WatchConfig(debounce_ms=20, step_ms=20),
    )


@pytest.fixture
async def daemon(config: Config) -> AsyncIterator[Daemon]:
    """A running in-process daemon; stopped gracefully at teardown."""
    instance = Daemon(config)
    async with anyio.create_task_group() as tg:
        await tg.start(instance.run)
        yield instance
        instance.request_stop()
    assert not await anyio.Path(config.socket_path or "").exists(), "socket left behind"


@pytest.fixture
async def client(daemon: Daemon) -> AsyncIterator[AsyncClient]:
    """A connected client of the `daemon` fixture."""
    async with await AsyncClient.connect(daemon.socket_path) as connected:
        yield connected
