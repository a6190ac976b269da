"""At most one run that writes the model or the ranking at a time: the run queue holds the others.

The queue is Dagster's own (the daemon's dequeue decision), configured by the dagster.yaml that
`make demo` and `make dev` write; the tags are those the code location's jobs carry.
"""

import dagster as dg
import pytest
import yaml
from dagster._core.remote_origin import RegisteredCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.test_utils import create_run_for_test
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

from albumrec_pipeline.definitions import defs
from albumrec_pipeline.instance_config import WRITER_TAG, instance_config, write_instance_config

WRITERS = ("recommend_albums", "refresh_from_liked_list", "album_search")


def test_every_job_that_writes_the_model_or_the_ranking_carries_the_writer_tag():
    for name in WRITERS:
        assert WRITER_TAG.items() <= defs.resolve_job_def(name).tags.items(), name
    for name in ("ingest_acousticbrainz", "ingest_musicbrainz"):
        assert not WRITER_TAG.keys() & defs.resolve_job_def(name).tags.keys(), name
    # The automation sensor's runs write the model and the ranking as well.
    automation = defs.resolve_sensor_def("keep_recommendations_current")
    assert WRITER_TAG.items() <= automation.run_tags.items()


def test_the_written_instance_config_is_the_one_tested_here(tmp_path):
    write_instance_config(tmp_path / "home" / "dagster.yaml")
    assert yaml.safe_load((tmp_path / "home" / "dagster.yaml").read_text()) == instance_config()


def queued(instance: dg.DagsterInstance, job_name: str, status=dg.DagsterRunStatus.QUEUED, **tags) -> dg.DagsterRun:
    """A run of the albumrec code location's job, as the UI or a sensor submits it."""
    repository = RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("albumrec"), "__repository__")
    return create_run_for_test(
        instance, job_name=job_name, status=status, tags=tags, remote_job_origin=RemoteJobOrigin(repository, job_name)
    )


def dequeued(instance: dg.DagsterInstance) -> set[str]:
    daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
    return {run.run_id for run in daemon._get_runs_to_dequeue(instance, instance.get_concurrency_config(), None)}


@pytest.fixture
def queued_instance(tmp_path):
    overrides = {key: value for key, value in instance_config().items() if key != "telemetry"}
    with dg.instance_for_test(temp_dir=str(tmp_path), overrides=overrides) as instance:
        yield instance


def test_two_refreshes_queue_one_behind_the_other(queued_instance):
    instance = queued_instance
    first = queued(instance, "refresh_from_liked_list", **WRITER_TAG)
    second = queued(instance, "refresh_from_liked_list", **WRITER_TAG)
    search = queued(instance, "album_search", **WRITER_TAG)
    ingest = queued(instance, "ingest_musicbrainz")
    # One writer and the ingest run start; the other writers wait.
    assert dequeued(instance) == {first.run_id, ingest.run_id}

    # While a writer runs, no other writer starts; they are let through once it has finished.
    running = queued(instance, "recommend_albums", status=dg.DagsterRunStatus.STARTED, **WRITER_TAG)
    assert dequeued(instance) == {ingest.run_id}
    instance.report_run_failed(running)
    assert dequeued(instance) == {first.run_id, ingest.run_id}
    assert second.run_id not in dequeued(instance) and search.run_id not in dequeued(instance)
