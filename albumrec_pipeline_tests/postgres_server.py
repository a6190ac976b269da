"""A throwaway PostgreSQL server for a test: `initdb` into a temporary folder, `pg_ctl` to start and
stop it, listening on 127.0.0.1 only, on a free port, with its unix socket in the same folder.

The server programs are looked up on PATH first, then in Debian's /usr/lib/postgresql/<version>/bin
(the `postgresql` package does not put `initdb` or `pg_ctl` on PATH). PostgreSQL refuses to run as
root, so when the tests run as root, the server runs as the `postgres` user that Debian's package
creates (or as `nobody`), and its folder is made theirs.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from albumrec_pipeline_tests.dagster_server import free_port

SERVER_PROGRAMS = ("initdb", "pg_ctl", "postgres")
DEBIAN_SERVER_FOLDERS = "/usr/lib/postgresql/*/bin"
# Who runs the server when the tests run as root, in this order.
SERVER_USERS = ("postgres", "nobody")
START_SECONDS = 60


class PostgresFailed(RuntimeError):
    """initdb, pg_ctl or the server failed; the message holds their output."""


def _has_server_programs(folder: Path) -> bool:
    return all(os.access(folder / program, os.X_OK) for program in SERVER_PROGRAMS)


def _version_key(folder: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/15/bin: newest major version first, numerically (16 before 9.6).
    return tuple(int(part) for part in re.findall(r"\d+", folder.parent.name))


def find_server_programs() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres together, or None when PostgreSQL's server
    is not installed. PATH may hold symlinks into the real folder: both are tried."""
    candidates = []
    found = shutil.which("initdb")
    if found:
        candidates += [Path(found).parent, Path(found).resolve().parent]
    candidates += sorted(Path("/").glob(DEBIAN_SERVER_FOLDERS.lstrip("/")), key=_version_key, reverse=True)
    return next((folder for folder in candidates if _has_server_programs(folder)), None)


def _server_user() -> pwd.struct_passwd | None:
    """The account the server runs as: None for this process's own, when it is not root."""
    if os.geteuid() != 0:
        return None
    for name in SERVER_USERS:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PostgresFailed(f"running as root, and no user of {', '.join(SERVER_USERS)} exists to run PostgreSQL as")


@dataclass
class PostgresServer:
    host: str
    port: int
    user: str
    password: str
    folder: Path
    programs: Path
    account: pwd.struct_passwd | None

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def log_path(self) -> Path:
        return self.folder / "server.log"

    def log(self, limit: int = 4000) -> str:
        """The end of the server's log, for failure messages."""
        text = self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""
        return f"--- PostgreSQL log ({self.log_path}) ---\n{text[-limit:]}"

    def connect(self, database: str = "postgres"):
        import psycopg2

        return psycopg2.connect(
            host=self.host, port=self.port, user=self.user, password=self.password, dbname=database, connect_timeout=10
        )

    def create_database(self, name: str) -> None:
        connection = self.connect()
        try:
            connection.autocommit = True  # CREATE DATABASE cannot run inside a transaction
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()

    def run(self, program: str, *arguments: str, timeout: float = 120) -> str:
        """Run one of the server programs as the server's account; its output, or PostgresFailed."""
        command = [str(self.programs / program), *arguments]
        as_account = (
            {"user": self.account.pw_uid, "group": self.account.pw_gid, "extra_groups": []} if self.account else {}
        )
        # Output to a file, not a pipe: `pg_ctl start` leaves the server running in the background,
        # and a pipe it inherited would keep this call waiting until the server stops.
        with tempfile.TemporaryFile() as output:
            completed = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=self.folder,
                # The C locale exists everywhere; the server's own settings come from the arguments.
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
                timeout=timeout,
                **as_account,
            )
            output.seek(0)
            text = output.read().decode("utf-8", errors="replace")
        if completed.returncode != 0:
            raise PostgresFailed(f"{' '.join(command)} exited with code {completed.returncode}:\n{text}\n{self.log()}")
        return text

    def postmaster_pid(self) -> int | None:
        pid_file = self.data_dir / "postmaster.pid"
        try:
            return int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None


def _give_to(account: pwd.struct_passwd | None, *paths: Path) -> None:
    if account is not None:
        for path in paths:
            os.chown(path, account.pw_uid, account.pw_gid)


def _initdb(server: PostgresServer) -> None:
    password_file = server.folder / "password"
    password_file.write_text(server.password + "\n", encoding="utf-8")
    password_file.chmod(0o600)
    _give_to(server.account, password_file)
    try:
        server.run(
            "initdb",
            "--pgdata", str(server.data_dir),
            "--username", server.user,
            "--pwfile", str(password_file),
            # Over TCP a password is asked for, as on a real deployment; the socket is this folder's own.
            "--auth-host", "scram-sha-256",
            "--auth-local", "trust",
            "--encoding", "UTF8",
            "--locale", "C",
            "--no-sync",  # a test's database need not survive a power cut
        )  # fmt: skip
    finally:
        password_file.unlink(missing_ok=True)


def _start(server: PostgresServer) -> None:
    options = " ".join(
        [
            "-c listen_addresses=127.0.0.1",
            f"-p {server.port}",
            f"-c unix_socket_directories={server.folder}",
            # Durability is not what is tested: skip the disk flushes that make a small machine wait.
            "-c fsync=off",
            "-c synchronous_commit=off",
            "-c full_page_writes=off",
        ]
    )
    server.run(
        "pg_ctl", "start",
        "--pgdata", str(server.data_dir),
        "--log", str(server.log_path),
        "--options", options,
        "--wait", "--timeout", str(START_SECONDS),
        timeout=START_SECONDS + 30,
    )  # fmt: skip


def stop_server(server: PostgresServer) -> None:
    """pg_ctl's fast shutdown (running sessions are ended); if that fails, the postmaster is killed
    by its own pid, so that no server outlives the test."""
    try:
        server.run("pg_ctl", "stop", "--pgdata", str(server.data_dir), "--mode", "fast", "--wait", "--timeout", "30")
        return
    except (PostgresFailed, subprocess.TimeoutExpired):
        pass
    pid = server.postmaster_pid()
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGKILL)  # the postmaster's children notice and exit on their own
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)


@contextmanager
def postgres_server(
    programs: Path, user: str = "albumrec", password: str = "albumrec-test"
) -> Iterator[PostgresServer]:
    """A running PostgreSQL server with `user` (a superuser, with this password) and its `postgres`
    database; stopped and its folder removed on exit, whatever happened inside.

    The folder is a new one under the system's temporary folder rather than pytest's tmp_path:
    pytest's folders are private to the user running the tests, and when that is root, the server's
    own account must be able to reach its folder.
    """
    account = _server_user()
    folder = Path(tempfile.mkdtemp(prefix="albumrec-postgres-"))
    server = PostgresServer("127.0.0.1", free_port(), user, password, folder, programs, account)
    try:
        _give_to(account, folder)
        _initdb(server)
        # free_port only says the port was free a moment ago: another process may take it first.
        for attempt in range(3):
            try:
                _start(server)
                break
            except PostgresFailed:
                if attempt == 2 or "already in use" not in server.log():
                    raise
                server.port = free_port()
        yield server
    finally:
        # Also after a start that timed out: the server may be up without pg_ctl having seen it.
        if server.postmaster_pid() is not None:
            stop_server(server)
        shutil.rmtree(folder, ignore_errors=True)
