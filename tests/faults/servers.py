"""PostgreSQL and RabbitMQ servers of the fault tests' own, so stopping them touches nothing else.

Each lives in a temporary directory with its own ports: PostgreSQL is `initdb` + `pg_ctl` on a
loopback port; RabbitMQ is a node with its own name, AMQP and distribution ports, Erlang port mapper,
cookie, configuration, (empty) plugin list, data and logs. Neither reads the machine's configuration
(/etc/rabbitmq, the host cluster's postgresql.conf), and the host's servers are never addressed.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.conftest import free_port

#: a server that is not up by then will not come up
START_TIMEOUT_S = 90


class ServerMissing(Exception):
    """The binaries to run a private server are not installed."""


# --- PostgreSQL --------------------------------------------------------------------------------


def postgres_bindir() -> Path:
    """Where initdb, pg_ctl and postgres live: `pg_config --bindir`, then PATH, then Debian's layout."""
    candidates: list[Path] = []
    if pg_config := shutil.which("pg_config"):
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            candidates.append(
                Path(subprocess.run([pg_config, "--bindir"], capture_output=True, text=True).stdout.strip())
            )
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).parent)
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)
    for directory in candidates:
        if all((directory / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return directory
    raise ServerMissing(
        "no PostgreSQL server binaries (initdb, pg_ctl, postgres) found via pg_config, PATH or /usr/lib/postgresql"
    )


def unprivileged_user() -> pwd.struct_passwd | None:
    """PostgreSQL refuses to run as root: as root, run it as `postgres` (or `nobody`); else as ourselves."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise ServerMissing("running as root without a `postgres` or `nobody` user to run PostgreSQL as")


class PrivatePostgres:
    def __init__(self) -> None:
        self.bindir = postgres_bindir()
        self.user = unprivileged_user()
        self.root = Path(tempfile.mkdtemp(prefix="snapshotd-test-pg-"))
        if self.user is not None:
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        self.data = self.root / "data"
        self.port = free_port()
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        completed = subprocess.run(
            [str(self.bindir / tool), *args],
            cwd=self.root,
            user=self.user.pw_uid if self.user else None,
            group=self.user.pw_gid if self.user else None,
            extra_groups=[] if self.user else None,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} failed: {completed.stdout}{completed.stderr}")

    def start(self) -> None:
        # Durability settings off: these databases live for one test session.
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast`: what a restart does (open sessions are ended); `immediate`: a crash."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


# --- RabbitMQ ----------------------------------------------------------------------------------


def rabbitmq_sbin() -> Path:
    """The directory of the real rabbitmq-server and rabbitmqctl scripts (Debian's /usr/sbin ones are
    wrappers that switch to the system user and its home, which is the host node's)."""
    candidates = [Path("/usr/lib/rabbitmq/bin")]
    candidates += sorted(Path("/usr/lib/rabbitmq/lib").glob("rabbitmq_server-*/sbin"), reverse=True)
    if found := shutil.which("rabbitmq-server"):
        candidates.append(Path(found).parent)
    for directory in candidates:
        if (directory / "rabbitmq-server").exists() and (directory / "rabbitmqctl").exists():
            return directory
    raise ServerMissing("no RabbitMQ server scripts (rabbitmq-server, rabbitmqctl) found")


class PrivateRabbitMQ:
    def __init__(self) -> None:
        self.sbin = rabbitmq_sbin()
        self.root = Path(tempfile.mkdtemp(prefix="snapshotd-test-rabbitmq-"))
        self.node = f"snapshotd-test-{secrets.token_hex(4)}@localhost"
        self.port, self.dist_port, self.epmd_port = free_port(), free_port(), free_port()
        self.process: subprocess.Popen[bytes] | None = None
        (self.root / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.port}\nlog.console = false\nlog.file.level = warning\n"
        )
        (self.root / "enabled_plugins").write_text("[].\n")  # no management (15672) or prometheus (15692)
        (self.root / "rabbitmq-env.conf").write_text("")  # instead of /etc/rabbitmq/rabbitmq-env.conf
        (self.root / "conf.d").mkdir()
        cookie = self.root / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(20))
        cookie.chmod(0o400)
        loopback = "-kernel inet_dist_use_interface {127,0,0,1}"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": str(self.root),  # the node's and the CLI's Erlang cookie
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port),  # a port mapper of its own, stopped with the node
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_CONF_ENV_FILE": str(self.root / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq.conf"),
            "RABBITMQ_CONFIG_FILES": str(self.root / "conf.d"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.root / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "RABBITMQ_PID_FILE": str(self.root / "rabbitmq.pid"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": loopback,
            "RABBITMQ_CTL_ERL_ARGS": loopback,
        }

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def ctl(self, *args: str) -> None:
        subprocess.run(
            [str(self.sbin / "rabbitmqctl"), "-q", "-n", self.node, *args],
            env=self.env,
            check=True,
            capture_output=True,
            timeout=START_TIMEOUT_S,
        )

    def start(self) -> None:
        with (self.root / "server.out").open("ab") as out:
            self.process = subprocess.Popen(
                [str(self.sbin / "rabbitmq-server")],
                env=self.env,
                cwd=self.root,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"RabbitMQ exited at start-up: {(self.root / 'server.out').read_text()[-2000:]}")
            with contextlib.suppress(subprocess.CalledProcessError):
                self.ctl("await_startup", "--timeout", "10")
                return
            time.sleep(0.5)
        raise RuntimeError(f"RabbitMQ did not start within {START_TIMEOUT_S} s")

    def stop_app(self) -> None:
        """Stop the broker inside the node: every connection drops, the listener closes."""
        self.ctl("stop_app")

    def start_app(self) -> None:
        self.ctl("start_app")

    def destroy(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(subprocess.SubprocessError):
                self.ctl("shutdown")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        epmd = shutil.which("epmd", path=self.env["PATH"] + ":/usr/lib/erlang/bin")
        if epmd is not None:
            subprocess.run(
                [epmd, "-port", str(self.epmd_port), "-kill"],
                env=self.env,
                capture_output=True,
                timeout=10,
                check=False,
            )
        shutil.rmtree(self.root, ignore_errors=True)
