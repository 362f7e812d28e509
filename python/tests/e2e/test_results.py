"""Results through the real server: pandas values value by value, pyhost.Response, the context,
CSV and NDJSON in and out, and bad inputs that get typed errors while the worker keeps serving."""

import json

import pytest

from server import DEPLOY_TOKEN

CONTRACT = '''
import datetime, decimal, enum, uuid
import numpy as np
import pandas as pd

class Color(enum.Enum):
    RED = "red"

SALES = pd.DataFrame({
    "region": ["north", "north", "south", "south"],
    "product": ["a", "b", "a", "b"],
    "amount": [10.0, 20.0, 5.0, 7.5],
    "when": pd.to_datetime(["2024-01-01", "2024-01-20", "2024-02-03", "2024-02-04"]),
})

def handle(request):
    return {
        "describe": pd.DataFrame({"x": [1.0, 3.0]}).describe().loc[["count", "mean", "max"]],
        "groupby": SALES.groupby("region")[["amount"]].sum(),
        "pivot": SALES.pivot_table(index="region", columns="product", values="amount", aggfunc=["sum", "count"]),
        "resample": SALES.set_index("when").resample("MS")[["amount"]].sum(),
        "row_multiindex": SALES.groupby(["region", "product"])[["amount"]].sum().head(2),
        "series_multiindex": SALES.groupby(["region", "product"])["amount"].sum(),
        "index": pd.Index(["x", "y"]),
        "categorical": pd.Categorical(["lo", None]),
        "period": SALES.when.dt.to_period("M")[0],
        "interval": pd.cut([1], bins=[0, 5])[0],
        "timedelta": SALES.when[1] - SALES.when[0],
        "stdlib_timedelta": datetime.timedelta(seconds=1.5),
        "decimal": decimal.Decimal("0.10"),
        "set": {2, 1},
        "frozenset": frozenset(["b", "a"]),
        "uuid": uuid.UUID(int=1),
        "enum": Color.RED,
    }
'''

EXPECTED = {
    "describe": [{"index": "count", "x": 2.0}, {"index": "mean", "x": 2.0}, {"index": "max", "x": 3.0}],
    "groupby": [{"region": "north", "amount": 30.0}, {"region": "south", "amount": 12.5}],
    "pivot": [{"region": "north", "sum.a": 10.0, "sum.b": 20.0, "count.a": 1, "count.b": 1},
              {"region": "south", "sum.a": 5.0, "sum.b": 7.5, "count.a": 1, "count.b": 1}],
    "resample": [{"when": "2024-01-01T00:00:00", "amount": 30.0}, {"when": "2024-02-01T00:00:00", "amount": 12.5}],
    "row_multiindex": [{"region": "north", "product": "a", "amount": 10.0}, {"region": "north", "product": "b", "amount": 20.0}],
    "series_multiindex": {"north": {"a": 10.0, "b": 20.0}, "south": {"a": 5.0, "b": 7.5}},
    "index": ["x", "y"],
    "categorical": ["lo", None],
    "period": "2024-01",
    "interval": {"left": 0, "right": 5, "closed": "right"},
    "timedelta": 1641600.0,
    "stdlib_timedelta": 1.5,
    "decimal": "0.10",
    "set": [1, 2],
    "frozenset": ["a", "b"],
    "uuid": "00000000-0000-0000-0000-000000000001",
    "enum": "red",
}


def deploy(server, name, source):
    reply = server.deploy(name, source)
    assert reply.status == 201, reply


def call(server, name, body=b"{}", headers=None, query=""):
    return server.request("POST", f"/functions/{name}/invoke{query}", body, headers or {"Content-Type": "application/json"})


@pytest.fixture(scope="module")
def contract(server):
    deploy(server, "contract", CONTRACT)
    reply = call(server, "contract")
    assert reply.status == 200, reply
    return reply.json()


@pytest.mark.parametrize("key", list(EXPECTED))
def test_pandas_results_keep_every_label(contract, key):
    assert contract[key] == EXPECTED[key]


def test_an_unencodable_value_deep_in_a_result_names_its_path_and_the_worker_keeps_serving(server):
    deploy(server, "deep", "def handle(request):\n    if request:\n        return {'rows': [{}, {'when': 1j}]}\n    return 'ok'\n")
    first = call(server, "deep", b"true")
    assert first.status == 500
    assert first.json()["error"]["type"] == "UnserializableResult"
    assert first.json()["error"]["message"] == 'result["rows"][1]["when"]: a value of type complex has no JSON form'
    second = call(server, "deep", b"false")
    assert (second.status, second.json()) == (200, "ok")
    assert second.headers["Pyhost-Worker"] == first.headers["Pyhost-Worker"]


def test_duplicate_columns_are_an_error(server):
    deploy(server, "dupes", "import pandas as pd\ndef handle(r):\n    return pd.DataFrame([[1, 2]], columns=['a', 'a'])\n")
    reply = call(server, "dupes")
    assert reply.status == 500
    assert reply.json()["error"]["type"] == "UnserializableResult"
    assert "duplicate column names ['a']" in reply.json()["error"]["message"]


RESPONSES = '''
import pyhost

def handle(request, context):
    kind = request.get("kind")
    if kind == "created":
        return pyhost.Response({"id": 7}, status=201, headers={"Location": "/things/7"})
    if kind == "text":
        return pyhost.Response("plain words", headers={"Content-Type": "text/plain; charset=utf-8"})
    if kind == "bad_request":
        return pyhost.Response({"error": "name is required"}, status=400)
    if kind == "bad_status":
        return pyhost.Response({}, status=99)
    if kind == "bad_header":
        return pyhost.Response({}, headers={"X-Evil": "a\\r\\nSet-Cookie: x=1"})
    if kind == "hop_by_hop":
        return pyhost.Response({}, headers={"Transfer-Encoding": "chunked"})
    return {
        "headers": {name: context.headers[name] for name in ("x-trace", "content-type")},
        "authorization": "authorization" in context.headers,
        "query": context.query,
        "invocation_id": context.invocation_id,
        "function": context.function,
        "version": context.version,
        "remaining": 0 < context.remaining_seconds() <= 3,
    }
'''


@pytest.fixture(scope="module")
def responder(server):
    deploy(server, "responder", RESPONSES)
    return "responder"


@pytest.mark.parametrize("kind, status, content_type, body", [
    ("created", 201, "application/json", b'{"id":7}'),
    ("text", 200, "text/plain; charset=utf-8", b"plain words"),
    ("bad_request", 400, "application/json", b'{"error":"name is required"}'),
])
def test_a_response_sets_status_headers_and_body(server, responder, kind, status, content_type, body):
    reply = call(server, responder, json.dumps({"kind": kind}).encode())
    assert (reply.status, reply.headers["Content-Type"], reply.body) == (status, content_type, body)
    if kind == "created":
        assert reply.headers["Location"] == "/things/7"


@pytest.mark.parametrize("kind, text", [
    ("bad_status", "status must be an int from 200 to 599, not 99"),
    ("bad_header", "header 'X-Evil': the value must be a str without CR, LF"),
    ("hop_by_hop", "header 'Transfer-Encoding' is set by the server"),
])
def test_an_invalid_response_is_a_typed_error_and_the_worker_keeps_serving(server, responder, kind, text):
    reply = call(server, responder, json.dumps({"kind": kind}).encode())
    assert reply.status == 500
    assert reply.json()["error"]["type"] == "InvalidResponse"
    assert text in reply.json()["error"]["message"]
    after = call(server, responder, b'{"kind": "created"}')
    assert after.status == 201
    assert after.headers["Pyhost-Worker"] == reply.headers["Pyhost-Worker"]


def test_the_context_shows_headers_query_id_and_time_left(server, responder):
    reply = call(server, responder, b"{}", {"Content-Type": "application/json", "X-Trace": "abc"}, "?region=north&logs=false")
    assert reply.status == 200
    assert reply.json() == {
        "headers": {"x-trace": "abc", "content-type": "application/json"},
        "authorization": False,
        "query": {"region": "north"},
        "invocation_id": reply.headers["Pyhost-Invocation-Id"],
        "function": "responder",
        "version": 1,
        "remaining": True,
    }


def test_a_response_in_the_logs_envelope(server, responder):
    reply = call(server, responder, b'{"kind": "created"}', query="?logs=true")
    assert reply.status == 201
    assert reply.json()["result"] == {"id": 7}


CSV = '''
import pandas as pd

def handle(request):
    if isinstance(request, pd.DataFrame):
        return request.groupby("region")[["amount"]].sum()
    return request
'''


@pytest.fixture(scope="module")
def tables(server):
    deploy(server, "tables", CSV)
    return "tables"


def test_csv_in_and_out(server, tables):
    reply = call(server, tables, b"region,amount\nnorth,1.5\nsouth,2\nnorth,3\n", {"Content-Type": "text/csv", "Accept": "text/csv"})
    assert (reply.status, reply.headers["Content-Type"]) == (200, "text/csv; charset=utf-8")
    assert reply.body == b"region,amount\nnorth,4.5\nsouth,2.0\n"


def test_csv_in_json_out(server, tables):
    reply = call(server, tables, b"region,amount\nnorth,1.5\n", {"Content-Type": "text/csv"})
    assert (reply.status, reply.json()) == (200, [{"region": "north", "amount": 1.5}])


def test_ndjson_in_and_out(server, tables):
    reply = call(server, tables, b'{"a": 1}\n{"a": 2}\n', {"Content-Type": "application/x-ndjson", "Accept": "application/x-ndjson"})
    assert (reply.status, reply.headers["Content-Type"], reply.body) == (200, "application/x-ndjson", b'{"a":1}\n{"a":2}\n')


def test_malformed_csv_is_a_400_with_the_line(server, tables):
    reply = call(server, tables, b"region,amount\nnorth,1\nsouth,2,3\n", {"Content-Type": "text/csv"})
    assert reply.status == 400
    error = reply.json()["error"]
    assert (error["type"], error["line"]) == ("InvalidCSV", 3)


def test_csv_of_a_result_that_is_not_a_table_is_a_406(server, tables):
    reply = call(server, tables, b'{"a": 1}', {"Content-Type": "application/json", "Accept": "text/csv"})
    assert reply.status == 406
    assert reply.json()["error"]["type"] == "NotAcceptable"
    after = call(server, tables, b'{"a": 1}')
    assert (after.status, after.headers["Pyhost-Worker"]) == (200, reply.headers["Pyhost-Worker"])


def test_a_lone_surrogate_passes_every_path(server):
    deploy(server, "surrogate", "def handle(request):\n    print(request)\n    if request['fail']:\n        raise KeyError(request['name'])\n    return request['name']\n")
    for fail, status in [(False, 200), (True, 500)]:
        body = ('{"name": "\\ud800", "fail": %s}' % json.dumps(fail)).encode()
        reply = call(server, "surrogate", body, query="?logs=true")
        assert reply.status == status, reply
        envelope = reply.json()
        if fail:
            assert (envelope["result"], envelope["error"]["type"], envelope["error"]["message"]) == (None, "KeyError", "'\\ud800'")
        else:
            assert (envelope["result"], envelope["error"]) == ("\ud800", None)
        assert envelope["logs"] == "{'name': '\\ud800', 'fail': %s}\n" % fail
    logged = server.request("GET", "/functions/surrogate/logs").json()["invocations"]
    assert [entry["status"] for entry in logged] == [500, 200]


def test_the_deploy_token_is_not_shown_to_handlers(guarded):
    token = {"Authorization": f"Bearer {DEPLOY_TOKEN}"}
    assert guarded.deploy("peek", "def handle(request, context):\n    return sorted(context.headers)\n", token).status == 201
    reply = guarded.request("POST", "/functions/peek/invoke", b"{}", {**token, "Content-Type": "application/json"})
    assert reply.status == 200
    assert "authorization" not in reply.json() and "content-type" in reply.json()
    other = guarded.request("POST", "/functions/peek/invoke", b"{}", {"Authorization": "Bearer mine"})
    assert "authorization" in other.json()
