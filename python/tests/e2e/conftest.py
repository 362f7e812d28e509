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
