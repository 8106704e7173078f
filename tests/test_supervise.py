"""The isolation wrapper: a crash is reported once and goes no further."""

from __future__ import annotations

import anyio
import anyio.abc
import pytest
from structlog.testing import capture_logs

from axd.daemon.supervise import (
    Fault,
    describe,
    fault_kind,
    supervised,
    supervised_service,
)


async def test_a_crash_is_reported_and_contained() -> None:
    seen: list[BaseException] = []

    async def broken() -> None:
        raise KeyError("gone")

    with capture_logs() as logs:
        ok = await supervised("indexer", broken, on_crash=seen.append, root="/r")
    assert ok is False and isinstance(seen[0], KeyError)
    (entry,) = [e for e in logs if e["event"] == "crash_isolated"]
    assert entry["part"] == "indexer" and entry["root"] == "/r"
    assert entry["error"] == "KeyError: 'gone'"


async def test_a_failing_crash_handler_is_contained_too() -> None:
    async def broken() -> None:
        raise ValueError("first")

    def handler(exc: BaseException) -> None:
        raise RuntimeError("second")

    with capture_logs() as logs:
        assert await supervised("task", broken, on_crash=handler) is False
    assert {e["event"] for e in logs} == {"crash_isolated", "crash_handler_failed"}


async def test_a_loop_that_must_run_is_restarted() -> None:
    runs = 0
    done = anyio.Event()

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise OSError("transient")
        done.set()

    with capture_logs():
        assert await supervised("loop", flaky, restart=True) is True
    assert runs == 2 and done.is_set()


async def test_cancellation_is_never_swallowed() -> None:
    started = anyio.Event()

    async def forever() -> None:
        started.set()
        await anyio.sleep_forever()

    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(supervised, "loop", forever)
            await started.wait()
            scope.cancel()
    assert scope.cancelled_caught


def test_fault_kinds_survive_exception_groups() -> None:
    fault = Fault("decode", ValueError("bad"))
    assert fault_kind(ExceptionGroup("g", [fault])) == "decode"
    assert fault_kind(ValueError("x")) == "internal"
    assert describe(RuntimeError("line one\nline two")) == "RuntimeError: line one"
    with pytest.raises(Fault):
        raise fault


async def test_a_service_that_cannot_start_fails_its_start() -> None:
    async def unstartable(
        *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        raise OSError("address in use")

    async with anyio.create_task_group() as tg:
        with pytest.raises(OSError, match="address in use"):
            await tg.start(supervised_service, "ops", unstartable)


async def test_a_started_service_that_crashes_is_restarted() -> None:
    runs = 0
    second = anyio.Event()

    async def service(
        *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        nonlocal runs
        runs += 1
        task_status.started()  # reported twice; the starter hears it once
        if runs == 1:
            raise KeyError("bug after start")
        second.set()
        await anyio.sleep_forever()

    with capture_logs() as logs:
        async with anyio.create_task_group() as tg:
            await tg.start(supervised_service, "subscriptions", service)
            with anyio.fail_after(30):  # hang guard: the back-off is 1 s
                await second.wait()
            tg.cancel_scope.cancel()
    assert runs == 2
    (entry,) = [e for e in logs if e["event"] == "crash_isolated"]
    assert entry["part"] == "subscriptions" and entry["restart"] is True
