"""Failure isolation: one place that decides what a crash may take down.

A resident service must survive its own bugs: an exception in one
connection, one subscription or one background task ends that part only,
is logged once (with the part's identity) and counted, and everything else
carries on. Cancellation is never caught (it is how the daemon stops), nor
are `KeyboardInterrupt`/`SystemExit`.

`Fault` tags an exception with the stage it came from (`read`, `decode`,
`dispatch`, `write`, ...), so the one handler at the top of a connection can
log and count it by kind without guessing from the exception type.

Usage::

    tg.start_soon(supervised, "progress_loop", subscriptions.progress_loop)

    await supervised(
        "indexer", workspace.indexer.run,
        on_crash=lambda exc: workspace.indexer.fail(describe(exc)),
        root=workspace.root,
    )
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import structlog

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

log = structlog.get_logger()


class Fault(Exception):
    """An unexpected exception in one stage of serving a connection."""

    def __init__(
        self, kind: str, cause: BaseException, *, reply: bytes | None = None
    ) -> None:
        super().__init__(f"{kind}: {describe(cause)}")
        self.kind = kind
        self.cause = cause
        self.reply = reply  # the last answer the client should get, if any


def describe(exc: BaseException) -> str:
    """A one-line reason for logs and `last_error`: type and message."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    name = type(exc).__name__
    return f"{name}: {text[:200]}" if text else name


def unwrap(exc: BaseException) -> BaseException:
    """The first leaf of an exception group (task groups wrap what they raise)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def fault_kind(exc: BaseException, default: str = "internal") -> str:
    """The stage a (possibly grouped) exception came from."""
    leaf = unwrap(exc)
    return leaf.kind if isinstance(leaf, Fault) else default


def report_crash(what: str, exc: BaseException, **fields: Any) -> None:
    """Log one isolated crash (once, with its traceback and `fields`)."""
    leaf = unwrap(exc)
    cause = leaf.cause if isinstance(leaf, Fault) else leaf
    log.error(
        "crash_isolated",
        part=what,
        kind=fault_kind(exc),
        error=describe(cause),
        exc_info=cause,
        **fields,
    )


# Restarts of a crashing background loop back off up to this long.
MAX_BACKOFF_S = 30.0


async def supervised(
    what: str,
    run: Callable[[], Awaitable[object]],
    *,
    on_crash: Callable[[BaseException], None] | None = None,
    restart: bool = False,
    **fields: Any,
) -> bool:
    """Run `run()`; an exception is reported and swallowed (False returned).

    `on_crash(exc)` then records the failure where users can see it (a
    workspace's `last_error`, a subscription's end). `restart`: a background
    loop that must keep running is started again after a crash, with a
    back-off (1 s, doubling, at most `MAX_BACKOFF_S`), until cancelled.
    Cancellation always passes through.
    """
    backoff = 1.0
    while True:
        try:
            await run()
        except Exception as exc:  # noqa: BLE001 - the point: isolate, report, go on
            report_crash(what, exc, restart=restart, **fields)
            if on_crash is not None:
                try:
                    on_crash(exc)
                except Exception:
                    log.exception("crash_handler_failed", part=what, **fields)
            if not restart:
                return False
            await anyio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
            continue
        return True


class _Once:
    """Passes the first `started()` on to the real task status, ignores later
    ones (a restarted part reports started again; its starter already went on)."""

    def __init__(self, status: anyio.abc.TaskStatus[None]) -> None:
        self._status = status
        self.done = False

    def started(self, value: None = None) -> None:
        if not self.done:
            self.done = True
            self._status.started(value)


async def supervised_service(
    what: str,
    run: Callable[..., Awaitable[object]],
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """`tg.start(supervised_service, name, part.run)`: run a long-lived part
    that reports started (`run(task_status=...)`), restarting it after a crash.

    A crash before the part first reported started propagates: a daemon
    that cannot start its parts must fail its start, not retry forever.
    After that a crash is reported and the part restarted (with
    `supervised`'s back-off), so a bug in one part never ends the daemon.
    """
    once = _Once(task_status)
    backoff = 1.0
    while True:
        try:
            await run(task_status=once)
            return
        except Exception as exc:
            if not once.done:
                raise
            report_crash(what, exc, restart=True)
        await anyio.sleep(backoff)
        backoff = min(backoff * 2, MAX_BACKOFF_S)
