"""What a handler imports to speak HTTP: `Response` sets the status and headers of its answer;
`Context` is what `handle(request, context)` receives as its second parameter.

The zygote imports this package before it confines itself, so `import pyhost` works in every
worker although the sandbox does not show the checkout.
"""

import json
import re
import time

__all__ = ["Context", "InvalidResponse", "Response"]

# Headers that describe the connection rather than the answer (RFC 9110 §7.6.1), and those the
# server writes itself. The server refuses them too.
FORBIDDEN_HEADERS = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te",
    "trailer", "transfer-encoding", "upgrade", "content-length", "pyhost-worker", "pyhost-invocation-id",
})
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Visible ASCII, space, tab and non-ASCII text, but no C0 / C1 controls or lone surrogates.
_VALUE = re.compile("[\t\x20-\x7e\xa0-\ud7ff\ue000-\U0010ffff]*")


class InvalidResponse(ValueError):
    """A `Response` with a status outside 200–599 or a header HTTP cannot carry."""


class Response:
    """An answer with a chosen status and headers.

    `body` is encoded like any result (JSON, or CSV / NDJSON when the caller asks for them), or
    sent as it is when it is `bytes` or `str` and `headers` has a Content-Type.
    - Raises: `InvalidResponse` for a status outside 200–599, a hop-by-hop or server header, a
      name that is not an HTTP token, or a value with CR, LF or another control character.
    """

    __slots__ = ("body", "status", "headers")

    def __init__(self, body=None, status=200, headers=None):
        if type(status) is not int or not 200 <= status <= 599:
            raise InvalidResponse(f"status must be an int from 200 to 599, not {status!r}")
        self.body = body
        self.status = status
        self.headers = [_checked_header(name, value) for name, value in (headers or {}).items()]

    def content_type(self):
        """The Content-Type header's value, or None."""
        for name, value in self.headers:
            if name.lower() == "content-type":
                return value
        return None

    def __repr__(self):
        return f"Response(status={self.status}, headers={self.headers!r})"


def _checked_header(name, value):
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):
        raise InvalidResponse(f"header name {name!r} is not an HTTP token")
    if name.lower() in FORBIDDEN_HEADERS:
        raise InvalidResponse(f"header {name!r} is set by the server, not by a handler")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _VALUE.fullmatch(value):
        raise InvalidResponse(f"header {name!r}: the value must be a str without CR, LF or other control characters, not {value!r}")
    return name, value


class Context:
    """What a call knows besides its body: request headers (lower-case names), query parameters
    (str → str, the last of a repeated one), the invocation id (the Pyhost-Invocation-Id response
    header), the function's name and version, and the time left before the deadline."""

    __slots__ = ("invocation_id", "function", "version", "_deadline", "_http", "_parsed")

    def __init__(self, invocation_id, function, version, deadline, http):
        self.invocation_id = invocation_id
        self.function = function
        self.version = version
        self._deadline = deadline
        # Headers and query stay one JSON line until a handler reads them.
        self._http = http
        self._parsed = None

    @property
    def headers(self):
        return self._fields()["headers"]

    @property
    def query(self):
        return self._fields()["query"]

    def remaining_seconds(self):
        """Seconds left before the server stops the call (time.monotonic() based)."""
        return max(0.0, self._deadline - time.monotonic())

    def _fields(self):
        if self._parsed is None:
            self._parsed = json.loads(self._http)
        return self._parsed

    def __repr__(self):
        return f"Context(invocation_id={self.invocation_id!r}, function={self.function!r}, version={self.version})"
