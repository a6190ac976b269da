"""Ingest partitions as separate runs: out of process, in parallel, and one broken archive failing alone."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from albumrec_pipeline.cli import run_ingest
from albumrec_pipeline.definitions import build_definitions
from albumrec_pipeline.demo.world import DemoWorldSpec, build_demo_world, write_demo_world


@pytest.fixture(scope="module")
def world_paths(tmp_path_factory):
    world = build_demo_world(DemoWorldSpec.small())
    return world, write_demo_world(world, tmp_path_factory.mktemp("world"))


def _locations(acousticbrainz: Path, musicbrainz: Path, tmp_path: Path) -> dict[str, str]:
    return {
        "acousticbrainz_dumps": str(acousticbrainz),
        "musicbrainz_dumps": str(musicbrainz),
        "warehouse": str(tmp_path / "warehouse"),
        "scratch": str(tmp_path / "scratch"),
    }


def test_partitions_run_in_parallel_on_the_multiprocess_executor(world_paths, tmp_path, monkeypatch):
    world, paths = world_paths
    # One archive of each source keeps the test short: every run starts processes of its own.
    acousticbrainz = tmp_path / "acousticbrainz"
    acousticbrainz.mkdir()
    archive = next(paths.acousticbrainz_dumps.glob("acousticbrainz-highlevel-json-*.tar.zst"))
    shutil.copy(archive, acousticbrainz)
    # The release archive alone of the MusicBrainz dump (the tag archives are optional).
    musicbrainz = tmp_path / "musicbrainz"
    musicbrainz.mkdir()
    shutil.copy(paths.release_archive, musicbrainz)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    locations = _locations(acousticbrainz, musicbrainz, tmp_path)

    lines = []
    assert run_ingest(locations, workers=2, executor="multiprocess", log=lines.append) == []
    assert lines[0] == "ingesting 2 dump archives, 2 at a time, multiprocess executor ..."

    warehouse = tmp_path / "warehouse"
    highlevel = pd.read_parquet(warehouse / "acousticbrainz_highlevel" / f"{archive.name.removesuffix('.tar.zst')}.parquet")
    assert len(highlevel) > 0 and set(highlevel["mbid"]) <= set(world.highlevel_documents)
    assert len(pd.read_parquet(warehouse / "musicbrainz_releases" / "release.parquet")) == len(world.releases)
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert sorted(run.tags["dagster/partition"] for run in runs) == sorted(["release", archive.name.removesuffix(".tar.zst")])
        assert all(run.is_success for run in runs)
        # Side by side: each run started before the other had finished, by the instance's own record
        # of when each one started and ended.
        first, second = instance.get_run_records()
        assert all(record.start_time is not None and record.end_time is not None for record in (first, second))
        assert first.start_time < second.end_time and second.start_time < first.end_time, [
            (record.dagster_run.tags["dagster/partition"], record.start_time, record.end_time) for record in (first, second)
        ]
        # Each run executed its step in a process of its own, neither this one nor the run's.
        for run in runs:
            step_pids = {
                record.dagster_event.pid
                for record in instance.all_logs(run.run_id)
                if record.dagster_event and record.dagster_event.event_type_value == "STEP_START"
            }
            assert step_pids and os.getpid() not in step_pids


def metadata_of(failure):
    return failure.step_failure_data.user_failure_data.metadata


def test_a_truncated_archive_fails_its_partition_only(world_paths, tmp_path):
    _, paths = world_paths
    acousticbrainz = tmp_path / "acousticbrainz"
    shutil.copytree(paths.acousticbrainz_dumps, acousticbrainz)
    broken = sorted(acousticbrainz.glob("acousticbrainz-lowlevel-json-*.tar.zst"))[0]
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    broken_key = broken.name.removesuffix(".tar.zst")
    defs = build_definitions(acousticbrainz, paths.musicbrainz_dumps, str(tmp_path / "warehouse"), tmp_path / "scratch")
    job = defs.resolve_job_def("ingest_acousticbrainz")
    instance = dg.DagsterInstance.ephemeral()

    failed = job.execute_in_process(partition_key=broken_key, instance=instance, raise_on_error=False)
    assert not failed.success
    (failure,) = [event for event in failed.all_events if event.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.error.message
    assert broken.name in message and "truncated or corrupt" in message and "accept_truncated" in message
    assert "after member 'acousticbrainz-lowlevel-json-demo/lowlevel/" in message and "at byte" in message
    assert "(truncated)" in message and metadata_of(failure)["truncated"].value is True
    metadata = failure.step_failure_data.user_failure_data.metadata
    assert metadata["members_read"].value > 0 and metadata["failed_at_file_byte"].value > 0
    assert not (tmp_path / "warehouse" / "acousticbrainz_lowlevel" / f"{broken_key}.parquet").exists()
    assert not list((tmp_path / "scratch").glob(".staged-*"))

    # The other archives are unaffected.
    other = sorted(acousticbrainz.glob("acousticbrainz-lowlevel-json-*.tar.zst"))[1].name.removesuffix(".tar.zst")
    assert job.execute_in_process(partition_key=other, instance=instance).success

    # Asked to, the partition keeps what was read before the damage, marked incomplete.
    kept = job.execute_in_process(
        partition_key=broken_key,
        instance=instance,
        run_config={"ops": {"acousticbrainz_archive": {"config": {"accept_truncated": True}}}},
    )
    assert kept.success
    materialization = kept.asset_materializations_for_node("acousticbrainz_archive")[0]
    assert materialization.metadata["complete"].value is False
    rows = pd.read_parquet(tmp_path / "warehouse" / "acousticbrainz_lowlevel" / f"{broken_key}.parquet")
    # One row per recording: the documents read, less the second submissions of the same recordings.
    assert 0 < len(rows) <= materialization.metadata["documents"].value and rows["mbid"].is_unique


def test_a_corrupt_archive_keeps_nothing_even_when_asked_to(world_paths, tmp_path):
    """Bytes flipped mid-archive are noticed late (the zstd frame checksum is checked at its end),
    so what was decoded before cannot be trusted: unlike a cut-short archive, nothing is kept."""
    _, paths = world_paths
    acousticbrainz = tmp_path / "acousticbrainz"
    shutil.copytree(paths.acousticbrainz_dumps, acousticbrainz)
    broken = sorted(acousticbrainz.glob("acousticbrainz-lowlevel-json-*.tar.zst"))[0]
    data = bytearray(broken.read_bytes())
    data[len(data) // 2] ^= 0xFF
    broken.write_bytes(bytes(data))
    broken_key = broken.name.removesuffix(".tar.zst")
    defs = build_definitions(acousticbrainz, paths.musicbrainz_dumps, str(tmp_path / "warehouse"), tmp_path / "scratch")
    result = defs.resolve_job_def("ingest_acousticbrainz").execute_in_process(
        partition_key=broken_key,
        instance=dg.DagsterInstance.ephemeral(),
        run_config={"ops": {"acousticbrainz_archive": {"config": {"accept_truncated": True}}}},
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = [event for event in result.all_events if event.event_type_value == "STEP_FAILURE"]
    assert "(corrupt)" in failure.step_failure_data.error.message and "not kept" in failure.step_failure_data.error.message
    assert metadata_of(failure)["truncated"].value is False
    assert not (tmp_path / "warehouse" / "acousticbrainz_lowlevel" / f"{broken_key}.parquet").exists()
    assert not list((tmp_path / "scratch").glob(".staged-*"))
