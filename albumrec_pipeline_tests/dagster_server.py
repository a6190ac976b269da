"""A Dagster webserver for the albumrec code location, started and stopped by a test.

`dagster-webserver` rather than `dagster dev`: the UI tests only read definitions, so the daemon
(schedules, sensors, run queue) would be one more process competing for a small machine's cores
without anything to do. The webserver still starts the code location's gRPC server itself.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

REPO_ROOT = Path(__file__).resolve().parent.parent
CODE_LOCATION_MODULE = "albumrec_pipeline.definitions"

# Loopback only: a proxy named in the environment must not see these requests.
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))

_LOCATIONS_QUERY = """
{
  workspaceOrError {
    __typename
    ... on PythonError { message }
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ... on PythonError { message stack } }
      }
    }
  }
}
"""


class ServerFailed(RuntimeError):
    """The webserver exited, or its code location failed to load, or it was not ready in time."""


@dataclass
class RunningServer:
    url: str
    process: subprocess.Popen
    stdout_path: Path
    stderr_path: Path

    def output(self, limit: int = 8000) -> str:
        """The end of what the server printed, for failure messages."""
        parts = []
        for label, path in (("stderr", self.stderr_path), ("stdout", self.stdout_path)):
            text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
            parts.append(f"--- {label} ({path}) ---\n{text[-limit:]}")
        return "\n".join(parts)

    def graphql(self, query: str, timeout: float = 10.0) -> dict:
        request = urllib.request.Request(
            f"{self.url}/graphql",
            data=json.dumps({"query": query}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with _LOCAL.open(request, timeout=timeout) as response:
            return json.loads(response.read())


def free_port() -> int:
    """A port free right now on 127.0.0.1 (the server binds it moments later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_dagster_home(home: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    return home


def server_environment(dagster_home: Path, data_dir: Path) -> dict[str, str]:
    """The caller's environment, with every albumrec and webserver setting pointed at temporary folders.

    Settings a developer may have exported (dump folders, live sources, webserver options) are
    dropped, so the server sees only the temporary data folder and never the checkout's `data/`.
    """
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("ALBUMREC_", "DAGSTER_WEBSERVER_")) and name != "DAGSTER_HOME"
    }
    environment.update(
        DAGSTER_HOME=str(dagster_home),
        ALBUMREC_DATA_DIR=str(data_dir),
        PYTHONUNBUFFERED="1",
    )
    return environment


def _alive_or_raise(server: RunningServer) -> None:
    code = server.process.poll()
    if code is not None:
        raise ServerFailed(f"dagster-webserver exited with code {code} before it was ready\n{server.output()}")


def _location_problem(server: RunningServer) -> str | None:
    """None once every code location has loaded; otherwise what is still missing (or raises on a load error)."""
    answer = server.graphql(_LOCATIONS_QUERY)
    workspace = (answer.get("data") or {}).get("workspaceOrError") or {}
    if workspace.get("__typename") != "Workspace":
        return f"workspace not available: {answer}"
    entries = workspace["locationEntries"]
    if not entries:
        return "no code locations yet"
    for entry in entries:
        loaded = entry.get("locationOrLoadError") or {}
        if loaded.get("__typename") == "PythonError":
            stack = "".join(loaded.get("stack") or [])
            message = f"code location {entry['name']} failed to load: {loaded['message']}"
            raise ServerFailed(f"{message}\n{stack}\n{server.output()}")
        if entry["loadStatus"] != "LOADED" or not loaded:
            return f"code location {entry['name']} is {entry['loadStatus']}"
    return None


def wait_until_ready(server: RunningServer, deadline_seconds: float) -> None:
    """Poll /server_info until it answers, then the workspace until the code location has loaded."""
    deadline = time.monotonic() + deadline_seconds
    last = "no answer from /server_info yet"
    while time.monotonic() < deadline:
        _alive_or_raise(server)
        try:
            with _LOCAL.open(f"{server.url}/server_info", timeout=5) as response:
                if response.status == 200:
                    break
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            last = f"/server_info: {error}"
        time.sleep(0.5)
    else:
        message = f"dagster-webserver not answering after {deadline_seconds:.0f} s ({last})"
        raise ServerFailed(f"{message}\n{server.output()}")
    while time.monotonic() < deadline:
        _alive_or_raise(server)
        try:
            last = _location_problem(server) or ""
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            last = f"/graphql: {error}"
        if not last:
            return
        time.sleep(0.5)
    raise ServerFailed(f"code location not loaded after {deadline_seconds:.0f} s ({last})\n{server.output()}")


def stop(process: subprocess.Popen, grace_seconds: float = 5.0) -> None:
    """End the server's whole process group (the webserver and its code server).

    SIGTERM first so the webserver can close its storage; then SIGKILL on the group regardless,
    because the code server child has been seen outliving a SIGTERM, and some processes in this
    kind of sandbox ignore it altogether.
    """
    group = process.pid  # start_new_session=True: the server leads its own group
    try:
        os.killpg(group, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


@contextmanager
def running_server(
    command: list[str], workdir: Path, environment: dict[str, str], log_name: str, deadline_seconds: float
) -> Iterator[RunningServer]:
    """Start a Dagster server process on `command` (which names its loopback `--port`), wait until its
    code location has loaded, and stop its whole process group on the way out.

    Its output goes to `workdir/<log_name>.stdout.log` and `.stderr.log`: files, not pipes, since
    nobody reads a pipe while the test runs and a full one blocks the server.
    """
    stdout_path, stderr_path = workdir / f"{log_name}.stdout.log", workdir / f"{log_name}.stderr.log"
    port = command[command.index("-p") + 1]
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,  # its own process group: stop() ends it with every child and run
        )
    server = RunningServer(f"http://127.0.0.1:{port}", process, stdout_path, stderr_path)
    try:
        wait_until_ready(server, deadline_seconds)
        yield server
    finally:
        stop(process)


@contextmanager
def dagster_webserver(workdir: Path, deadline_seconds: float = 120.0) -> Iterator[RunningServer]:
    """A webserver for the albumrec code location on a free loopback port, with everything under `workdir`.

    `workdir` receives the Dagster home, the (empty) albumrec data folder and the server's output.
    With no dump archives, the ingest assets have no partitions, and the code location loads.
    """
    dagster_home = write_dagster_home(workdir / "dagster_home")
    data_dir = workdir / "albumrec_data"
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "dagster_webserver",
        "-h", "127.0.0.1", "-p", str(free_port()),
        "-m", CODE_LOCATION_MODULE, "-d", str(REPO_ROOT),
    ]  # fmt: skip
    with running_server(command, workdir, server_environment(dagster_home, data_dir), "webserver", deadline_seconds) as server:
        yield server
