"""The README's scale-out `dagster.yaml`, run for real: Postgres instance storage and the run queue.

A PostgreSQL server of the test's own holds the instance; `dagster dev` runs the webserver, the
daemon and the code location's server on it; five of the demo world's ingest partitions are
submitted through the webserver's GraphQL API all at once, as a backfill from the UI would be, and the
daemon's queue starts them at most `QUEUE_LIMIT` at a time, each run a process of its own with its
step in another (the multiprocess executor). What is checked is read back from Postgres.

One source of truth: the instance configuration is the README's `dagster.yaml` block itself (found
by the comment above it), not a copy. The test changes only what cannot run on this machine, and
checks that those parts are what it expects before changing them, so a README edit that moves
them fails here instead of being silently ignored:
- the Kubernetes run launcher becomes Dagster's default launcher (a process per run, here),
- the S3 compute log manager becomes the local one,
- the port becomes the test server's (a free one: 5432 may be taken),
- the queue limit becomes QUEUE_LIMIT, below the number of partitions, so that runs must wait.
The connection settings the README reads from environment variables (`{ env: DAGSTER_PG_HOST }`
and the like) are given by setting those variables, for `dagster dev` and for this process.

Needs PostgreSQL's server programs (`initdb`, `pg_ctl`, `postgres`; `.ci/run` installs Debian's
`postgresql` package). Without them the test skips, except under CI, where it fails so that a
missing server cannot pass unnoticed.
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys
import time
import urllib.request
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import dagster as dg
import pytest
import yaml

from albumrec_pipeline.cli import EXECUTORS
from albumrec_pipeline.definitions import QUIET_CONSOLE, build_definitions
from albumrec_pipeline.instance_config import instance_config
from albumrec_pipeline_tests.dagster_server import (
    REPO_ROOT,
    RunningServer,
    free_port,
    running_server,
    server_environment,
)
from albumrec_pipeline_tests.postgres_server import PostgresServer, find_server_programs, postgres_server

README = REPO_ROOT / "README.md"
README_BLOCK_MARKER = "<!-- scale-out dagster.yaml:"
WORKSPACE = REPO_ROOT / "workspace.yaml"
LOCATION = "albumrec"
REPOSITORY = "__repository__"  # the name Dagster gives the repository of a Definitions object
# Below the number of runs submitted, so that some must wait; two, to see runs side by side.
QUEUE_LIMIT = 2
# Two jobs sharing one queue: the demo world's AcousticBrainz JSON archives and its MusicBrainz
# release archive, five runs, so three rounds of QUEUE_LIMIT. Each run starts two processes that
# import the code location (seconds each on a small machine): the world's other archives (the CSV
# feature dumps, the tag archives) would add rounds, not anything this test checks.
SUBMITTED_JOBS = ("ingest_acousticbrainz", "ingest_musicbrainz")
SUBMITTED_ARCHIVES = re.compile(r"-json-|^release$")
PARTITION_TAG = "dagster/partition"
RUNS_DEADLINE_SECONDS = 420
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}

# Loopback only: a proxy named in the environment must not see these requests.
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _require_postgres() -> Path:
    programs = find_server_programs()
    if programs is not None:
        return programs
    message = (
        "PostgreSQL's server programs (initdb, pg_ctl, postgres) were not found on PATH or in "
        "/usr/lib/postgresql/*/bin: install Debian's postgresql package (apt-get install postgresql)"
    )
    if os.environ.get("CI"):
        pytest.fail(f"{message}; under CI this test must run, not skip")
    pytest.skip(message)


def readme_instance_config(readme: Path = README) -> dict[str, Any]:
    """The `dagster.yaml` block that follows the marker comment in the README's scale-out section."""
    text = readme.read_text(encoding="utf-8")
    marker = text.find(README_BLOCK_MARKER)
    assert marker >= 0, f"{readme} has no {README_BLOCK_MARKER!r} comment before the scale-out dagster.yaml"
    block = re.compile(r"```yaml\n(.*?)\n```", re.DOTALL).search(text, marker)
    assert block is not None, f"no ```yaml block after {README_BLOCK_MARKER!r} in {readme}"
    return yaml.safe_load(block.group(1))


def _expect(config: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    found: Any = config
    for part in path:
        assert isinstance(found, dict) and part in found, f"the README's dagster.yaml has no {'.'.join(path)}"
        found = found[part]
    assert found == value, f"the README's dagster.yaml has {'.'.join(path)}: {found!r}, the test replaces {value!r}"


def local_instance_config(readme_config: dict[str, Any], port: int, dagster_home: Path) -> dict[str, Any]:
    """The README's instance, with the launcher, compute logs, port and queue limit of this machine."""
    _expect(readme_config, ("run_launcher", "class"), "K8sRunLauncher")
    _expect(readme_config, ("compute_logs", "class"), "S3ComputeLogManager")
    _expect(readme_config, ("storage", "postgres", "postgres_db", "port"), 5432)
    _expect(readme_config, ("run_coordinator", "class"), "QueuedRunCoordinator")
    assert isinstance(readme_config["concurrency"]["runs"].get("max_concurrent_runs"), int)
    config = copy.deepcopy(readme_config)
    config["run_launcher"] = {"module": "dagster", "class": "DefaultRunLauncher"}
    config["compute_logs"] = {
        "module": "dagster._core.storage.local_compute_log_manager",
        "class": "LocalComputeLogManager",
        "config": {"base_dir": str(dagster_home / "compute_logs")},
    }
    config["storage"]["postgres"]["postgres_db"]["port"] = port
    config["concurrency"]["runs"]["max_concurrent_runs"] = QUEUE_LIMIT
    return config


def postgres_environment(readme_config: dict[str, Any], server: PostgresServer) -> dict[str, str]:
    """The environment variables the README's storage settings name, set to this server's values."""
    settings = readme_config["storage"]["postgres"]["postgres_db"]
    values = {"hostname": server.host, "username": server.user, "password": server.password}
    environment = {}
    for setting, value in values.items():
        named = settings[setting]
        assert isinstance(named, dict) and "env" in named, f"the README's postgres_db.{setting} is not a variable"
        environment[named["env"]] = value
    return environment


def graphql(url: str, query: str, variables: dict[str, Any] | None = None, timeout: float = 30.0) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with _LOCAL.open(request, timeout=timeout) as response:
        answer = json.loads(response.read())
    assert not answer.get("errors"), answer
    return answer["data"]


_INSTIGATORS_QUERY = """
query Instigators($selector: RepositorySelector!) {
  sensorsOrError(repositorySelector: $selector) {
    __typename
    ... on Sensors { results { name sensorState { id status } } }
  }
  schedulesOrError(repositorySelector: $selector) {
    __typename
    ... on Schedules { results { name scheduleState { id status } } }
  }
}
"""
_STOP_SENSOR = "mutation StopSensor($id: String!) { stopSensor(id: $id) { __typename } }"
_STOP_SCHEDULE = "mutation StopSchedule($id: String!) { stopRunningSchedule(id: $id) { __typename } }"
_LAUNCH_RUN = """
mutation LaunchRun($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on Error { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""


def stop_sensors_and_schedules(url: str) -> list[str]:
    """Stop what the code location starts by itself, as an operator would before a backfill: the
    automation sensor would otherwise start runs of the downstream assets as soon as archives land,
    taking places in the queue this test measures. Returns the names stopped."""
    selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}
    data = graphql(url, _INSTIGATORS_QUERY, {"selector": selector})
    assert data["sensorsOrError"]["__typename"] == "Sensors", data
    assert data["schedulesOrError"]["__typename"] == "Schedules", data
    stopped = []
    for kind, mutation, state, field in (
        ("sensorsOrError", _STOP_SENSOR, "sensorState", "stopSensor"),
        ("schedulesOrError", _STOP_SCHEDULE, "scheduleState", "stopRunningSchedule"),
    ):
        for instigator in data[kind]["results"]:
            if instigator[state]["status"] == "RUNNING":
                answer = graphql(url, mutation, {"id": instigator[state]["id"]})
                assert answer[field]["__typename"] != "PythonError", answer
                stopped.append(instigator["name"])
    return stopped


def launch_partition_run(url: str, job_name: str, partition: str) -> dict[str, str]:
    """Submit one partition's run as the Launchpad does; returns its id and status as submitted."""
    params = {
        "selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "jobName": job_name},
        "runConfigData": {**QUIET_CONSOLE, **EXECUTORS["multiprocess"]},
        "executionMetadata": {"tags": [{"key": PARTITION_TAG, "value": partition}]},
    }
    result = graphql(url, _LAUNCH_RUN, {"executionParams": params})["launchRun"]
    assert result["__typename"] == "LaunchRunSuccess", f"{job_name} {partition}: {result}"
    return result["run"]


@contextmanager
def dagster_dev(workdir: Path, environment: dict[str, str], deadline_seconds: float = 180.0) -> Iterator[RunningServer]:
    """`dagster dev` on the repository's workspace: webserver, daemon and one code server for both."""
    command = [
        sys.executable, "-m", "dagster", "dev",
        "-w", str(WORKSPACE),
        "-h", "127.0.0.1", "-p", str(free_port()),
    ]  # fmt: skip
    with running_server(command, workdir, environment, "dagster_dev", deadline_seconds) as server:
        yield server


def wait_for_runs(instance: dg.DagsterInstance, run_ids: list[str], server: RunningServer) -> list[dg.DagsterRun]:
    deadline = time.monotonic() + RUNS_DEADLINE_SECONDS
    while True:
        runs = instance.get_runs(dg.RunsFilter(run_ids=run_ids))
        if len(runs) == len(run_ids) and all(run.status in FINISHED for run in runs):
            return runs
        if server.process.poll() is not None:
            code = server.process.returncode
            pytest.fail(f"dagster dev exited with code {code} while runs were going\n{server.output()}")
        if time.monotonic() > deadline:
            statuses = Counter(run.status.value for run in runs)
            pytest.fail(f"runs not finished after {RUNS_DEADLINE_SECONDS} s: {dict(statuses)}\n{server.output()}")
        time.sleep(1)


def event_time(instance: dg.DagsterInstance, run_id: str, event_type: dg.DagsterEventType) -> float:
    entries = instance.all_logs(run_id, of_type=event_type)
    assert len(entries) == 1, f"run {run_id} has {len(entries)} {event_type.value} events"
    return entries[0].timestamp


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The largest number of intervals open at one time; one that ends as another starts does not overlap it."""
    changes = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    open_now = highest = 0
    for _, change in changes:
        open_now += change
        highest = max(highest, open_now)
    return highest


def failures(instance: dg.DagsterInstance, runs: list[dg.DagsterRun]) -> str:
    """The failure messages of runs that did not succeed, for an assertion's message."""
    lines = []
    for run in runs:
        if run.status != dg.DagsterRunStatus.SUCCESS:
            lines.append(f"{run.job_name} {run.tags.get(PARTITION_TAG)}: {run.status.value}")
            for entry in instance.all_logs(run.run_id):
                if entry.dagster_event and entry.dagster_event.is_failure:
                    lines.append(f"  {entry.dagster_event.event_type_value}: {entry.dagster_event.message}")
    return "\n".join(lines)


@pytest.mark.timeout(600)
def test_ingest_partitions_queue_on_the_readme_postgres_instance(tmp_path, monkeypatch):
    programs = _require_postgres()
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage

    from albumrec_pipeline.demo.world import DemoWorldSpec, build_demo_world, write_demo_world

    world = write_demo_world(build_demo_world(DemoWorldSpec.small()), tmp_path / "world")
    data_dir = tmp_path / "albumrec_data"
    data_dir.mkdir()
    pipeline = build_definitions(world.acousticbrainz_dumps, world.musicbrainz_dumps, str(data_dir / "warehouse"))
    jobs = {name: pipeline.resolve_job_def(name) for name in SUBMITTED_JOBS}
    partitions = [
        (name, key)
        for name, job in jobs.items()
        for key in job.partitions_def.get_partition_keys()
        if SUBMITTED_ARCHIVES.search(key)
    ]
    assert len(partitions) > 2 * QUEUE_LIMIT, partitions

    readme_config = readme_instance_config()
    # The queue's rules on the cluster are the local instance's (one writer, pools), plus the limit.
    local_rules = instance_config()["concurrency"]
    readme_rules = copy.deepcopy(readme_config["concurrency"])
    readme_rules["runs"].pop("max_concurrent_runs", None)
    assert readme_rules == local_rules, "the README's queue rules differ from albumrec_pipeline/instance_config.py"

    with postgres_server(programs) as server:
        database = readme_config["storage"]["postgres"]["postgres_db"]["db_name"]
        server.create_database(database)
        dagster_home = tmp_path / "dagster_home"
        dagster_home.mkdir()
        config = local_instance_config(readme_config, server.port, dagster_home)
        (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        connection = postgres_environment(readme_config, server)
        for name, value in connection.items():
            monkeypatch.setenv(name, value)
        environment = {
            **server_environment(dagster_home, data_dir),
            **connection,
            "ALBUMREC_ACOUSTICBRAINZ_DUMPS": str(world.acousticbrainz_dumps),
            "ALBUMREC_MUSICBRAINZ_DUMPS": str(world.musicbrainz_dumps),
        }

        # Opening the instance creates its tables, once, before three processes would race to.
        with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
            assert isinstance(instance.run_storage, PostgresRunStorage)
            assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
            assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
            assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == QUEUE_LIMIT
            assert type(instance.run_launcher).__name__ == "DefaultRunLauncher"

            with dagster_dev(tmp_path, environment) as dev:
                stop_sensors_and_schedules(dev.url)
                submitted = {}
                for job_name, key in partitions:
                    run = launch_partition_run(dev.url, job_name, key)
                    submitted[run["runId"]] = (job_name, key, run["status"])
                runs = wait_for_runs(instance, list(submitted), dev)

            # Every run went through the queue: submitted as QUEUED, enqueued, later dequeued.
            assert {status for _, _, status in submitted.values()} == {"QUEUED"}, submitted
            assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs), failures(instance, runs)
            assert {run.run_id for run in instance.get_runs()} == set(submitted), "runs other than those submitted"
            assert sorted((run.job_name, run.tags[PARTITION_TAG]) for run in runs) == sorted(partitions)

            records = instance.get_run_records(dg.RunsFilter(run_ids=list(submitted)))
            # The daemon takes a run off the queue by launching it: RUN_STARTING is that moment.
            enqueued = {run_id: event_time(instance, run_id, dg.DagsterEventType.RUN_ENQUEUED) for run_id in submitted}
            dequeued = {run_id: event_time(instance, run_id, dg.DagsterEventType.RUN_STARTING) for run_id in submitted}
            finished = {record.dagster_run.run_id: record.end_time for record in records}
            assert all(enqueued[run_id] <= dequeued[run_id] <= finished[run_id] for run_id in submitted)

            # Never more than the limit between leaving the queue and finishing (the window in which
            # the queue counts a run as in progress) ...
            in_progress = [(dequeued[run_id], finished[run_id]) for run_id in submitted]
            assert most_at_once(in_progress) <= QUEUE_LIMIT, sorted(in_progress)
            # ... and the limit reached while executing: the runs did run side by side.
            executing = [(record.start_time, record.end_time) for record in records]
            assert most_at_once(executing) == QUEUE_LIMIT, sorted(executing)
            # All were submitted before the first one finished, so all but the first `QUEUE_LIMIT`
            # waited in the queue for another run to finish.
            first_finished = min(finished.values())
            assert max(enqueued.values()) < first_finished
            waited = [run_id for run_id in submitted if dequeued[run_id] > first_finished]
            assert len(waited) >= len(submitted) - QUEUE_LIMIT, (len(waited), len(submitted))

            # Each run executed its step in a process of its own (the multiprocess executor).
            for run in runs:
                assert run.run_config["execution"] == {"config": {"multiprocess": {}}}
                (run_start,) = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_START)
                step_starts = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)
                run_pid, step_pids = run_start.dagster_event.pid, {entry.dagster_event.pid for entry in step_starts}
                assert step_pids and run_pid not in step_pids, (run.job_name, run_pid, step_pids)

            # Every asset of every partition materialized exactly once, by that partition's run.
            run_of = {(job_name, key): run_id for run_id, (job_name, key, _) in submitted.items()}
            for job_name, job in jobs.items():
                for asset_key in job.asset_layer.selected_asset_keys:
                    materialized = instance.fetch_materializations(
                        dg.AssetRecordsFilter(asset_key=asset_key), limit=1000
                    )
                    by_partition = Counter(record.partition_key for record in materialized.records)
                    expected = {key: 1 for name, key in partitions if name == job_name}
                    assert by_partition == expected, (asset_key.to_user_string(), by_partition)
                    for record in materialized.records:
                        assert record.run_id == run_of[(job_name, record.partition_key)]

    warehouse = data_dir / "warehouse"
    for job_name, key in partitions:
        if job_name == "ingest_acousticbrainz":
            assert (warehouse / "acousticbrainz_lowlevel" / f"{key}.parquet").exists()
            assert (warehouse / "acousticbrainz_highlevel" / f"{key}.parquet").exists()
