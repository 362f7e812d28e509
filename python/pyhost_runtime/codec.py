"""Request bodies in, handler results out: JSON, with pandas and numpy values converted.

The result contract (README, "Writing a function", names the test of each row):
- a DataFrame is a list of row objects; an index that carries labels (named, not integers, or a
  MultiIndex) comes first in each row, named as `reset_index()` names it; an unnamed integer index
  is row numbers and is left out; MultiIndex columns become flat names joined with COLUMN_JOINER,
  empty levels skipped; duplicate column names are an error;
- a Series is an object from index to value, nested one level per level of a MultiIndex;
- Timedelta / timedelta are seconds (a number); Period its string ("2024-01"); Interval an object
  {"left", "right", "closed"}; Decimal its exact string; set / frozenset a sorted list; UUID its
  string; Enum its value; pd.Index and Categorical lists;
- anything else, bytes included, raises UnserializableResult naming the path and the type.
"""

import datetime
import decimal
import enum
import io
import json
import math
import uuid

import numpy
import pandas

COLUMN_JOINER = "."


class RequestError(ValueError):
    """The request body cannot be decoded; `kind` names the error type for the API."""

    def __init__(self, kind, message, **fields):
        super().__init__(message)
        self.kind = kind
        self.fields = fields


class UnserializableResult(TypeError):
    """A part of the result has no JSON form; the message names where it sits and its type."""

    def __init__(self, problem, path=()):
        self.problem = problem
        self.path = list(path)
        super().__init__(problem)

    def inside(self, key):
        """The same error, one level further out: `key` is where the failing part sits."""
        self.path.insert(0, key)
        self.args = (str(self),)
        return self

    def __str__(self):
        where = "result" + "".join(f"[{json.dumps(key)}]" if isinstance(key, str) else f"[{key}]" for key in self.path)
        return f"{where}: {self.problem}"


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def _text(body):
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RequestError("InvalidUTF8", f"request body is not valid UTF-8: {error.reason} at byte {error.start}")


def decode_request(body):
    """Decode a request body: strict UTF-8, then strict JSON (no NaN or Infinity)."""
    text = _text(body)
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


def decode_csv(body):
    """A text/csv request body as a DataFrame (pandas.read_csv), the header row naming columns."""
    text = _text(body)
    try:
        return pandas.read_csv(io.StringIO(text))
    except pandas.errors.EmptyDataError:
        raise RequestError("InvalidCSV", "request body is empty: send a header row, then one line per row", line=1)
    except (pandas.errors.ParserError, ValueError) as error:
        line = _csv_error_line(str(error))
        raise RequestError("InvalidCSV", f"request body is not valid CSV: {error}".rstrip(), line=line)


def _csv_error_line(message):
    """The line number pandas' parser names ("… in line 3, saw 4"), or None."""
    for marker in ("in line ", "row "):
        _, found, tail = message.partition(marker)
        digits = tail[:len(tail) - len(tail.lstrip("0123456789"))]
        if found and digits:
            return int(digits)
    return None


def decode_ndjson(body):
    """An application/x-ndjson body: one JSON value per non-empty line, as a list."""
    values = []
    for number, line in enumerate(_text(body).splitlines(), start=1):
        if line.strip():
            try:
                values.append(json.loads(line, parse_constant=_reject_constant))
            except (ValueError, RecursionError) as error:
                raise RequestError("InvalidJSON", f"line {number} is not a JSON value: {error}", line=number)
    return values


def encode_result(value):
    """The handler's result as compact JSON bytes.

    Raises UnserializableResult naming the path and type of a value JSON cannot hold.
    """
    try:
        return json.dumps(value, allow_nan=False, default=_convert_object, separators=(",", ":")).encode()
    except (ValueError, TypeError):
        # A float NaN or infinity, a key json.dumps refuses, or a part with no JSON form: walk
        # the whole value, which converts the first two and names where the last sits.
        return json.dumps(to_json(value), allow_nan=False, separators=(",", ":")).encode()


def encode_csv(frame):
    """A DataFrame as CSV text with a header row, its index kept by the same rule as in JSON."""
    return rows_frame(frame).to_csv(index=False)


def encode_ndjson(value):
    """A DataFrame or list as one JSON value per line."""
    rows = to_json(value)
    return "".join(json.dumps(row, allow_nan=False, separators=(",", ":")) + "\n" for row in rows).encode()


def _convert_object(value):
    """json.dumps's fallback for values it cannot encode itself: one level only, the encoder
    walks what it returns."""
    if isinstance(value, pandas.DataFrame):
        return rows_frame(value).to_dict(orient="records")
    return to_json(value)


def rows_frame(frame):
    """`frame` with labelled index levels as leading columns and flat, unique column names."""
    index = frame.index
    if isinstance(index, pandas.MultiIndex) or index.name is not None or not pandas.api.types.is_integer_dtype(index.dtype):
        try:
            frame = frame.reset_index()
        except ValueError as error:
            raise UnserializableResult(f"the DataFrame's index cannot become columns: {error}") from None
    columns = frame.columns
    if isinstance(columns, pandas.MultiIndex):
        frame = frame.set_axis([_flat_name(name) for name in columns], axis=1)
        columns = frame.columns
    if not columns.is_unique:
        duplicates = sorted({str(name) for name in columns[columns.duplicated()]})
        raise UnserializableResult(f"the DataFrame has duplicate column names {duplicates}; rename them")
    return frame


def _flat_name(levels):
    return COLUMN_JOINER.join(str(_key(level)) for level in levels if level != "" and level is not None)


def to_json(value):
    """Convert a value to plain JSON types: dict, list, str, int, float, bool, None."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return _object(value.items())
    if isinstance(value, (list, tuple)):
        return _list(value)
    if isinstance(value, pandas.DataFrame):
        return _list(rows_frame(value).to_dict(orient="records"))
    if isinstance(value, pandas.Series):
        return _series(value)
    if isinstance(value, (pandas.Index, pandas.Categorical)):
        return _list(value.tolist())
    if isinstance(value, numpy.ndarray):
        return _list(value.tolist() if value.dtype.kind not in "mMO" else list(value))
    if value is pandas.NaT or value is pandas.NA:
        return None
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    # Before numpy.integer: numpy.timedelta64 is one.
    if isinstance(value, (datetime.timedelta, numpy.timedelta64)):
        return None if pandas.isna(value) else pandas.Timedelta(value).total_seconds()
    if isinstance(value, numpy.bool_):
        return bool(value)
    if isinstance(value, numpy.integer):
        return int(value)
    if isinstance(value, numpy.floating):
        return to_json(float(value))
    if isinstance(value, numpy.datetime64):
        return None if numpy.isnat(value) else pandas.Timestamp(value).isoformat()
    if isinstance(value, pandas.Period):
        return str(value)
    if isinstance(value, pandas.Interval):
        return {"left": to_json(value.left), "right": to_json(value.right), "closed": value.closed}
    if isinstance(value, decimal.Decimal):
        return str(value) if value.is_finite() else None
    if isinstance(value, (set, frozenset)):
        return _list(_sorted(value))
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return to_json(value.value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise UnserializableResult(
            f"a value of type {_type_name(value)} has no JSON form: decode it to str, or return "
            "pyhost.Response(the bytes, headers={\"Content-Type\": …})")
    raise UnserializableResult(f"a value of type {_type_name(value)} has no JSON form")


def _object(items):
    converted = {}
    for key, item in items:
        name = _key(key)
        try:
            converted[name] = to_json(item)
        except UnserializableResult as error:
            raise error.inside(key) from None
    return converted


def _list(values):
    converted = []
    try:
        for item in values:
            converted.append(to_json(item))
    except UnserializableResult as error:
        raise error.inside(len(converted)) from None
    return converted


def _series(series):
    if not series.index.is_unique:
        raise UnserializableResult("the Series has duplicate index labels, which an object cannot hold")
    if not isinstance(series.index, pandas.MultiIndex):
        return _object(series.items())
    nested = {}
    for labels, item in series.items():
        level = nested
        for label in labels[:-1]:
            level = level.setdefault(label, {})
        level[labels[-1]] = item
    return _object(nested.items())


def _sorted(values):
    try:
        return sorted(values)
    except TypeError:
        return list(values)


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
    raise UnserializableResult(f"a mapping key of type {_type_name(key)} cannot be a JSON object key")


def _type_name(value):
    cls = type(value)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
