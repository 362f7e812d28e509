"""The server's package installer: reads a module's PEP 723 block, resolves its dependencies with
pip against the host's Python, and installs the packages the host lacks into a content-addressed
environment. Wheels only, so no package code runs here; pip is Debian's.

Run by the server as `python3 -I -m pyhost_runtime.installer MODE ENVIRONMENTS [pip flags]` with
the module source (mode `resolve`) or a stored resolution (mode `install`) on stdin; prints one JSON
object: the resolution, or {"error": {"type": ..., "message": ...}}.
"""

import hashlib
import importlib.metadata
import json
import os
import pathlib
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
import zipfile

from pip._vendor.packaging.requirements import InvalidRequirement, Requirement
from pip._vendor.packaging.specifiers import SpecifierSet
from pip._vendor.packaging.utils import canonicalize_name

# The reference expression of PEP 723.
BLOCK = re.compile(r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$")
MAX_REQUIREMENTS = 64
PYTHON = "{}.{}.{}".format(*sys.version_info[:3])


class Refusal(Exception):
    """A typed error the server passes on to the configurator."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def declared_requirements(source):
    """The `dependencies` of the module's `script` block and the block's text, or None when it has none."""
    if "\r" in source and "# /// script" in source:
        raise Refusal("InvalidRequirements", "a module with a `# /// script` block must end its lines with \\n alone, not \\r")
    blocks = [match for match in BLOCK.finditer(source) if match.group("type") == "script"]
    if not blocks:
        if re.search(r"(?m)^# /// script\s*$", source):
            raise Refusal("InvalidRequirements", "the `# /// script` block is not closed by a `# ///` line")
        return None
    if len(blocks) > 1:
        raise Refusal("InvalidRequirements", "the module has more than one `# /// script` block")
    block = blocks[0]
    line = source.count("\n", 0, block.start()) + 1
    content = "".join(
        text[2:] if text.startswith("# ") else text[1:]
        for text in block.group("content").splitlines(keepends=True)
    )
    try:
        metadata = tomllib.loads(content)
    except tomllib.TOMLDecodeError as error:
        raise Refusal("InvalidRequirements", f"the `# /// script` block at line {line} is not valid TOML: {error}") from None
    requires_python = metadata.get("requires-python")
    if requires_python is not None:
        try:
            accepted = PYTHON in SpecifierSet(str(requires_python))
        except Exception:  # noqa: BLE001 - packaging raises its own InvalidSpecifier
            raise Refusal("InvalidRequirements", f"requires-python {requires_python!r} is not a version specifier") from None
        if not accepted:
            raise Refusal("IncompatiblePython", f"the module requires Python {requires_python}; this host runs {PYTHON}")
    dependencies = metadata.get("dependencies", [])
    if not isinstance(dependencies, list) or not all(isinstance(entry, str) for entry in dependencies):
        raise Refusal("InvalidRequirements", "`dependencies` must be a list of strings such as \"tabulate==0.9.0\"")
    if len(dependencies) > MAX_REQUIREMENTS:
        raise Refusal("InvalidRequirements", f"at most {MAX_REQUIREMENTS} dependencies may be declared")
    requirements = []
    for entry in dependencies:
        try:
            requirement = Requirement(entry)
        except InvalidRequirement as error:
            raise Refusal("InvalidRequirements", f"{entry!r} is not a requirement: {error}") from None
        if requirement.url:
            raise Refusal("InvalidRequirements", f"{entry!r} names a URL; name a package of the index instead")
        if requirement.marker is None or requirement.marker.evaluate():
            requirements.append(requirement)
    return requirements, block.group(0)


def too_slow():
    return Refusal("InstallTimeLimit", "installing the requirements took longer than the server allows (--install-timeout)")


def too_large(pip, what):
    return Refusal("InstallSizeLimit", f"{what}; the server allows {pip.max_bytes // 2**20} MiB (--install-max-mib)")


class Pip:
    """pip with the server's index flags, under the install's time and size limits."""

    def __init__(self, flags, deadline, max_bytes):
        self.flags = flags
        self.deadline = deadline
        self.max_bytes = max_bytes

    def run(self, *arguments, requirements=(), scratch=None):
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise too_slow()
        command = [sys.executable, "-I", "-m", "pip", *arguments, "--disable-pip-version-check", "--no-input",
                   "--only-binary=:all:", *self.flags, "--", *requirements]
        try:
            return subprocess.run(
                command, capture_output=True, text=True, timeout=remaining, stdin=subprocess.DEVNULL,
                # pip's own temporary files go where the install's limits are checked.
                env={**os.environ, **({"TMPDIR": str(scratch)} if scratch else {})},
                # No file pip writes may pass the size limit: a huge wheel fails before it fills the disk.
                preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (self.max_bytes, self.max_bytes)),
            )
        except subprocess.TimeoutExpired:
            raise too_slow() from None

    def index_location(self):
        """The index or link directory pip was pointed at, for messages."""
        for flag, value in zip(self.flags, self.flags[1:]):
            if flag == "--index-url":
                return value
        if "--no-index" in self.flags:
            return " ".join(value for flag, value in zip(self.flags, self.flags[1:]) if flag == "--find-links") or "no index"
        return "https://pypi.org/simple"

    def index_reachable(self):
        if "--no-index" in self.flags:
            return all(pathlib.Path(value).is_dir() for flag, value in zip(self.flags, self.flags[1:])
                       if flag == "--find-links" and "://" not in value)
        location = self.index_location()
        try:
            with urllib.request.urlopen(location.rstrip("/") + "/", timeout=10):
                return True
        except urllib.error.HTTPError:
            return True  # it answered
        except (OSError, ValueError):
            return False


def base_distributions():
    """What the host's Python has installed, by canonical name."""
    return {canonicalize_name(dist.metadata["Name"]): dist.version
            for dist in importlib.metadata.distributions() if dist.metadata["Name"]}


def explain_failure(pip, stderr, requirements):
    """The typed error for a failed resolution."""
    lines = [line.removeprefix("ERROR: ") for line in stderr.splitlines() if line.strip()]
    detail = "\n".join(lines[-12:])
    if not pip.index_reachable():
        raise Refusal("IndexUnreachable", f"the package index {pip.index_location()} could not be reached")
    if "conflicting dependencies" in stderr or "ResolutionImpossible" in stderr:
        raise Refusal("RequirementConflict", f"the requirements conflict with each other or with the host's packages:\n{detail}")
    missing = re.search(r"No matching distribution found for (\S+)", stderr)
    if missing:
        wanted = missing.group(1)
        name = canonicalize_name(re.split(r"[\s\[<>=!~;]", wanted, maxsplit=1)[0])
        base = base_distributions()
        if name in base:
            raise Refusal("RequirementConflict",
                          f"{wanted} conflicts with {name} {base[name]}, which the host provides, and no wheel of "
                          f"{pip.index_location()} satisfies it")
        listing = subprocess.run(
            [sys.executable, "-I", "-m", "pip", "index", "versions", name, "--disable-pip-version-check",
             *pip.flags], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        available = re.search(r"Available versions: (.*)", listing.stdout)
        versions = available.group(1).split(", ") if listing.returncode == 0 and available else []
        try:
            specifier = Requirement(wanted).specifier
        except InvalidRequirement:
            specifier = SpecifierSet()
        if any(specifier.contains(version, prereleases=True) for version in versions):
            raise Refusal("NoCompatibleWheel",
                          f"{wanted} has no wheel for CPython {PYTHON} on this platform in {pip.index_location()} "
                          "(only source distributions or other platforms' wheels, and pyhost builds nothing)")
        if versions:
            raise Refusal("UnknownPackage", f"no version of {name} matches {wanted} in {pip.index_location()} "
                          f"(it has {', '.join(versions[:10])})")
        raise Refusal("UnknownPackage", f"{pip.index_location()} has no package {name}")
    raise Refusal("InstallFailed", f"pip could not resolve the requirements:\n{detail}")


def resolve(pip, requirements):
    """The distributions pip would add to the host's, as [{name, version, sha256}]."""
    with tempfile.TemporaryDirectory() as scratch:
        report = pathlib.Path(scratch) / "report.json"
        result = pip.run("install", "--dry-run", "--quiet", "--report", str(report), requirements=map(str, requirements))
        if result.returncode != 0:
            if "[Errno 27]" in result.stderr:
                raise too_large(pip, "a file of the requirements is over the limit")
            explain_failure(pip, result.stderr, requirements)
        installs = json.loads(report.read_text())["install"]
    packages = []
    for entry in installs:
        digest = entry.get("download_info", {}).get("archive_info", {}).get("hash", "")
        if not digest.startswith("sha256="):
            raise Refusal("InstallFailed", f"the index gave no sha256 for {entry['metadata']['name']}")
        packages.append({"name": canonicalize_name(entry["metadata"]["name"]), "version": entry["metadata"]["version"],
                         "sha256": digest.removeprefix("sha256=")})
    return sorted(packages, key=lambda package: package["name"])


def environment_digest(packages):
    identity = f"cpython-{sys.version_info[0]}.{sys.version_info[1]}\n" + "".join(
        f"{package['name']}=={package['version']} sha256:{package['sha256']}\n" for package in packages)
    return hashlib.sha256(identity.encode()).hexdigest()


def install(pip, packages, environments):
    """Installs exactly `packages` (hash-checked) into environments/<digest>, unless it exists."""
    digest = environment_digest(packages)
    target = environments / digest
    if (target / "site-packages").is_dir():
        return digest
    environments.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=".staging-", dir=environments))
    try:
        pins = staging / "requirements.txt"
        pins.write_text("".join(f"{p['name']}=={p['version']} --hash=sha256:{p['sha256']}\n" for p in packages))
        # Downloaded first (each file under the limit), then measured unpacked before anything is
        # unpacked: a wheel that inflates past the limit is refused without filling the disk.
        wheels, scratch = staging / "wheels", staging / "tmp"
        scratch.mkdir()
        result = pip.run("download", "--quiet", "--no-deps", "--require-hashes", "-d", str(wheels), "-r", str(pins),
                         scratch=scratch)
        if result.returncode == 0:
            unpacked = sum(entry.file_size for wheel in wheels.glob("*.whl") for entry in zipfile.ZipFile(wheel).infolist())
            if unpacked > pip.max_bytes:
                raise too_large(pip, f"the requirements take {unpacked // 2**20} MiB unpacked")
            result = pip.run("install", "--quiet", "--no-deps", "--require-hashes", "--no-compile", "--no-index",
                             "--find-links", str(wheels), "--target", str(staging / "site-packages"), "-r", str(pins),
                             scratch=scratch)
        if result.returncode != 0:
            if "THESE PACKAGES DO NOT MATCH THE HASHES" in result.stderr:
                raise Refusal("InstallFailed", f"{pip.index_location()} now serves files whose sha256 differs from the recorded ones")
            if "[Errno 27]" in result.stderr:
                raise too_large(pip, "a file of the requirements is over the limit")
            explain_failure(pip, result.stderr, packages)
        shutil.rmtree(wheels)
        shutil.rmtree(scratch)
        size = sum(path.stat().st_size for path in staging.rglob("*") if path.is_file() and not path.is_symlink())
        if size > pip.max_bytes:
            raise too_large(pip, f"the requirements take {size // 2**20} MiB installed")
        pins.unlink()
        # What the server checks before it blames a failed import on a damaged environment.
        site = staging / "site-packages"
        (staging / "manifest").write_text("".join(
            f"{path.stat().st_size} {path.relative_to(site)}\n" for path in sorted(site.rglob("*"))
            if path.is_file() and not path.is_symlink()))
        # The zygote reads it as an unprivileged user; mkdtemp made it private.
        staging.chmod(0o755)
        try:
            staging.rename(target)
        except OSError:
            if not (target / "site-packages").is_dir():  # not another install of the same set, finished first
                raise
        return digest
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def top_level_modules(requirements, environment):
    """The importable top-level names of the declared distributions, from the environment or the host."""
    paths = ([str(environment)] if environment else []) + sys.path
    modules = []
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        found = next((dist for dist in importlib.metadata.distributions(path=paths)
                      if canonicalize_name(dist.metadata["Name"] or "") == name), None)
        if found is None:
            continue
        names = (found.read_text("top_level.txt") or "").split()
        if not names:
            names = {pathlib.PurePath(str(file)).parts[0].removesuffix(".py") for file in found.files or []
                     if not str(file).startswith(("..", "/")) and str(pathlib.PurePath(str(file)).parts[0]).count(".") <= 1
                     and not pathlib.PurePath(str(file)).parts[0].endswith((".dist-info", ".data", ".pth"))}
        modules += sorted(module for module in names if module.isidentifier() and module not in modules)
    return modules


def main(arguments):
    mode, environments, flags = arguments[0], pathlib.Path(arguments[1]), arguments[2:]
    timeout = float(os.environ.get("PYHOST_INSTALL_TIMEOUT", "300"))
    max_bytes = int(os.environ.get("PYHOST_INSTALL_MAX_BYTES", str(2 * 2**30)))
    pip = Pip(flags, time.monotonic() + timeout, max_bytes)
    try:
        if mode == "resolve":
            declared = declared_requirements(sys.stdin.read())
            if declared is None:
                return {"declared": None}
            requirements, block = declared
            packages = resolve(pip, requirements) if requirements else []
            digest = install(pip, packages, environments) if packages else None
            base = base_distributions()
            return {
                "block": block,
                "declared": [str(requirement) for requirement in requirements],
                "packages": packages,
                "environment": digest,
                "shadows": [package["name"] for package in packages if package["name"] in base],
                "modules": top_level_modules(requirements, environments / digest / "site-packages" if digest else None),
            }
        if mode == "install":
            recorded = json.loads(sys.stdin.read())
            if install(pip, recorded["packages"], environments) != recorded["environment"]:
                raise Refusal("InstallFailed", "the recorded packages do not add up to the recorded environment")
            return {"environment": recorded["environment"]}
        raise Refusal("InstallFailed", f"unknown mode {mode}")
    except Refusal as refusal:
        return {"error": {"type": refusal.kind, "message": str(refusal)}}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
