"""Request bodies in, handler results out: JSON, with pandas and numpy values converted."""

import datetime
import json
import math

import numpy
import pandas


class RequestError(ValueError):
    """The request body is not a JSON value; `kind` names the error type for the API."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def decode_request(body):
    """Decode a request body: strict UTF-8, then strict JSON (no NaN or Infinity)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RequestError("InvalidUTF8", f"request body is not valid UTF-8: {error.reason} at byte {error.start}")
    if not text.strip():
        raise RequestError("InvalidJSON", "request body is empty: send a JSON value such as {} or null")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise RequestError("InvalidJSON", f"request body is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}")
    except ValueError as error:
        raise RequestError("InvalidJSON", f"request body is not valid JSON: {error}")
    except RecursionError:
        raise RequestError("InvalidJSON", "request body is nested too deeply")


def encode_result(value):
    """The handler's result as compact JSON bytes.

    Raises TypeError naming the type of a value JSON cannot hold.
    """
    try:
        return json.dumps(value, allow_nan=False, default=_convert_object, separators=(",", ":")).encode()
    except (ValueError, TypeError):
        # A float NaN or infinity, or a key json.dumps refuses: walk the whole value and convert it,
        # which raises TypeError for what really has no JSON form.
        return json.dumps(to_json(value), allow_nan=False, separators=(",", ":")).encode()


def _convert_object(value):
    """json.dumps's fallback for values it cannot encode itself."""
    return to_json(value)


def to_json(value):
    """Convert a value to plain JSON types: dict, list, str, int, float, bool, None."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {_key(key): to_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    if isinstance(value, pandas.DataFrame):
        return [to_json(row) for row in value.to_dict(orient="records")]
    if isinstance(value, pandas.Series):
        return {_key(key): to_json(item) for key, item in value.items()}
    if isinstance(value, numpy.ndarray):
        return [to_json(item) for item in value.tolist()] if value.dtype.kind not in "mMO" else [to_json(item) for item in value]
    if value is pandas.NaT or value is pandas.NA:
        return None
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, numpy.bool_):
        return bool(value)
    if isinstance(value, numpy.integer):
        return int(value)
    if isinstance(value, numpy.floating):
        return to_json(float(value))
    if isinstance(value, numpy.datetime64):
        return None if numpy.isnat(value) else pandas.Timestamp(value).isoformat()
    raise TypeError(f"the handler returned a value of type {_type_name(value)}, which JSON cannot hold")


def _key(key):
    """JSON object keys are strings: keep those json.dumps would accept, isoformat dates."""
    if isinstance(key, str):
        return key
    converted = to_json(key)
    if converted is None:
        return "null"
    if isinstance(converted, bool):
        return "true" if converted else "false"
    if isinstance(converted, (int, float, str)):
        return str(converted)
    raise TypeError(f"the handler returned a mapping with a key of type {_type_name(key)}, which JSON cannot hold")


def _type_name(value):
    cls = type(value)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
