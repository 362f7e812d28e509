"""Start the real `pyhost serve` on a free port and talk to it over HTTP."""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

REPO = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "python"))

import proctree  # noqa: E402

BINARY = pathlib.Path(os.environ.get("PYHOST_BIN", REPO / ".build" / "debug" / "pyhost"))
EXAMPLES = REPO / "python" / "examples"
# The token of the `guarded` fixture's server.
DEPLOY_TOKEN = "s3cret-deploy-token"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"Reply({self.status}, {self.body[:300]!r})"


class Server:
    """One `pyhost serve` process with its own data directory."""

    def __init__(self, data_dir, *arguments, prefix=(), env=None, token=None, binary=BINARY):
        if not pathlib.Path(binary).exists():
            raise RuntimeError(f"{binary} is missing: run the README's test command, which builds it")
        self.data_dir = pathlib.Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = pathlib.Path(data_dir) / "server.log"
        self.token = token
        command = [*prefix, str(binary), "serve", "--port", str(self.port), "--data-dir", str(data_dir), *arguments]
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT,
                                        env={**os.environ, **(env or {})})
        self._wait_until_ready()

    def _wait_until_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pyhost exited with {self.process.returncode}: {self.log_path.read_text()}")
            try:
                if self.request("GET", "/healthz").status == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"pyhost did not answer within {timeout} s: {self.log_path.read_text()}")

    def request(self, method, path, body=None, headers=None, timeout=60):
        if isinstance(body, str):
            body = body.encode()
        headers = dict(headers or {})
        if self.token and "Authorization" not in headers:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return Reply(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            return Reply(error.code, error.headers, error.read())

    def deploy(self, name, source, headers=None):
        return self.request("POST", f"/functions/{name}", source, headers)

    def invoke(self, name, payload=None, raw=None):
        body = raw if raw is not None else json.dumps(payload)
        return self.request("POST", f"/functions/{name}/invoke", body, {"Content-Type": "application/json"})

    def settled_descendants(self, spares=2, timeout=10):
        """Descendants once the spare workers are all forked and warm."""
        deadline = time.monotonic() + timeout
        while self.request("GET", "/healthz").json()["workers"]["spare"] < spares:
            if time.monotonic() > deadline:
                raise AssertionError("the spare workers did not start")
            time.sleep(0.02)
        return self.descendants()

    def live_descriptors(self):
        """The server's sockets, pipes and pidfds: what workers and connections hold (the store's
        readers, files, grow with concurrent reads and stay, as GRDB's pool keeps them)."""
        links = proctree.descriptors(self.process.pid)
        return len([link for link in links if link.startswith(("socket:", "pipe:", "anon_inode:[pidfd]"))])

    def descendants(self):
        """Pids of every process under the server (the zygote and its workers)."""
        return proctree.descendants(self.process.pid)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=timeout)
        self.log.close()
        return self.process.returncode


def wait_until(predicate, timeout=15, interval=0.05):
    """Whether `predicate` became true within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def pid_alive(pid):
    """Whether `pid` names a live process (not a zombie)."""
    try:
        status = pathlib.Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status


def run_to_exit(data_dir, *arguments, prefix=(), port=None, timeout=60):
    """Runs `pyhost serve` expecting it to refuse to start: (exit code, output)."""
    port = port or free_port()
    command = [*prefix, str(BINARY), "serve", "--port", str(port), "--data-dir", str(data_dir), *arguments]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    return finished.returncode, finished.stdout + finished.stderr
