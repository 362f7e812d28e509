"""A real PostgreSQL, several `pyhost serve` nodes sharing it, and nginx in front, all on loopback."""

import os
import pathlib
import shutil
import subprocess
import tempfile
import time

from server import Server, free_port, wait_until

POSTGRES_BIN = pathlib.Path("/usr/lib/postgresql/15/bin")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
# The store's role and password: the nodes get the password from PGPASSWORD, never from a flag.
ROLE, PASSWORD, DATABASE = "pyhost", "store-s3cret", "pyhost"


def postgres_installed():
    return (POSTGRES_BIN / "initdb").exists()


class Postgres:
    """PostgreSQL 15 from Debian's package: initdb into a temporary folder of its own (the postgres
    account cannot enter pytest's), on a private port of 127.0.0.1 and a socket in that folder only,
    password (SCRAM) logins over TCP. Runs as the postgres account when root. `remove` deletes it."""

    def __init__(self):
        self.root = pathlib.Path(tempfile.mkdtemp(prefix="pyhost-pg-"))
        if os.getuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self.data = self.root / "data"
        self.port = free_port()
        self._as_owner("initdb", "-D", self.data, "-U", "postgres", "--auth-local=trust",
                       "--auth-host=scram-sha-256", "-E", "UTF8")
        self.start()
        self.psql(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")
        self._as_owner("createdb", "-h", self.root, "-p", self.port, "-U", "postgres", "-O", ROLE, DATABASE)
        self.url = f"postgres://{ROLE}@127.0.0.1:{self.port}/{DATABASE}"

    def _as_owner(self, tool, *arguments):
        command = [str(POSTGRES_BIN / tool), *map(str, arguments)]
        if os.getuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        # Output to a file: the server pg_ctl starts keeps a pipe open past pg_ctl's exit.
        with open(self.root / "tools.log", "ab") as log:
            subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT, cwd="/", timeout=60)

    def psql(self, sql):
        command = [str(POSTGRES_BIN / "psql"), "-h", str(self.root), "-p", str(self.port), "-U", "postgres",
                   "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-Atc", sql]
        if os.getuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=True, capture_output=True, text=True, cwd="/", timeout=30).stdout

    def start(self):
        self._as_owner("pg_ctl", "-D", self.data, "-l", self.root / "server.log", "-w", "-o",
                       f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1", "start")

    def stop(self):
        self._as_owner("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def remove(self):
        """Stops the server if it runs, and deletes its folder."""
        if (self.data / "postmaster.pid").exists():
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class Nginx:
    """nginx round-robin over `ports`; the next node takes a call whose node refused the connection."""

    def __init__(self, root, ports):
        self.root = pathlib.Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        servers = "".join(f"        server 127.0.0.1:{port};\n" for port in ports)
        config = self.root / "nginx.conf"
        config.write_text(CONFIG_TEMPLATE.format(root=self.root, servers=servers, port=self.port))
        self.process = subprocess.Popen([NGINX, "-p", str(self.root), "-c", str(config)],
                                        stdout=subprocess.DEVNULL, stderr=open(self.root / "stderr.log", "ab"))
        if not wait_until(self._listening, timeout=10):
            raise RuntimeError(f"nginx did not start: {(self.root / 'error.log').read_text()}")

    def _listening(self):
        import socket
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


# The reference configuration of docs/scale-out.md, with this run's ports and folders.
CONFIG_TEMPLATE = """\
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    upstream pyhost {{
{servers}    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://pyhost;
            proxy_set_header Host $host;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_next_upstream error timeout;
            proxy_connect_timeout 1s;
        }}
    }}
}}
"""


class Cluster:
    """`count` nodes sharing one PostgreSQL, each with its own --data-dir and port (and `arguments`), behind nginx."""

    def __init__(self, root, count=3, arguments=()):
        root = pathlib.Path(root)
        self.postgres = Postgres()
        self.environment = {"PYHOST_STORE": self.postgres.url, "PGPASSWORD": PASSWORD}
        self.nodes = []
        self.nginx = None
        try:
            for index in range(count):
                self.nodes.append(Server(root / f"node{index}", "--node-name", f"node{index}", "--timeout", "5",
                                         *arguments, env=self.environment))
            self.nginx = Nginx(root / "nginx", [node.port for node in self.nodes])
        except BaseException:
            self.stop()
            raise
        self.front = Server.__new__(Server)
        self.front.url, self.front.token = self.nginx.url, None

    def serving(self, node, name):
        """The version `node` serves of `name`, or None."""
        reply = node.request("GET", f"/functions/{name}")
        return reply.json()["version"] if reply.status == 200 else None

    def wait_served(self, name, version, nodes=None, timeout=1.0):
        """Seconds until every node serves `version` of `name` (None: deleted), or None past `timeout`."""
        started = time.monotonic()
        pending = list(nodes or self.nodes)
        while pending and time.monotonic() - started < timeout:
            pending = [node for node in pending if self.serving(node, name) != version]
            if pending:
                time.sleep(0.005)
        return None if pending else time.monotonic() - started

    def stop(self):
        """Stops everything, whatever fails; returns each node's exit status (a node that does not
        stop on SIGTERM within 20 s is killed and counts as None)."""
        if self.nginx:
            self.nginx.stop()
        statuses = []
        for node in self.nodes:
            try:
                statuses.append(node.stop())
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait()
                statuses.append(None)
        self.postgres.remove()
        return statuses
