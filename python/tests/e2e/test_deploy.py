"""POST /functions/{name}: a module is validated in a sandboxed worker before it is stored."""

import datetime
import hashlib

import pytest

from server import EXAMPLES


def test_quick_start_deploy_and_invoke(server):
    source = (EXAMPLES / "hello.py").read_text()
    reply = server.deploy("hello", source)
    assert reply.status == 201
    body = reply.json()
    assert body["name"] == "hello"
    assert body["version"] == 1
    assert body["sha256"] == hashlib.sha256(source.encode()).hexdigest()
    assert body["invoke_url"] == "/functions/hello/invoke"
    created = datetime.datetime.fromisoformat(body["created_at"].replace("Z", "+00:00"))
    assert abs((datetime.datetime.now(datetime.timezone.utc) - created).total_seconds()) < 60

    reply = server.invoke("hello", {"name": "Hugues"})
    assert (reply.status, reply.json()) == (200, {"message": "Hello Hugues"})
    assert reply.headers["Content-Type"] == "application/json"


def test_pandas_example(server):
    assert server.deploy("sales", (EXAMPLES / "sales_by_region.py").read_text()).status == 201
    orders = [
        {"region": "north", "amount": 120.5},
        {"region": "south", "amount": 80},
        {"region": "north", "amount": 79.5},
    ]
    reply = server.invoke("sales", {"orders": orders})
    assert reply.status == 200
    assert reply.json() == [
        {"region": "north", "total": 200.0, "average": 100.0, "orders": 2},
        {"region": "south", "total": 80.0, "average": 80.0, "orders": 1},
    ]


def test_syntax_error_is_400_with_line_and_offset(server):
    reply = server.deploy("syntax", "def handle(request):\n    return (1,\n\nx = ]\n")
    assert reply.status == 400
    error = reply.json()["error"]
    assert error["type"] == "SyntaxError"
    assert (error["line"], error["offset"]) == (4, 5)
    assert error["message"]


def test_import_time_exception_is_422_with_traceback(server):
    reply = server.deploy("importfails", "import json\n\nraise RuntimeError('no config')\n")
    assert reply.status == 422
    error = reply.json()["error"]
    assert (error["type"], error["message"]) == ("RuntimeError", "no config")
    assert error["traceback"] == ['  File "importfails.py", line 3, in <module>', "    raise RuntimeError('no config')"]


def test_missing_module_is_422(server):
    reply = server.deploy("nomodule", "import not_a_real_module\n")
    assert reply.status == 422
    assert reply.json()["error"]["type"] == "ModuleNotFoundError"


@pytest.mark.parametrize("source", ["x = 1\n", "handle = 'not callable'\n"])
def test_module_without_callable_handle_is_422(server, source):
    reply = server.deploy("nohandle", source)
    assert reply.status == 422
    assert reply.json()["error"]["type"] == "MissingHandler"


def test_module_that_exits_at_import_is_422(server):
    reply = server.deploy("exits", "import os\nos._exit(4)\n")
    assert reply.status == 422
    error = reply.json()["error"]
    assert error["type"] == "ImportCrashed"
    assert "exited with code 4" in error["message"]


@pytest.mark.parametrize("body, status, error_type", [
    (b"", 400, "EmptySource"),
    (b"def handle(r):\n    return '\xff'\n", 400, "InvalidUTF8"),
    (b"# " + b"x" * (1024 * 1024), 413, "SourceTooLarge"),
], ids=["empty", "invalid-utf8", "over-1-mib"])
def test_bad_bodies_are_refused(server, body, status, error_type):
    reply = server.request("POST", "/functions/badbody", body)
    assert reply.status == status
    assert reply.json()["error"]["type"] == error_type


def test_a_source_of_exactly_one_mebibyte_is_accepted(server):
    source = "def handle(r):\n    return 1\n"
    source += "#" * (1024 * 1024 - len(source) - 1) + "\n"
    assert len(source.encode()) == 1024 * 1024
    assert server.deploy("big", source).status == 201


@pytest.mark.parametrize("name", ["Hello", "0abc", "a" * 64, "has.dot", "_x"])
def test_invalid_names_are_400(server, name):
    reply = server.deploy(name, "def handle(r):\n    return 1\n")
    assert reply.status == 400
    assert reply.json()["error"]["type"] == "InvalidName"


def test_a_failed_deploy_stores_nothing(server):
    assert server.deploy("neverstored", "raise ValueError()\n").status == 422
    assert server.request("GET", "/functions/neverstored").status == 404
    assert "neverstored" not in [f["name"] for f in server.request("GET", "/functions").json()["functions"]]


def test_a_failed_redeploy_keeps_the_previous_version_serving(server):
    assert server.deploy("keep", "def handle(r):\n    return 'v1'\n").status == 201
    assert server.deploy("keep", "def handle(r) return\n").status == 400
    assert server.invoke("keep", {}).json() == "v1"
    assert server.request("GET", "/functions/keep").json()["version"] == 1


def test_a_nul_byte_in_the_source_is_a_400_syntax_error(server):
    reply = server.deploy("nul-byte", "def handle(r):\n    return 1\n\x00\n")
    assert reply.status == 400
    assert reply.json()["error"]["type"] == "SyntaxError"
    assert "null bytes" in reply.json()["error"]["message"]
