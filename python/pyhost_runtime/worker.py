"""A worker's life: load one module, then answer invocations one at a time."""

import inspect
import json
import os
import time

import pandas

from pyhost import Context, Response

from . import channel as frames
from .capture import install as install_capture
from .codec import (
    RequestError, UnserializableResult, decode_csv, decode_ndjson, decode_request, encode_csv, encode_ndjson, encode_result,
)
from .loader import LoadError, describe_exception, filename_for, load


def serve(fd):
    """Serve the channel on `fd` until the server closes it. Returns the exit status."""
    # The environment of the server is not the handler's; clearenv() emptied the C side already.
    os.environ.clear()
    channel = frames.Channel(fd)
    message = channel.read()
    if message is not None and message[0] == frames.WARM:
        warm_up()
        channel.write(frames.READY, json.dumps({"pid": os.getpid()}).encode())
        message = channel.read()
    if message is None or message[0] != frames.LOAD:
        return 2
    header, _, source = message[1].decode("utf-8").partition("\n")
    settings = json.loads(header)
    name, max_response = settings["name"], settings["max_response_bytes"]
    capture = install_capture()
    try:
        handle = load(name, source)
    except LoadError as error:
        kind = frames.SYNTAX_ERROR if error.syntax else frames.LOAD_ERROR
        channel.write(kind, _error_body(error.body))
        return 0
    channel.write(frames.READY, json.dumps({"pid": os.getpid()}).encode())
    filename = filename_for(name)
    takes_context = _takes_context(handle)
    while True:
        message = channel.read()
        if message is None:
            return 0
        tag, payload = message[1][:frames.TAG_BYTES], message[1][frames.TAG_BYTES:]
        capture.start()
        try:
            kind, body = invoke(handle, payload, filename, max_response, takes_context)
        finally:
            logs = capture.stop()
        if logs:
            channel.write(frames.LOGS, logs.encode("utf-8", "backslashreplace"), tag)
        channel.write(kind, body, tag)


def warm_up():
    """One call's worth of work with pandas, so that a spare worker takes its copy-on-write page
    faults before it is given a function rather than during that function's first call."""
    import pandas

    handle = load("__warm_up__", "def handle(request):\n    return request\n")
    request = decode_request(b'{"orders": [{"region": "north", "amount": 1.5}, {"region": "south", "amount": 2}]}')
    frame = pandas.DataFrame(handle(request)["orders"])
    summary = frame.groupby("region")["amount"].agg(total="sum", average="mean", orders="count").reset_index()
    encode_result(summary)
    encode_result({"message": "warm"})


def invoke(handle, payload, filename, max_response=6 * 1024 * 1024, takes_context=False):
    """One invocation: (frame kind, response bytes).

    `payload` is the invoke frame: a JSON line of call metadata, a JSON line of request headers
    and query (parsed only when the handler reads them), then the body.
    """
    meta, _, rest = payload.partition(b"\n")
    http, _, body = rest.partition(b"\n")
    call = json.loads(meta)
    try:
        request = _decoders.get(_media_type(call["content_type"]), decode_request)(body)
    except RequestError as error:
        return frames.REQUEST_ERROR, _error_body({"type": error.kind, "message": str(error), **error.fields})
    try:
        if takes_context:
            context = Context(call["id"], call["function"], call["version"], time.monotonic() + call["timeout"], http)
            result = handle(request, context)
        else:
            result = handle(request)
        response = result if isinstance(result, Response) else None
        answer = _answer(response.body if response else result, response, call["accept"])
    except NotAcceptable as error:
        return frames.NOT_ACCEPTABLE, _error_body({"type": "NotAcceptable", "message": str(error)})
    except BaseException as error:  # noqa: B902 - sys.exit() and KeyboardInterrupt fail the call only
        return frames.HANDLER_ERROR, _error_body(describe_exception(error, filename))
    kind, encoded = answer
    if len(encoded) > max_response:
        return frames.HANDLER_ERROR, _error_body({
            "type": "ResponseTooLarge",
            "message": f"the result is {len(encoded)} bytes; the limit is {max_response} (--max-response-bytes)",
            "limit": max_response,
        })
    return kind, encoded


class NotAcceptable(Exception):
    """The caller's Accept header asks for a form this result has none of."""


_decoders = {"text/csv": decode_csv, "application/x-ndjson": decode_ndjson}


def _media_type(value):
    return value.partition(";")[0].strip().lower()


def _wanted_form(accept):
    """"json", "csv" or "ndjson": the first the Accept header prefers (by q, then order);
    JSON when it names none of them."""
    choices = []
    for position, part in enumerate(accept.split(",")):
        media, *parameters = part.split(";")
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        form = _forms.get(media.strip().lower())
        if form and quality > 0:
            choices.append((-quality, position, form))
    return min(choices)[2] if choices else "json"


_plain_accepts = frozenset({"", "*/*", "application/json"})
_forms = {
    "application/json": "json", "application/*": "json", "*/*": "json",
    "text/csv": "csv", "application/x-ndjson": "ndjson",
}


def _answer(body, response, accept):
    """(frame kind, bytes): a plain RESULT for JSON with status 200, a RESPONSE frame (a JSON line
    of status and headers, then the body) for anything else."""
    headers = response.headers if response else []
    status = response.status if response else 200
    content_type = response.content_type() if response else None
    if content_type is not None and isinstance(body, (bytes, bytearray, str)):
        data = body if not isinstance(body, str) else _utf8(body)
    else:
        form = "json" if accept in _plain_accepts else _wanted_form(accept)
        if form == "csv":
            if not isinstance(body, pandas.DataFrame):
                raise NotAcceptable(f"text/csv is the form of a DataFrame result; this result is a {type(body).__name__}")
            data, media = _utf8(encode_csv(body)), "text/csv; charset=utf-8"
        elif form == "ndjson":
            if not isinstance(body, (pandas.DataFrame, list, tuple)):
                raise NotAcceptable(f"application/x-ndjson is the form of a DataFrame or list result; this result is a {type(body).__name__}")
            data, media = encode_ndjson(body), "application/x-ndjson"
        else:
            data, media = encode_result(body), "application/json"
            if response is None:
                return frames.RESULT, data
        if content_type is None:
            headers = [*headers, ("Content-Type", media)]
    line = json.dumps({"status": status, "headers": headers}, separators=(",", ":")).encode()
    return frames.RESPONSE, line + b"\n" + bytes(data)


def _utf8(text):
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise UnserializableResult(f"the text has a lone surrogate at character {error.start}, which UTF-8 cannot hold") from None


def _takes_context(handle):
    """Whether `handle` takes a second positional parameter (the context)."""
    try:
        parameters = inspect.signature(handle).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in parameters)


def _error_body(fields):
    # Exactly `{"error": ` + the error object + `}`: the server splices the object into the
    # ?logs=true envelope without decoding it.
    return b'{"error": ' + json.dumps(fields, default=str).encode() + b"}"
