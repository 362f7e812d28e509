"""Tiny packages built into wheels with `pip wheel` from sources written here: an offline index
for the package tests, so CI never needs PyPI."""

import pathlib
import subprocess
import tarfile

PYPROJECT = """[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"
[project]
name = "{name}"
version = "{version}"
dependencies = {dependencies!r}
[tool.setuptools]
packages = ["{module}"]
[tool.setuptools.package-data]
"{module}" = ["*"]
"""


def package(name, version="1.0", code="", dependencies=(), module=None, files=None):
    """A package's sources: its module's __init__.py is `code`; `files` adds others to the module."""
    return {"name": name, "version": version, "code": code, "dependencies": list(dependencies),
            "module": module or name, "files": files or {}}


def build(directory, packages, sdist_only=()):
    """Builds each package's wheel into `directory` with `pip wheel` (no index, no
    build isolation: Debian's setuptools does it), and a source archive only for `sdist_only`."""
    directory = pathlib.Path(directory)
    sources = directory.parent / f"{directory.name}-sources"
    directories = []
    for spec in packages:
        root = sources / f"{spec['name']}-{spec['version']}"
        (root / spec["module"]).mkdir(parents=True, exist_ok=True)
        (root / "pyproject.toml").write_text(PYPROJECT.format(**spec))
        (root / spec["module"] / "__init__.py").write_text(spec["code"])
        for relative, content in spec["files"].items():
            (root / spec["module"] / relative).write_bytes(content)
        directories.append(root)
    directory.mkdir(parents=True, exist_ok=True)
    # One pip run per batch of distinct names: pip resolves one run's projects together.
    while directories:
        batch, seen = [], set()
        for root in directories:
            name = root.name.rsplit("-", 1)[0]
            if name not in seen:
                seen.add(name)
                batch.append(root)
        directories = [root for root in directories if root not in batch]
        subprocess.run(["/usr/bin/python3", "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                        "--no-index", "--disable-pip-version-check", "-w", str(directory), *map(str, batch)],
                       check=True, capture_output=True)
    for spec in sdist_only:
        root = sources / f"{spec['name']}-{spec['version']}"
        (root / spec["module"]).mkdir(parents=True, exist_ok=True)
        (root / "pyproject.toml").write_text(PYPROJECT.format(**spec))
        (root / spec["module"] / "__init__.py").write_text(spec["code"])
        with tarfile.open(directory / f"{spec['name']}-{spec['version']}.tar.gz", "w:gz") as archive:
            archive.add(root, arcname=f"{spec['name']}-{spec['version']}")
    return directory


def block(*dependencies, extra=""):
    """A PEP 723 block declaring `dependencies`."""
    listed = ", ".join(f'"{dependency}"' for dependency in dependencies)
    return f"# /// script\n# dependencies = [{listed}]\n{extra}# ///\n"
