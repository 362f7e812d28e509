"""What a handler prints or logs, captured per invocation.

sys.stdout and sys.stderr are replaced once, before the module loads, by streams that write into
the current invocation's buffer (or through to the real stream between calls). A logging handler
configured at import time (`logging.basicConfig()`) binds to them too, and logging's last-resort
handler writes to the current sys.stderr, so `print`, `sys.stderr.write` and `logging` all land in
the invocation's logs.
"""

import io
import sys

# Frame.maximumLogBytes on the server, which ends a worker whose logs frame is larger.
MAX_LOG_BYTES = 64 * 1024


class Capture:
    def __init__(self):
        self.parts = None
        self.size = 0

    def start(self):
        self.parts = []
        self.size = 0

    def stop(self):
        """The text captured since `start`: at most MAX_LOG_BYTES of UTF-8, then a line saying how much was cut."""
        text = "".join(self.parts or [])
        self.parts = None
        data = text.encode("utf-8", "replace")
        if len(data) > MAX_LOG_BYTES:
            kept = data[:MAX_LOG_BYTES].decode("utf-8", "ignore")
            text = kept + f"\n… ({len(data) - len(kept.encode())} more bytes)\n"
        return text

    def write(self, text):
        if self.size < MAX_LOG_BYTES * 2:
            self.parts.append(text)
            self.size += len(text)


class CapturedStream(io.TextIOBase):
    def __init__(self, capture, real):
        self.capture = capture
        self.real = real

    def write(self, text):
        if self.capture.parts is None:
            return self.real.write(text)
        self.capture.write(text)
        return len(text)

    def flush(self):
        if self.capture.parts is None:
            self.real.flush()

    def writable(self):
        return True

    def isatty(self):
        return False


def install():
    """Replaces the standard streams; returns the capture to start and stop around each call."""
    capture = Capture()
    sys.stdout = CapturedStream(capture, sys.stdout)
    sys.stderr = CapturedStream(capture, sys.stderr)
    return capture
