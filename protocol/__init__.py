"""axd.protocol: the wire contract (types, errors, framing). No I/O."""

from __future__ import annotations

__version__ = "0.1.0"
PROTOCOL_VERSION = 1
