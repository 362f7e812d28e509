"""Loading a module's source: handles, syntax errors, import errors, and tracebacks."""

import pytest

from pyhost_runtime.loader import LoadError, load
from pyhost_runtime.worker import invoke
from pyhost_runtime import channel as frames


def frame(body):
    """An invoke frame's payload as the server writes it."""
    meta = b'{"id":"i1","function":"f","version":1,"timeout":30,"content_type":"application/json","accept":""}'
    return meta + b'\n{"headers":{},"query":{}}\n' + body


def test_load_returns_the_handle():
    handle = load("greet", "def handle(request):\n    return request['x'] * 2\n")
    assert handle({"x": 21}) == 42


def test_syntax_error_reports_line_and_offset():
    with pytest.raises(LoadError) as error:
        load("broken", "x = 1\ndef handle(r):\n    return 1 +\n")
    assert error.value.syntax
    assert error.value.body["type"] == "SyntaxError"
    assert error.value.body["line"] == 3
    assert error.value.body["offset"] == 15


def test_import_time_exception_has_a_traceback_in_the_users_module():
    with pytest.raises(LoadError) as error:
        load("boom", "def helper():\n    raise ValueError('no')\nhelper()\n")
    body = error.value.body
    assert not error.value.syntax
    assert (body["type"], body["message"]) == ("ValueError", "no")
    assert body["traceback"] == [
        '  File "boom.py", line 3, in <module>', "    helper()",
        '  File "boom.py", line 2, in helper', "    raise ValueError('no')",
    ]


@pytest.mark.parametrize("source", ["x = 1\n", "handle = 3\n"])
def test_a_module_without_a_callable_handle_is_refused(source):
    with pytest.raises(LoadError) as error:
        load("nohandle", source)
    assert error.value.body["type"] == "MissingHandler"


def test_invoke_reports_a_handler_exception_with_only_the_users_frames():
    handle = load("div", "def handle(request):\n    return 1 / request\n")
    kind, body = invoke(handle, frame(b"0"), "div.py")
    assert kind == frames.HANDLER_ERROR
    assert b'"type": "ZeroDivisionError"' in body
    assert b"div.py" in body and b"worker.py" not in body


@pytest.mark.parametrize("source, error_type", [
    ("import sys\ndef handle(r):\n    sys.exit(3)\n", "SystemExit"),
    ("def handle(r):\n    raise KeyboardInterrupt\n", "KeyboardInterrupt"),
    ("def handle(r):\n    return handle(r)\n", "RecursionError"),
])
def test_exits_and_interrupts_in_handle_fail_only_the_call(source, error_type):
    handle = load("rude", source)
    kind, body = invoke(handle, frame(b"{}"), "rude.py")
    assert kind == frames.HANDLER_ERROR
    assert f'"type": "{error_type}"'.encode() in body


def test_invoke_returns_encoded_results_and_request_errors():
    handle = load("echo", "def handle(request):\n    return request\n")
    assert invoke(handle, frame(b'{"a": [1, 2]}'), "echo.py") == (frames.RESULT, b'{"a":[1,2]}')
    kind, body = invoke(handle, frame(b"{"), "echo.py")
    assert kind == frames.REQUEST_ERROR and b"InvalidJSON" in body
