"""A worker's life: load one module, then answer invocations one at a time."""

import json
import os
import sys

from . import channel as frames
from .capture import install as install_capture
from .codec import RequestError, decode_request, encode_result
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
    while True:
        message = channel.read()
        if message is None:
            return 0
        capture.start()
        try:
            kind, body = invoke(handle, message[1], filename, max_response)
        finally:
            logs = capture.stop()
        if logs:
            channel.write(frames.LOGS, logs.encode("utf-8", "replace"))
        channel.write(kind, body)


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


def invoke(handle, body, filename, max_response=6 * 1024 * 1024):
    """One invocation: (frame kind, response bytes)."""
    try:
        request = decode_request(body)
    except RequestError as error:
        return frames.REQUEST_ERROR, _error_body({"type": error.kind, "message": str(error)})
    try:
        result = handle(request)
        encoded = encode_result(result)
    except BaseException as error:  # noqa: B902 - sys.exit() and KeyboardInterrupt fail the call only
        return frames.HANDLER_ERROR, _error_body(describe_exception(error, filename))
    if len(encoded) > max_response:
        return frames.HANDLER_ERROR, _error_body({
            "type": "ResponseTooLarge",
            "message": f"the result is {len(encoded)} bytes of JSON; the limit is {max_response} (--max-response-bytes)",
            "limit": max_response,
        })
    return frames.RESULT, encoded


def _error_body(fields):
    return json.dumps({"error": fields}, default=str).encode()
