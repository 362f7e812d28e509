"""The runtime's JSON conversion of handler results and decoding of request bodies."""

import datetime
import json
import math

import numpy as np
import pandas as pd
import pytest

from pyhost_runtime.codec import RequestError, decode_request, encode_result


def roundtrip(value):
    return json.loads(encode_result(value))


@pytest.mark.parametrize("value", [None, True, 0, -7, 1.5, "héllo", [], {}, [1, [2, {"a": None}]]])
def test_plain_json_values_pass_through(value):
    assert roundtrip(value) == value


def test_dataframe_becomes_records():
    frame = pd.DataFrame({"region": ["north", "south"], "total": [30.0, 5.5], "orders": [2, 1]})
    assert roundtrip(frame) == [
        {"region": "north", "total": 30.0, "orders": 2},
        {"region": "south", "total": 5.5, "orders": 1},
    ]


def test_series_becomes_an_object_from_index_to_value():
    assert roundtrip(pd.Series([1, 2], index=["a", "b"])) == {"a": 1, "b": 2}
    assert roundtrip(pd.Series([1.5], index=[3])) == {"3": 1.5}


def test_series_with_a_date_index_uses_iso_keys():
    series = pd.Series([1], index=pd.to_datetime(["2024-01-02"]))
    assert roundtrip(series) == {"2024-01-02T00:00:00": 1}


def test_numpy_scalars_become_numbers_and_booleans():
    value = {"i": np.int64(3), "f": np.float32(0.5), "b": np.bool_(True), "u": np.uint8(255)}
    assert roundtrip(value) == {"i": 3, "f": 0.5, "b": True, "u": 255}


def test_numpy_arrays_become_lists():
    assert roundtrip(np.arange(3)) == [0, 1, 2]
    assert roundtrip(np.array([[1.0, np.nan]])) == [[1.0, None]]


@pytest.mark.parametrize("missing", [float("nan"), np.nan, np.float64("nan"), pd.NaT, None, float("inf"), pd.NA])
def test_missing_values_become_null(missing):
    assert roundtrip({"x": missing}) == {"x": None}


def test_nan_inside_a_dataframe_becomes_null():
    frame = pd.DataFrame({"a": [1.0, math.nan], "when": [pd.Timestamp("2024-01-02 03:04:05"), pd.NaT]})
    assert roundtrip(frame) == [
        {"a": 1.0, "when": "2024-01-02T03:04:05"},
        {"a": None, "when": None},
    ]


def test_dates_and_times_become_iso_8601():
    value = [
        datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
        datetime.date(2024, 1, 2),
        pd.Timestamp("2024-01-02T03:04:05.123"),
        np.datetime64("2024-01-02T03:04:05"),
    ]
    assert roundtrip(value) == [
        "2024-01-02T03:04:05+00:00",
        "2024-01-02",
        "2024-01-02T03:04:05.123000",
        "2024-01-02T03:04:05",
    ]


@pytest.mark.parametrize("value, type_name", [
    (object(), "object"),
    ({1, 2}, "set"),
    (pd.Timedelta("1s"), "pandas._libs.tslibs.timedeltas.Timedelta"),
    ({"nested": [b"bytes"]}, "bytes"),
])
def test_anything_else_is_a_type_error_naming_the_type(value, type_name):
    with pytest.raises(TypeError) as error:
        encode_result(value)
    assert type_name in str(error.value)


def test_request_bodies_decode_as_strict_json():
    assert decode_request(b'{"name": "Hugues"}') == {"name": "Hugues"}
    assert decode_request(b"null") is None
    assert decode_request("[\"é\"]".encode()) == ["é"]


@pytest.mark.parametrize("body, kind", [
    (b"", "InvalidJSON"),
    (b"  \n", "InvalidJSON"),
    (b"{bad", "InvalidJSON"),
    (b"NaN", "InvalidJSON"),
    (b"[Infinity]", "InvalidJSON"),
    (b"\xff\xfe", "InvalidUTF8"),
    (b"[" * 100_000, "InvalidJSON"),
])
def test_bad_request_bodies_are_request_errors(body, kind):
    with pytest.raises(RequestError) as error:
        decode_request(body)
    assert error.value.kind == kind
