"""scripts/install: the installed server runs from any directory, with nothing from the checkout."""

import os
import subprocess

from server import BINARY, REPO, Server


def test_the_installed_server_runs_anywhere_without_the_checkout(tmp_path):
    prefix = tmp_path / "prefix"
    subprocess.run([REPO / "scripts" / "install", prefix], env={**os.environ, "PYHOST_INSTALL_BINARY": str(BINARY)},
                   check=True, capture_output=True)
    installed = prefix / "bin" / "pyhost"
    assert (prefix / "share" / "pyhost" / "pyhost_runtime" / "zygote.py").is_file()
    version = subprocess.run([installed, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.strip() == "0.1.0"
    # An empty tmpfs over the checkout, in a mount namespace of the server's own: nothing in it can be reached.
    hidden = ("unshare", "--mount", "sh", "-c", f'mount -t tmpfs none {REPO} && cd / && exec "$0" "$@"')
    server = Server(tmp_path / "data", prefix=("env", "-u", "PYHOST_RUNTIME_DIR", *hidden), binary=installed)
    try:
        assert server.deploy("installed", "import pandas\ndef handle(r):\n    return pandas.__version__\n").status == 201
        assert server.invoke("installed", {}).json() == "1.5.3"
        assert server.request("GET", "/openapi.json").status == 200
        assert server.request("GET", "/").status == 200
    finally:
        assert server.stop() == 0
