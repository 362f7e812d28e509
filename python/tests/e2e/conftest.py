import os
import sys
import pathlib

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from server import DEPLOY_TOKEN, Server  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server shared by a test module, with a 3 s deadline so timeout tests stay short."""
    instance = Server(tmp_path_factory.mktemp("data"), "--timeout", "3")
    yield instance
    assert instance.stop() == 0


@pytest.fixture
def start_server(tmp_path):
    """Starts servers with custom flags, stopped at the end of the test."""
    started = []

    def start(*arguments, data_dir=None):
        instance = Server(data_dir or tmp_path / f"data{len(started)}", *arguments)
        started.append(instance)
        return instance

    yield start
    for instance in started:
        instance.stop()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """A server shared by a test module that requires DEPLOY_TOKEN to deploy, roll back and delete."""
    instance = Server(tmp_path_factory.mktemp("guarded"), "--deploy-token", DEPLOY_TOKEN)
    yield instance
    assert instance.stop() == 0


@pytest.fixture(scope="session")
def wheels(tmp_path_factory):
    """An offline package index: a folder of wheels built by the test run itself."""
    import wheelhouse

    # A pandas that stands in for another version: it loads the host's pandas and renames it,
    # enough to show that an environment's pandas replaces the host's.
    shadow = (
        "import importlib.machinery, importlib.util, sys\n"
        "here = __path__[0]\n"
        "spec = importlib.machinery.PathFinder.find_spec('pandas', [p for p in sys.path if p and not here.startswith(p)])\n"
        "real = importlib.util.module_from_spec(spec)\n"
        "sys.modules['pandas'] = real\n"
        "spec.loader.exec_module(real)\n"
        "real.__version__ = '99.0'\n"
    )
    return wheelhouse.build(tmp_path_factory.mktemp("index") / "wheels", [
        wheelhouse.package("tinyhello", "1.0", "VALUE = 'hello 1.0'\n"),
        wheelhouse.package("tinyhello", "2.0", "VALUE = 'hello 2.0'\n"),
        wheelhouse.package("tinyuser", "1.0", "import tinyhello\nVALUE = 'user of ' + tinyhello.VALUE\n", ["tinyhello>=1"]),
        wheelhouse.package("needsoldnumpy", "1.0", "", ["numpy<1.0"]),
        wheelhouse.package("pandas", "99.0", shadow),
        wheelhouse.package("raisesatimport", "1.0", "raise RuntimeError('this package refuses to load')\n"),
        wheelhouse.package("leavesathread", "1.0", "import threading, time\nthreading.Thread(target=time.sleep, args=(600,), daemon=True).start()\n"),
        wheelhouse.package("sleepsatimport", "1.0", "import time\ntime.sleep(3600)\n"),
        # Import code that writes a forged event on the zygote's control socket (fd 3).
        wheelhouse.package("forgesevents", "1.0", "import os\nos.write(3, b'{\"started\": {\"python\": \"x\"}}')\n"),
        # 8 MiB of zeros: a wheel of a few KiB that unpacks far past a small --install-max-mib.
        wheelhouse.package("zipbomb", "1.0", "", files={"zeros.bin": bytes(8 << 20)}),
        # A top-level `json` module, which must not replace the standard library's.
        wheelhouse.package("fakejson", "1.0", "", module="json"),
        wheelhouse.package("hugepkg", "1.0", "", files={"blob.bin": os.urandom(3 << 20)}),
    ], sdist_only=[wheelhouse.package("sdistonly", "1.0", "VALUE = 1\n")])
