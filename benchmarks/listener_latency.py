"""How long a listener waits: the album search, and a list edit until its new ranking.

On the demo world, in a temporary data folder and Dagster home (nothing of the checkout's
`data/` is touched):

1. writes the demo world and runs `albumrec materialize --workers 1 --executor in_process`, as
   `make demo` does, and times that materialize step;
2. starts `dagster dev -w workspace.yaml` (webserver and daemon), as `make dev` does, with the
   instance configuration `make dev` writes;
3. launches the `album_search` job for today's partition through GraphQL and times it from the
   launch to success;
4. flips one label of the listener's list and times it until the liked-list sensor's run has
   materialized a new `album_recommendations` (the sensor's interval included);
5. prints the wall times beside the time spent in steps, and the targets.

    python benchmarks/listener_latency.py [--keep WORKDIR]

Machines are noisy: run it on a quiet machine, and read the step times beside the wall times.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from albumrec_pipeline.instance_config import write_instance_config  # noqa: E402
from albumrec_pipeline_tests.dagster_server import (  # noqa: E402
    RunningServer,
    free_port,
    server_environment,
    stop,
    wait_until_ready,
)

TARGETS = {"materialize (make demo)": 40.0, "album_search": 15.0, "list edit -> new ranking": 45.0}
RUN_QUERY = """
query ($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { status stepStats { stepKey status startTime endTime } }
  }
}
"""
LAUNCH = """
mutation ($params: ExecutionParams!) {
  launchPipelineExecution(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""
LATEST_RANKING = """
{
  assetOrError(assetKey: {path: ["album_recommendations"]}) {
    ... on Asset { assetMaterializations(limit: 1) { timestamp runId } }
  }
}
"""
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


def graphql(server: RunningServer, query: str, variables: dict | None = None) -> dict:
    import urllib.request

    request = urllib.request.Request(
        f"{server.url}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=30) as response:
        answer = json.loads(response.read())
    if answer.get("errors"):
        raise RuntimeError(f"GraphQL errors: {answer['errors']}")
    return answer["data"]


def step_seconds(stats: list[dict]) -> float:
    return sum(step["endTime"] - step["startTime"] for step in stats if step["startTime"] and step["endTime"])


def wait_for_run(server: RunningServer, run_id: str, deadline: float) -> dict:
    while time.monotonic() < deadline:
        run = graphql(server, RUN_QUERY, {"runId": run_id})["runOrError"]
        if run.get("status") in FINISHED:
            return run
        time.sleep(0.25)
    raise TimeoutError(f"run {run_id} did not finish in time")


def latest_ranking(server: RunningServer) -> tuple[float, str] | None:
    materializations = (graphql(server, LATEST_RANKING)["assetOrError"] or {}).get("assetMaterializations") or []
    if not materializations:
        return None
    return float(materializations[0]["timestamp"]) / 1000, materializations[0]["runId"]


def launch_album_search(server: RunningServer, partition: str) -> tuple[float, float]:
    from albumrec_pipeline.definitions import defs

    run_config = defs.resolve_job_def("album_search").partitioned_config.get_run_config_for_partition_key(partition)
    params = {
        "selector": {"repositoryLocationName": "albumrec", "repositoryName": "__repository__", "pipelineName": "album_search"},
        "runConfigData": run_config,
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]},
    }
    started = time.monotonic()
    launched = graphql(server, LAUNCH, {"params": params})["launchPipelineExecution"]
    if launched["__typename"] != "LaunchRunSuccess":
        raise RuntimeError(f"album_search did not launch: {launched}")
    run = wait_for_run(server, launched["run"]["runId"], started + 600)
    if run["status"] != "SUCCESS":
        raise RuntimeError(f"album_search ended {run['status']}")
    return time.monotonic() - started, step_seconds(run["stepStats"])


def edit_list_until_new_ranking(server: RunningServer, liked_list: Path) -> tuple[float, float]:
    before = latest_ranking(server)
    lines = liked_list.read_text(encoding="utf-8").splitlines()
    mbid, label = lines[1].rsplit(",", 1)
    lines[1] = f"{mbid},{1 - int(label)}"
    started = time.monotonic()
    liked_list.write_text("\n".join(lines) + "\n", encoding="utf-8")
    deadline = started + 600
    while time.monotonic() < deadline:
        latest = latest_ranking(server)
        if latest is not None and latest != before:
            elapsed = time.monotonic() - started
            # The run goes on after the ranking (explanations, playlist): its steps, once it ends.
            run = wait_for_run(server, latest[1], deadline)
            return elapsed, step_seconds(run["stepStats"])
        time.sleep(0.25)
    raise TimeoutError("no new album_recommendations within 10 minutes of the edit")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    arguments = parser.parse_args()
    workdir = arguments.keep or Path(tempfile.mkdtemp(prefix="albumrec-latency-"))
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir, dagster_home = workdir / "data", workdir / "dagster_home"
    write_instance_config(dagster_home / "dagster.yaml")
    environment = server_environment(dagster_home, data_dir)
    binaries = Path(sys.executable).parent

    subprocess.run([sys.executable, "-m", "albumrec_pipeline.demo"], env=environment, check=True, cwd=REPO_ROOT)
    started = time.monotonic()
    subprocess.run(
        [str(binaries / "albumrec"), "materialize", "--workers", "1", "--executor", "in_process"],
        env=environment, check=True, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
    )
    walls = {"materialize (make demo)": (time.monotonic() - started, None)}

    port = free_port()
    log_out, log_err = workdir / "dev.stdout.log", workdir / "dev.stderr.log"
    with log_out.open("wb") as stdout, log_err.open("wb") as stderr:
        process = subprocess.Popen(
            [str(binaries / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO_ROOT, env=environment, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
            start_new_session=True,
        )
    server = RunningServer(f"http://127.0.0.1:{port}", process, log_out, log_err)
    try:
        wait_until_ready(server, 240)
        # Let the daemon's first sensor ticks settle the cursor on the list as materialized.
        time.sleep(15)
        today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
        walls["album_search"] = launch_album_search(server, today)
        walls["list edit -> new ranking"] = edit_list_until_new_ranking(server, data_dir / "demo" / "liked_tracks.csv")
    finally:
        stop(process)

    print(f"\nlistener latency on the demo world ({os.cpu_count()} cores), seconds")
    print(f"{'wait':<28}{'wall':>8}{'in steps':>10}{'target':>9}{'wall/target':>13}")
    for name, (wall, steps) in walls.items():
        target = TARGETS[name]
        shown = "-" if steps is None else f"{steps:.1f}"
        print(f"{name:<28}{wall:>8.1f}{shown:>10}{target:>9.0f}{wall / target:>13.2f}")
    print(f"(work folder: {workdir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
