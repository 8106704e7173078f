"""Helpers of the flag and telemetry tests: daemons with a chosen
environment, and many evaluations over one connection."""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.streams.buffered
import structlog

from axd.client.aio import AsyncClient
from axd.daemon.lifecycle import Daemon

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from axd.daemon.config import Config


def isolated_env(config: Config, **extra: str) -> dict[str, str]:
    """An environment with the config dir inside the test's state dir and
    no DO_NOT_TRACK / AXD_FLAG_* / AXD_TELEMETRY from the caller's shell."""
    state = Path(str(config.state_dir))
    env = {
        "HOME": str(state / "home"),
        "XDG_CONFIG_HOME": str(state.parent / "xdg-config"),
        "PATH": "/usr/bin:/bin",
    }
    env.update(extra)
    return env


@contextlib.asynccontextmanager
async def running(
    config: Config,
    env: dict[str, str] | None = None,
    config_path: Path | None = None,
) -> AsyncIterator[tuple[Daemon, AsyncClient]]:
    """A real in-process daemon on a real socket, and a client of it."""
    # Warnings and errors only (thousands of requests would otherwise each
    # print a debug line); structlog.testing.capture_logs still works inside.
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        cache_logger_on_first_use=False,
    )
    daemon = Daemon(
        config,
        env=env if env is not None else isolated_env(config),
        config_path=config_path,
    )
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(daemon.run)
            try:
                async with await AsyncClient.connect(daemon.socket_path) as client:
                    yield daemon, client
            finally:
                daemon.request_stop()
    finally:
        structlog.reset_defaults()


async def call(client: AsyncClient, method: str, params: Any = None) -> Any:
    """A call; the decoded JSON result."""
    return json.loads(await client.call_raw(method, params))


async def evaluate_many(
    client: AsyncClient,
    flag: str,
    subjects: list[str],
    attributes: dict[str, Any] | None = None,
    batch: int = 200,
) -> dict[str, dict[str, Any]]:
    """`flags.evaluate` for every subject, sent as JSON-RPC batches on a
    connection of its own (one round trip per `batch` subjects: thousands of
    single calls take minutes on a loaded two-core machine)."""
    answers: dict[str, dict[str, Any]] = {}
    async with await anyio.connect_unix(str(client.path)) as stream:
        replies = anyio.streams.buffered.BufferedByteReceiveStream(stream)
        for start in range(0, len(subjects), batch):
            chunk = subjects[start : start + batch]
            requests = []
            for number, subject in enumerate(chunk):
                params: dict[str, Any] = {"flag": flag, "subject": subject}
                if attributes is not None:
                    params["attributes"] = attributes
                requests.append(
                    {
                        "jsonrpc": "2.0",
                        "id": number,
                        "method": "flags.evaluate",
                        "params": params,
                    }
                )
            await stream.send(json.dumps(requests).encode() + b"\n")
            line = await replies.receive_until(b"\n", 16 * 1024 * 1024)
            for reply in json.loads(line):
                assert "result" in reply, reply
                answers[chunk[reply["id"]]] = reply["result"]
    return answers


def subjects(count: int, prefix: str = "user") -> list[str]:
    """`count` distinct subject ids."""
    return [f"{prefix}-{i}" for i in range(count)]
