"""Frames on the unix socket between ``connect`` (client) and ``listen`` (server).

A frame is one type byte, a 4-byte big-endian length, then the payload::

    client -> server   H hello (JSON)   D terminal input   W window size (>HH rows, cols)
                       A attach an auxiliary window (JSON: {"token": ...})
    server -> client   D terminal output   X exit (JSON: {"status": n})
                       O open an auxiliary window (JSON: {"token": ...})

The first frame of a connection must be ``H`` or ``A``; anything else, an
unknown type or an oversized frame closes that connection (and only that one).
"""
from __future__ import annotations

import json
import struct
from typing import Any, Iterator

__all__ = ["encode", "FrameDecoder", "ProtocolError", "MAX_FRAME", "HELLO", "DATA", "WINDOW", "ATTACH",
           "EXIT", "OPEN_WINDOW", "encode_json", "encode_size", "decode_size"]

HELLO, DATA, WINDOW, ATTACH = b"H", b"D", b"W", b"A"
EXIT, OPEN_WINDOW = b"X", b"O"
CLIENT_TYPES = frozenset((HELLO, DATA, WINDOW, ATTACH))
SERVER_TYPES = frozenset((DATA, EXIT, OPEN_WINDOW))
#: Larger frames are refused (a client cannot make the server buffer without bound).
MAX_FRAME = 1 << 20
_HEADER = struct.Struct(">cI")


class ProtocolError(ValueError):
    """The peer sent something that is not a valid frame."""


def encode(kind: bytes, payload: bytes = b"") -> bytes:
    """One frame."""
    return _HEADER.pack(kind, len(payload)) + payload


def encode_json(kind: bytes, value: Any) -> bytes:
    return encode(kind, json.dumps(value).encode("utf-8"))


def encode_size(rows: int, cols: int) -> bytes:
    return encode(WINDOW, struct.pack(">HH", max(1, min(rows, 65535)), max(1, min(cols, 65535))))


def decode_size(payload: bytes) -> tuple[int, int]:
    if len(payload) != 4:
        raise ProtocolError("window size frame must be 4 bytes, got %d" % len(payload))
    rows, cols = struct.unpack(">HH", payload)
    return max(1, rows), max(1, cols)


def decode_json(payload: bytes) -> dict[str, Any]:
    try:
        value = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ProtocolError("bad JSON payload: %s" % e) from None
    if not isinstance(value, dict):
        raise ProtocolError("JSON payload must be an object")
    return value


class FrameDecoder:
    """Incremental decoder: feed bytes, iterate complete ``(type, payload)`` frames.

    :param allowed: the frame types this side accepts.
    """

    def __init__(self, allowed: frozenset[bytes] = CLIENT_TYPES) -> None:
        self.allowed = allowed
        self._buffer = bytearray()

    def feed(self, data: bytes) -> Iterator[tuple[bytes, bytes]]:
        self._buffer += data
        while len(self._buffer) >= _HEADER.size:
            kind, length = _HEADER.unpack_from(self._buffer)
            if kind not in self.allowed:
                raise ProtocolError("unknown frame type %r" % kind)
            if length > MAX_FRAME:
                raise ProtocolError("frame of %d bytes exceeds the limit of %d" % (length, MAX_FRAME))
            end = _HEADER.size + length
            if len(self._buffer) < end:
                return
            payload = bytes(self._buffer[_HEADER.size:end])
            del self._buffer[:end]
            yield kind, payload
