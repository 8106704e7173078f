"""systemd integration: socket activation and sd_notify, both optional.

Without `LISTEN_FDS`/`NOTIFY_SOCKET` in the environment both are no-ops, so
the daemon runs the same under launchd, a terminal or a test.
"""

from __future__ import annotations

import os
import socket

import structlog

log = structlog.get_logger()

SD_LISTEN_FDS_START = 3


def inherited_listener(env: dict[str, str] | None = None) -> socket.socket | None:
    """The listening Unix socket systemd passed us, if any (LISTEN_FDS=1)."""
    env = dict(os.environ) if env is None else env
    if env.get("LISTEN_PID") != str(os.getpid()):
        return None
    try:
        count = int(env.get("LISTEN_FDS", "0"))
    except ValueError:
        return None
    for key in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(key, None)  # not inherited by our worker processes
    if count < 1:
        return None
    if count > 1:
        log.warning(
            "socket_activation_extra_fds", count=count, using=SD_LISTEN_FDS_START
        )
    sock = socket.socket(fileno=SD_LISTEN_FDS_START)
    if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
        log.warning(
            "socket_activation_ignored", reason="fd 3 is not a Unix stream socket"
        )
        sock.detach()
        return None
    sock.setblocking(False)
    return sock


class Notifier:
    """sd_notify over the NOTIFY_SOCKET datagram socket (no-op without one)."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        env = dict(os.environ) if env is None else env
        address = env.get("NOTIFY_SOCKET", "")
        self._address: str | None = None
        if address:
            # An abstract socket is spelt with a leading "@".
            self._address = "\0" + address[1:] if address.startswith("@") else address
        self.watchdog_usec = 0
        if env.get("WATCHDOG_USEC", "").isdigit() and env.get(
            "WATCHDOG_PID", str(os.getpid())
        ) == str(os.getpid()):
            self.watchdog_usec = int(env["WATCHDOG_USEC"])

    @property
    def watchdog_interval_s(self) -> float | None:
        """How often to send WATCHDOG=1 (half the timeout), or None."""
        return self.watchdog_usec / 2_000_000 if self.watchdog_usec else None

    @property
    def enabled(self) -> bool:
        """Whether a supervisor listens."""
        return self._address is not None

    def notify(self, *lines: str) -> bool:
        """Send `READY=1`-style lines; False if nobody listens or it failed."""
        if self._address is None:
            return False
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        # Called from the event loop: a full receive queue must fail now
        # (and be logged) rather than stall every task.
        sock.setblocking(False)
        try:
            sock.connect(self._address)
            sock.send("\n".join(lines).encode())
        except OSError as exc:
            log.warning("sd_notify_failed", error=exc.strerror)
            return False
        finally:
            sock.close()
        return True
