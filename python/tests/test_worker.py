"""One invocation in the worker: the context, pyhost.Response, and the form Accept chooses."""

import json

import pytest

import pyhost
from pyhost_runtime import channel as frames
from pyhost_runtime.loader import load
from pyhost_runtime.worker import _takes_context, _wanted_form, invoke


def frame(body, content_type="application/json", accept="", headers=None, query=None):
    meta = {"id": "i1", "function": "f", "version": 2, "timeout": 30, "content_type": content_type, "accept": accept}
    http = {"headers": headers or {}, "query": query or {}}
    return json.dumps(meta).encode() + b"\n" + json.dumps(http).encode() + b"\n" + body


@pytest.mark.parametrize("accept, form", [
    ("", "json"), ("*/*", "json"), ("text/csv", "csv"), ("text/html, text/csv;q=0.5", "csv"),
    ("text/csv;q=0.1, application/json", "json"), ("application/x-ndjson", "ndjson"), ("text/csv;q=0", "json"),
    ("text/html", "json"),
])
def test_accept_chooses_the_form(accept, form):
    assert _wanted_form(accept) == form


@pytest.mark.parametrize("source, takes", [
    ("def handle(request): pass", False), ("def handle(request, context): pass", True),
    ("def handle(request, context=None): pass", True), ("def handle(*args): pass", True),
])
def test_a_second_positional_parameter_receives_the_context(source, takes):
    assert _takes_context(load("sig", source)) is takes


def test_the_context_reads_headers_and_query_only_when_asked():
    handle = load("ctx", "def handle(request, context):\n    return [context.invocation_id, context.version, context.query, context.headers]\n")
    kind, body = invoke(handle, frame(b"{}", headers={"x-a": "1"}, query={"q": "v"}), "ctx.py", takes_context=True)
    assert (kind, json.loads(body)) == (frames.RESULT, ["i1", 2, {"q": "v"}, {"x-a": "1"}])


def test_a_response_frame_is_a_status_line_then_the_body():
    handle = load("resp", "import pyhost\ndef handle(request):\n    return pyhost.Response({'a': 1}, status=202, headers={'X-B': 'c'})\n")
    kind, body = invoke(handle, frame(b"{}"), "resp.py")
    assert kind == frames.RESPONSE
    assert body == b'{"status":202,"headers":[["X-B","c"],["Content-Type","application/json"]]}\n{"a":1}'


@pytest.mark.parametrize("arguments", [
    {"status": 199}, {"status": 600}, {"status": True}, {"headers": {"Connection": "close"}},
    {"headers": {"X-A": "a\nb"}}, {"headers": {"Bad Name": "v"}}, {"headers": {"X-A": None}},
])
def test_an_invalid_response_raises_invalid_response(arguments):
    with pytest.raises(pyhost.InvalidResponse):
        pyhost.Response({}, **arguments)
