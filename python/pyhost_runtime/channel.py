"""Frames on a worker's channel: a 4-byte big-endian length, a kind byte, the payload.

The Swift side has the same layout in Sources/PyHostWire/Frame.swift.
"""

import os
import select
import struct

LOAD = 1
INVOKE = 2
WARM = 3
READY = 10
RESULT = 11
REQUEST_ERROR = 12
HANDLER_ERROR = 13
SYNTAX_ERROR = 14
LOAD_ERROR = 15
LOGS = 17
RESPONSE = 20
NOT_ACCEPTABLE = 21

_HEADER = struct.Struct(">IB")
# An invoke frame starts with the call's tag (its invocation id and a newline), and every logs and
# answer frame for it starts with the same bytes (Frame.callTagBytes in Sources/PyHostWire/Frame.swift).
TAG_BYTES = 17


class Channel:
    def __init__(self, fd):
        self.fd = fd
        self._buffer = bytearray()
        self._readable = select.poll()
        self._readable.register(fd, select.POLLIN)

    def read(self):
        """The next (kind, payload), or None when the server closed the channel."""
        header = self._read_exact(_HEADER.size)
        if header is None:
            return None
        length, kind = _HEADER.unpack(header)
        payload = self._read_exact(length)
        if payload is None:
            return None
        return kind, payload

    def write(self, kind, payload, tag=b""):
        data = memoryview(_HEADER.pack(len(tag) + len(payload), kind) + tag + payload)
        while data:
            written = os.write(self.fd, data)
            data = data[written:]

    def _read_exact(self, count):
        while len(self._buffer) < count:
            # A read blocked on the socket would also wake when the server takes this worker's
            # reply (a Unix socket wakes all its waiters as its sent bytes are read); poll waits
            # for bytes to read only, so a call costs the worker one wake-up, not two.
            self._readable.poll()
            chunk = os.read(self.fd, max(65536, count - len(self._buffer)))
            if not chunk:
                return None
            self._buffer += chunk
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data
