"""Compile and import a function's module, and describe what went wrong when that fails."""

import linecache
import sys
import traceback
import types


# Error bodies stay far below the server's frame limit, however large the exception.
MAX_MESSAGE = 64 * 1024
MAX_FRAMES = 50


class LoadError(Exception):
    """The module does not compile, raises at import, or has no callable `handle`."""

    def __init__(self, syntax, body):
        super().__init__(body["message"])
        self.syntax = syntax
        self.body = body


def filename_for(name):
    return f"{name}.py"


def load(name, source):
    """Import `source` as the module `name` and return its `handle`."""
    filename = filename_for(name)
    # Tracebacks print the user's lines from here; there is no file on disk.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    try:
        code = compile(source, filename, "exec", dont_inherit=True)
    except SyntaxError as error:
        raise LoadError(True, {
            "type": "SyntaxError",
            "message": error.msg,
            "line": error.lineno,
            "offset": error.offset,
            "text": (error.text or "").rstrip("\n"),
        }) from None
    except ValueError as error:  # a NUL byte: compile() refuses the source before parsing it
        raise LoadError(True, {"type": "SyntaxError", "message": str(error), "line": None, "offset": None, "text": ""}) from None
    module = types.ModuleType(name)
    module.__file__ = filename
    sys.modules.setdefault(name, module)
    try:
        exec(code, module.__dict__)
    except BaseException as error:  # noqa: B902 - SystemExit at import is the module's error too
        raise LoadError(False, describe_exception(error, filename)) from None
    handle = module.__dict__.get("handle")
    if not callable(handle):
        found = "nothing" if handle is None else f"a {type(handle).__name__}"
        raise LoadError(False, {
            "type": "MissingHandler",
            "message": f"the module must define a callable handle(request); {filename} defines {found} by that name",
            "traceback": [],
        })
    return handle


def describe_exception(error, filename):
    """An exception as the API reports it: type, message, and the traceback lines in the user's module."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename == filename][-MAX_FRAMES:]
    message = str(error)
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + f"… ({len(message) - MAX_MESSAGE} more characters)"
    return {
        "type": type(error).__name__,
        "message": message,
        "traceback": [line for entry in traceback.format_list(frames) for line in entry.rstrip("\n").split("\n")],
    }
