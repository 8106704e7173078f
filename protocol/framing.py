"""The two framings of PROTOCOL.md as pure, incremental byte codecs.

A connection's framing is chosen by its first non-whitespace byte: ``C`` or
``c`` selects LSP-style ``Content-Length`` headers, anything else NDJSON.
Decoders are fed whatever the socket returned and hand back complete frames;
they never hold more than ``max_message_bytes`` (+ one read) in memory:
an oversized message is reported once and its bytes are discarded as they
arrive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Framing = Literal["ndjson", "content-length"]

_WHITESPACE = b" \t\r\n"
# Headers are tiny in practice; a client that sends more is not speaking LSP.
MAX_HEADER_BYTES = 8192


@dataclass(frozen=True, slots=True)
class Message:
    """One complete message body (JSON text, not yet decoded)."""

    body: bytes


@dataclass(frozen=True, slots=True)
class Oversized:
    """A message larger than the limit; its bytes were (or will be) skipped."""

    size: int  # bytes seen so far (NDJSON) or announced (Content-Length)


@dataclass(frozen=True, slots=True)
class Broken:
    """The stream cannot be resynchronised (bad headers); close after answering."""

    reason: str


Frame = Message | Oversized | Broken


def detect_framing(data: bytes) -> Framing | None:
    """The framing a connection's first bytes select, or None if all blank."""
    stripped = data.lstrip(_WHITESPACE)
    if not stripped:
        return None
    return "content-length" if stripped[:1] in (b"C", b"c") else "ndjson"


def encode(framing: Framing, body: bytes) -> bytes:
    """Frame one JSON body for the wire."""
    if framing == "ndjson":
        return body + b"\n"
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


class NdjsonDecoder:
    """Splits a byte stream into lines; blank lines are skipped."""

    def __init__(self, max_message_bytes: int) -> None:
        self._max = max_message_bytes
        self._buffer = bytearray()
        self._discarding = 0  # >0: inside an oversized line, bytes dropped so far

    def feed(self, data: bytes) -> list[Frame]:
        """Frames completed by `data`, in order."""
        frames: list[Frame] = []
        start = 0
        while True:
            newline = data.find(b"\n", start)
            if newline < 0:
                self._keep(data, start, len(data), frames)
                return frames
            if self._discarding:
                self._discarding = 0
            elif len(self._buffer) + (newline - start) > self._max:
                frames.append(Oversized(len(self._buffer) + newline - start))
                self._buffer.clear()
            else:
                self._buffer += data[start:newline]
                line = bytes(self._buffer)
                self._buffer.clear()
                if line.strip(_WHITESPACE):
                    frames.append(Message(line))
            start = newline + 1

    def _keep(self, data: bytes, start: int, end: int, frames: list[Frame]) -> None:
        if self._discarding:
            self._discarding += end - start
            return
        if len(self._buffer) + (end - start) > self._max:
            # Tell the client now rather than after the whole line arrives.
            self._discarding = len(self._buffer) + end - start
            self._buffer.clear()
            frames.append(Oversized(self._discarding))
            return
        self._buffer += data[start:end]

    @property
    def buffered(self) -> int:
        """Bytes held waiting for the end of a line."""
        return len(self._buffer)


class ContentLengthDecoder:
    """LSP framing: ``Content-Length: N`` headers, a blank line, N bytes."""

    def __init__(self, max_message_bytes: int) -> None:
        self._max = max_message_bytes
        self._buffer = bytearray()
        self._need: int | None = None  # body bytes still expected
        self._skip = 0  # body bytes of an oversized message still to drop
        self._broken = False

    def feed(self, data: bytes) -> list[Frame]:
        """Frames completed by `data`, in order."""
        frames: list[Frame] = []
        if self._broken:
            return frames
        view = memoryview(data)
        while view:
            if self._skip:
                dropped = min(self._skip, len(view))
                self._skip -= dropped
                view = view[dropped:]
                continue
            if self._need is not None:
                take = min(self._need - len(self._buffer), len(view))
                self._buffer += view[:take]
                view = view[take:]
                if len(self._buffer) == self._need:
                    frames.append(Message(bytes(self._buffer)))
                    self._buffer.clear()
                    self._need = None
                continue
            self._buffer += view
            view = memoryview(b"")
            consumed, frame = self._parse_headers()
            if frame is not None:
                frames.append(frame)
                if isinstance(frame, Broken):
                    self._broken = True
                    return frames
            if consumed:
                # Headers consumed: the rest of the buffer is body bytes or
                # the next message, so run it through the loop again.
                view = memoryview(bytes(self._buffer))
                self._buffer.clear()
        return frames

    def _parse_headers(self) -> tuple[bool, Frame | None]:
        # Whitespace between messages is tolerated, as at the start.
        stripped = self._buffer.lstrip(_WHITESPACE)
        if len(stripped) != len(self._buffer):
            del self._buffer[: len(self._buffer) - len(stripped)]
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEADER_BYTES:
                return True, Broken("header section too long")
            return False, None
        head = bytes(self._buffer[:end])
        del self._buffer[: end + 4]
        length: int | None = None
        for line in head.split(b"\r\n"):
            name, sep, value = line.partition(b":")
            if not sep:
                return True, Broken(f"malformed header line {line[:60]!r}")
            if name.strip().lower() == b"content-length":
                text = value.strip()
                if not text.isdigit():
                    return True, Broken(f"invalid Content-Length {text[:30]!r}")
                length = int(text)
        if length is None:
            return True, Broken("no Content-Length header")
        if length > self._max:
            self._skip = length
            return True, Oversized(length)
        if length == 0:
            return True, Message(b"")
        self._need = length
        return True, None


Decoder = NdjsonDecoder | ContentLengthDecoder


def make_decoder(framing: Framing, max_message_bytes: int) -> Decoder:
    """A fresh decoder for a connection that chose `framing`."""
    if framing == "ndjson":
        return NdjsonDecoder(max_message_bytes)
    return ContentLengthDecoder(max_message_bytes)
