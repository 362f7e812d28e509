"""The README and docs/ name real tests, real files and every route of the API."""

import json
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PYTHON_TESTS = ROOT / "python" / "tests"
SWIFT_TESTS = ROOT / "Tests"
OPENAPI = ROOT / "Sources" / "PyHostHTTP" / "Resources" / "openapi.json"
API_DOC = ROOT / "docs" / "api.md"

CODE_SPAN = re.compile(r"`([^`\n]+)`")
# test_x.py::test_name, with an optional [parameter id] after it.
QUALIFIED_TEST = re.compile(r"\b(test_\w+\.py)::(test_\w+)(?:\[([^\]]*)\])?")
# A parameter id alone, `[groupby]`, short for the test named beside it.
PARAMETER_ID = re.compile(r"^\[([^\]…]+)\]$")
# PoolStateTests.swift::zygoteRestartsBackOffUpToThirtySeconds: a Swift Testing function in that file.
QUALIFIED_SWIFT_TEST = re.compile(r"\b([A-Z]\w*Tests\.swift)::(\w+)")
BARE_TEST = re.compile(r"^(test_\w+)(?:\[[^\]]*\])?$")
TEST_FILE = re.compile(r"^(?:[\w./-]*/)?(test_\w+\.py)$")
SWIFT_NAME = re.compile(r"^(?:[\w./-]*/)?([A-Z]\w*Tests)(?:\.swift)?$")
REPO_PATH = re.compile(r"^(?:python|Tests|Sources|Modules|scripts|docs)/[\w./+-]*$")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def doc_id(path):
    return str(path.relative_to(ROOT))


def code_spans(path):
    text = path.read_text()
    # Fenced blocks hold sample output, not references.
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return CODE_SPAN.findall(text)


def python_test_files():
    return {p.name: p for p in PYTHON_TESTS.rglob("test_*.py")}


def python_test_names(path):
    return set(re.findall(r"^\s*(?:async\s+)?def (test_\w+)\(", path.read_text(), flags=re.M))


def is_parameter_id(parameter, source):
    return any(f"{quote}{parameter}{quote}" in source for quote in "\"'")


def all_python_test_names():
    names = set()
    for path in python_test_files().values():
        names |= python_test_names(path)
    return names


def swift_test_names():
    names = {p.stem for p in SWIFT_TESTS.rglob("*.swift")}
    for path in SWIFT_TESTS.rglob("*.swift"):
        names |= set(re.findall(r"\b(?:struct|final class|class|enum)\s+(\w+Tests)\b", path.read_text()))
    return names


def slug(heading):
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path):
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.S | re.M)
    return {slug(h) for h in re.findall(r"^#+\s+(.*)$", text, flags=re.M)}


def test_the_docs_exist():
    names = {p.name for p in DOCS}
    assert {"README.md", "architecture.md", "sandbox.md", "operations.md", "api.md", "benchmarks.md"} <= names


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_every_qualified_python_or_swift_test_reference_names_a_test_that_exists(doc):
    files = python_test_files()
    stale = []
    for span in code_spans(doc):
        for file_name, test_name, parameter in QUALIFIED_TEST.findall(span):
            if file_name not in files:
                stale.append(f"{file_name}::{test_name} (no such file)")
            elif test_name not in python_test_names(files[file_name]):
                stale.append(f"{file_name}::{test_name}")
            elif parameter and "…" not in parameter and not is_parameter_id(parameter, files[file_name].read_text()):
                stale.append(f"{file_name}::{test_name}[{parameter}]")
        for file_name, function in QUALIFIED_SWIFT_TEST.findall(span):
            paths = list(SWIFT_TESTS.rglob(file_name))
            if not paths:
                stale.append(f"{file_name} (no such file)")
            elif not re.search(rf"\bfunc {function}\(", paths[0].read_text()):
                stale.append(f"{file_name}::{function}")
    assert stale == []


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_every_bare_test_name_parameter_id_and_test_file_exists(doc):
    files = python_test_files()
    names = all_python_test_names()
    swift = swift_test_names()
    stale = []
    for span in code_spans(doc):
        if match := BARE_TEST.match(span):
            if match.group(1) not in names:
                stale.append(span)
        elif match := PARAMETER_ID.match(span):
            sources = [p.read_text() for p in files.values()]
            if not any(is_parameter_id(match.group(1), source) for source in sources):
                stale.append(span)
        elif match := TEST_FILE.match(span):
            if match.group(1) not in files:
                stale.append(span)
        elif match := SWIFT_NAME.match(span):
            if match.group(1) not in swift:
                stale.append(span)
    assert stale == []


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_every_path_in_the_repository_exists(doc):
    stale = []
    for span in code_spans(doc):
        first = span.split()[0]
        if REPO_PATH.match(first) and "{" not in first and "*" not in first:
            if not (ROOT / first.split("::")[0]).exists():
                stale.append(first)
    assert stale == []


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_every_relative_link_points_to_an_existing_file(doc):
    text = re.sub(r"^```.*?^```", "", doc.read_text(), flags=re.S | re.M)
    stale = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        if not file.exists():
            stale.append(target)
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            stale.append(target)
    assert stale == []


def openapi_operations():
    paths = json.loads(OPENAPI.read_text())["paths"]
    methods = {"get", "post", "put", "patch", "delete"}
    return [
        (method.upper(), path, set(operation["responses"]))
        for path, item in paths.items()
        for method, operation in item.items()
        if method in methods
    ]


def api_sections():
    """Each `### `METHOD /path`` heading of docs/api.md with the statuses its tables list."""
    sections = {}
    current = None
    for line in API_DOC.read_text().splitlines():
        if heading := re.match(r"^#+\s+`([A-Z]+) (/\S*)`", line):
            current = sections.setdefault((heading.group(1), heading.group(2)), set())
        elif line.startswith("#"):
            current = None
        elif current is not None and (row := re.match(r"^\|\s*(\d{3})\s*\|", line)):
            current.add(row.group(1))
    return sections


@pytest.mark.parametrize("method,path,statuses", openapi_operations(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_route_in_openapi_is_documented_with_its_statuses(method, path, statuses):
    sections = api_sections()
    assert (method, path) in sections, f"docs/api.md has no section `{method} {path}`"
    assert sections[(method, path)] == statuses


def test_docs_api_documents_no_route_openapi_lacks():
    documented = set(api_sections())
    # The console is HTML, outside the JSON API the OpenAPI document describes.
    assert documented - {(m, p) for m, p, _ in openapi_operations()} <= {("GET", "/")}
