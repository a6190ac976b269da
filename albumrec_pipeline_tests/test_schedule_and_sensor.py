"""The daily album-search schedule and the liked-list sensor, evaluated with Dagster's test contexts."""

import datetime as dt
import json
import os
import subprocess
import sys
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._utils.schedules import cron_string_iterator

from albumrec_pipeline import settings
from albumrec_pipeline.assets.history import daily_partitions_def
from albumrec_pipeline.assets import ingest as ingest_assets
from albumrec_pipeline.assets.ingest import liked_tracks
from albumrec_pipeline.definitions import build_definitions
from albumrec_pipeline.schedules.album_search import build_album_search_schedule
from albumrec_pipeline.sensors.liked_list import build_liked_list_sensor
from albumrec_pipeline.storage.parquet_io_manager import ParquetWarehouse
from albumrec_pipeline_tests.factories import recording_id

LIST_HEADER = "mbid,liked\n"


def _list_text(count: int = 4, flip_last: bool = False) -> str:
    rows = [f"{recording_id(index)},{(index % 2) ^ (flip_last and index == count - 1)}" for index in range(count)]
    return LIST_HEADER + "\n".join(rows) + "\n"


@pytest.fixture
def defs(tmp_path):
    return build_definitions(tmp_path / "ab", tmp_path / "mb", str(tmp_path / "warehouse"), tmp_path / "scratch")


def _evaluate(schedule: dg.ScheduleDefinition, defs: dg.Definitions, tick: dt.datetime) -> list[dg.RunRequest]:
    """The tick as the daemon evaluates it at its time: the run request's partition key is checked
    against the job's partitions as they are then (a DagsterUnknownPartitionError otherwise)."""
    with dg.DagsterInstance.ephemeral() as instance, dg.partition_loading_context(effective_dt=tick):
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=tick, repository_def=defs.get_repository_def()
        )
        return list(schedule.evaluate_tick(context).run_requests)


def test_schedule_requests_the_partition_of_its_own_day(defs):
    schedule = defs.resolve_schedule_def("daily_album_search")
    assert schedule.cron_schedule == "0 6 * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    tick = dt.datetime(2026, 11, 25, 6, 0, tzinfo=dt.timezone.utc)
    requests = _evaluate(schedule, defs, tick)
    assert [(request.partition_key, request.run_key) for request in requests] == [("2026-11-25", tick.isoformat())]
    assert schedule.job_name == "album_search"
    job = defs.resolve_job_def("album_search")
    assert "2026-11-25" in job.partitions_def.get_partition_keys(dt.datetime(2026, 11, 26, tzinfo=dt.timezone.utc))


def test_schedule_and_partitions_share_the_configured_time_zone(defs):
    schedule = defs.resolve_schedule_def("daily_album_search")
    partitions = defs.resolve_job_def("album_search").partitions_def
    assert schedule.execution_timezone == partitions.timezone == settings.TIMEZONE == "UTC"
    assert defs.resolve_assets_def("recommendation_history").partitions_def == partitions


def test_schedule_takes_the_cadence_it_is_given(defs):
    schedule = build_album_search_schedule(next(job for job in defs.jobs if job.name == "album_search"), cron="30 7 * * 1")
    assert schedule.cron_schedule == "30 7 * * 1"
    tick = dt.datetime(2026, 11, 23, 7, 30, tzinfo=dt.timezone.utc)
    assert _evaluate(schedule, defs, tick)[0].partition_key == "2026-11-23"


# Three days around each change of clock in New York (8 March, 1 November 2026) and Sydney
# (5 April, 4 October), and around the turn of the year.
TICK_WINDOWS = [(dt.date(2026, 3, 7), 3), (dt.date(2026, 4, 4), 3), (dt.date(2026, 10, 3), 3), (dt.date(2026, 10, 31), 3), (dt.date(2026, 12, 31), 3)]


@pytest.mark.parametrize("timezone", ["UTC", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "Asia/Kathmandu"])
@pytest.mark.parametrize("cron", ["0 6 * * *", "0 0 * * *", "30 2 * * *", "59 23 * * *"])
def test_every_tick_names_an_existing_partition_of_the_local_day(timezone, cron):
    """A daily tick anywhere, at any hour (midnight, the hour a change of clock skips or repeats,
    the last minute of the day), runs exactly once per local day, into that day's partition, which
    exists when the tick comes. East of UTC this used to fail with DagsterUnknownPartitionError."""
    partitions = daily_partitions_def(timezone)

    @dg.asset(name="recommendation_history", partitions_def=partitions)
    def stand_in() -> None: ...

    job = dg.define_asset_job("album_search", selection=[stand_in])
    schedule = build_album_search_schedule(job, cron=cron, partitions_def=partitions)
    defs = dg.Definitions(assets=[stand_in], jobs=[job], schedules=[schedule])
    assert schedule.execution_timezone == timezone
    zone = ZoneInfo(timezone)
    for first_day, days in TICK_WINDOWS:
        start = dt.datetime.combine(first_day, dt.time(), tzinfo=zone)
        ticks = cron_string_iterator(start.timestamp(), cron, timezone)
        keys = []
        for tick in ticks:
            if tick >= start + dt.timedelta(days=days):
                break
            (request,) = _evaluate(schedule, defs, tick)
            assert request.partition_key in partitions.get_partition_keys(current_time=tick), (tick, request.partition_key)
            keys.append(request.partition_key)
        assert keys == [(first_day + dt.timedelta(days=offset)).isoformat() for offset in range(days)], (first_day, keys)


def test_a_tick_before_the_first_day_is_skipped():
    partitions = daily_partitions_def("Asia/Tokyo")

    @dg.asset(name="recommendation_history", partitions_def=partitions)
    def stand_in() -> None: ...

    job = dg.define_asset_job("album_search", selection=[stand_in])
    schedule = build_album_search_schedule(job, partitions_def=partitions)
    defs = dg.Definitions(assets=[stand_in], jobs=[job], schedules=[schedule])
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=dt.datetime(2025, 12, 31, 6, 0, tzinfo=ZoneInfo("Asia/Tokyo")),
            repository_def=defs.get_repository_def(),
        )
        result = schedule.evaluate_tick(context)
    assert not result.run_requests and "before the history's first day" in result.skip_message


# The code location itself, loaded east of UTC (settings are read on import: a fresh interpreter).
TOKYO_TICKS = """
import datetime as dt, json
from zoneinfo import ZoneInfo
import dagster as dg
from albumrec_pipeline.definitions import defs

schedule = defs.resolve_schedule_def("daily_album_search")
partitions = defs.resolve_job_def("album_search").partitions_def
keys = []
for day in (1, 2, 3):
    tick = dt.datetime(2026, 12, day, 6, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    with dg.DagsterInstance.ephemeral() as instance, dg.partition_loading_context(effective_dt=tick):
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=tick, repository_def=defs.get_repository_def()
        )
        (request,) = schedule.evaluate_tick(context).run_requests
    keys.append([request.partition_key, request.partition_key in partitions.get_partition_keys(current_time=tick)])
print(json.dumps({"schedule": schedule.execution_timezone, "partitions": partitions.timezone, "keys": keys}))
"""


def test_the_code_location_in_tokyo_ticks_into_its_own_days(tmp_path):
    environment = {**os.environ, "ALBUMREC_TIMEZONE": "Asia/Tokyo", "ALBUMREC_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", TOKYO_TICKS], env=environment, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {
        "schedule": "Asia/Tokyo",
        "partitions": "Asia/Tokyo",
        "keys": [["2026-12-01", True], ["2026-12-02", True], ["2026-12-03", True]],
    }


def _sensor(defs):
    return build_liked_list_sensor(next(job for job in defs.jobs if job.name == "refresh_from_liked_list"))


def _tick(defs, sensor, instance, cursor):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, repository_def=defs.get_repository_def())
    result = sensor.evaluate_tick(context)
    return result, context.cursor


def _materialize_liked_tracks(instance, warehouse, list_path, feedback_path):
    result = dg.materialize(
        [liked_tracks],
        instance=instance,
        resources={"io_manager": ParquetWarehouse(base_path=str(warehouse))},
        run_config={
            "ops": {"liked_tracks": {"config": {"csv_path": str(list_path), "feedback_csv_path": str(feedback_path)}}}
        },
    )
    assert result.success


def test_sensor_requests_once_per_content_change_not_per_touch(defs, tmp_path):
    list_path, feedback_path = tmp_path / "liked.csv", tmp_path / "feedback.csv"
    list_path.write_text(_list_text())
    sensor = _sensor(defs)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    with dg.DagsterInstance.ephemeral() as instance:
        _materialize_liked_tracks(instance, tmp_path / "warehouse", list_path, feedback_path)
        unchanged, cursor = _tick(defs, sensor, instance, None)
        assert not unchanged.run_requests
        # Touching the file changes its time, not its content: nothing to do.
        os.utime(list_path, (1_900_000_000, 1_900_000_000))
        touched, cursor = _tick(defs, sensor, instance, cursor)
        assert not touched.run_requests
        # A changed label is one request, carrying the files to read.
        list_path.write_text(_list_text(flip_last=True))
        changed, changed_cursor = _tick(defs, sensor, instance, cursor)
        assert len(changed.run_requests) == 1
        request = changed.run_requests[0]
        assert request.run_config["ops"]["liked_tracks"]["config"] == {
            "csv_path": str(list_path),
            "feedback_csv_path": str(feedback_path),
        }
        assert changed_cursor != cursor
        # While its run has not finished, the same content is not requested again.
        pending, pending_cursor = _tick(defs, sensor, instance, changed_cursor)
        assert not pending.run_requests and pending_cursor == changed_cursor
        # Feedback is watched too, and a new content is a new run key.
        feedback_path.write_text(LIST_HEADER + f"{recording_id(99)},1\n")
        feedback, _ = _tick(defs, sensor, instance, changed_cursor)
        assert len(feedback.run_requests) == 1
        assert feedback.run_requests[0].tags["albumrec/input_sha256"] != request.tags["albumrec/input_sha256"]


def test_sensor_compares_with_what_liked_tracks_holds(defs, tmp_path):
    """After a restart (no cursor) the sensor compares with the latest materialization, so an
    unchanged list is not retrained, and a list edited while Dagster was down is."""
    list_path, feedback_path = tmp_path / "liked.csv", tmp_path / "feedback.csv"
    list_path.write_text(_list_text())
    sensor = _sensor(defs)
    with dg.DagsterInstance.ephemeral() as instance:
        never, cursor = _tick(defs, sensor, instance, None)
        assert not never.run_requests and "never materialized" in never.skip_message
        _materialize_liked_tracks(instance, tmp_path / "warehouse", list_path, feedback_path)
        fresh, cursor = _tick(defs, sensor, instance, None)
        assert not fresh.run_requests and cursor is not None
        list_path.write_text(_list_text(count=6))
        edited, _ = _tick(defs, sensor, instance, None)
        assert len(edited.run_requests) == 1


def test_sensor_watches_the_files_liked_tracks_last_read(defs, tmp_path):
    """A list chosen in the Launchpad is the one watched, not the default; a vanished list is said so."""
    chosen, feedback = tmp_path / "chosen.csv", tmp_path / "feedback.csv"
    chosen.write_text(_list_text())
    sensor = _sensor(defs)
    with dg.DagsterInstance.ephemeral() as instance:
        _materialize_liked_tracks(instance, tmp_path / "warehouse", chosen, feedback)
        chosen.write_text(_list_text(flip_last=True))
        changed, _ = _tick(defs, sensor, instance, None)
        assert changed.run_requests[0].run_config["ops"]["liked_tracks"]["config"]["csv_path"] == str(chosen)
        chosen.unlink()
        gone, _ = _tick(defs, sensor, instance, None)
        assert not gone.run_requests and "does not exist" in gone.skip_message


def test_the_sensor_follows_the_list_the_variable_names_once_the_definitions_reload(tmp_path, monkeypatch):
    """export ALBUMREC_LIKED_TRACKS=my_list.csv, restart: the next tick trains on my_list.csv."""
    demo_list, my_list, feedback = tmp_path / "demo_list.csv", tmp_path / "my_list.csv", tmp_path / "feedback.csv"
    demo_list.write_text(_list_text())
    my_list.write_text(_list_text(count=6))
    monkeypatch.setenv("ALBUMREC_FEEDBACK", str(feedback))

    def location_sensor():
        defs = build_definitions(tmp_path / "ab", tmp_path / "mb", str(tmp_path / "warehouse"), tmp_path / "scratch")
        return defs, defs.resolve_sensor_def("liked_list_changed")

    with dg.DagsterInstance.ephemeral() as instance:
        monkeypatch.setenv("ALBUMREC_LIKED_TRACKS", str(demo_list))
        defs, sensor = location_sensor()
        _materialize_liked_tracks(instance, tmp_path / "warehouse", demo_list, feedback)
        settled, cursor = _tick(defs, sensor, instance, None)
        assert not settled.run_requests

        monkeypatch.setenv("ALBUMREC_LIKED_TRACKS", str(my_list))
        defs, sensor = location_sensor()
        switched, cursor = _tick(defs, sensor, instance, cursor)
        (request,) = switched.run_requests
        assert request.run_config["ops"]["liked_tracks"]["config"] == {
            "csv_path": str(my_list),
            "feedback_csv_path": str(feedback),
        }
        assert request.tags["albumrec/trigger"] == "the list ALBUMREC_LIKED_TRACKS names changed"
        # Requested once; once its run has read my_list.csv, edits to it are followed.
        again, cursor = _tick(defs, sensor, instance, cursor)
        assert not again.run_requests
        _materialize_liked_tracks(instance, tmp_path / "warehouse", my_list, feedback)
        my_list.write_text(_list_text(count=6, flip_last=True))
        edited, _ = _tick(defs, sensor, instance, cursor)
        assert edited.run_requests[0].run_config["ops"]["liked_tracks"]["config"]["csv_path"] == str(my_list)
        # The demo list changing now is not the listener's business any more.
        demo_list.write_text(_list_text(flip_last=True))
        _materialize_liked_tracks(instance, tmp_path / "warehouse", my_list, feedback)
        quiet, _ = _tick(defs, sensor, instance, None)
        assert not quiet.run_requests


def test_a_list_chosen_in_the_launchpad_is_not_overridden_by_the_variable(defs, tmp_path, monkeypatch):
    chosen, feedback = tmp_path / "chosen.csv", tmp_path / "feedback.csv"
    chosen.write_text(_list_text())
    configured = tmp_path / "configured.csv"
    configured.write_text(_list_text(count=6))
    # The variable named configured.csv when the list was chosen, and still does.
    monkeypatch.setattr(ingest_assets, "LIKED_TRACKS_CSV", configured)
    monkeypatch.setattr(ingest_assets, "FEEDBACK_CSV", feedback)
    sensor = build_liked_list_sensor(
        next(job for job in defs.jobs if job.name == "refresh_from_liked_list"), configured=(configured, feedback)
    )
    with dg.DagsterInstance.ephemeral() as instance:
        _materialize_liked_tracks(instance, tmp_path / "warehouse", chosen, feedback)
        unchanged, _ = _tick(defs, sensor, instance, None)
        assert not unchanged.run_requests
        chosen.write_text(_list_text(flip_last=True))
        changed, _ = _tick(defs, sensor, instance, None)
        assert changed.run_requests[0].run_config["ops"]["liked_tracks"]["config"]["csv_path"] == str(chosen)


def test_a_list_named_from_the_home_folder_is_read_and_watched(defs, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "mine.csv").write_text(_list_text())
    (tmp_path / "feedback.csv").write_text(LIST_HEADER + f"{recording_id(99)},1\n")
    sensor = _sensor(defs)
    with dg.DagsterInstance.ephemeral() as instance:
        _materialize_liked_tracks(instance, tmp_path / "warehouse", "~/mine.csv", "~/feedback.csv")
        metadata = instance.get_latest_materialization_event(dg.AssetKey("liked_tracks")).asset_materialization.metadata
        assert metadata["source"].value == str(tmp_path / "mine.csv")
        assert metadata["recordings_added_by_feedback"].value == 1  # the feedback file was read, not skipped
        (tmp_path / "mine.csv").write_text(_list_text(flip_last=True))
        changed, _ = _tick(defs, sensor, instance, None)
        assert changed.run_requests[0].run_config["ops"]["liked_tracks"]["config"]["csv_path"] == str(tmp_path / "mine.csv")


def test_going_back_to_an_earlier_list_is_a_change(defs, tmp_path):
    """Liked, then disliked, then liked again: the files return to an earlier state, and the model
    (trained on the one before) must still learn it. Requests carry no run key, which the daemon
    would refuse to repeat; the cursor alone keeps one change from being requested twice."""
    list_path, feedback = tmp_path / "liked.csv", tmp_path / "feedback.csv"
    sensor = _sensor(defs)
    cursor = None
    with dg.DagsterInstance.ephemeral() as instance:
        for flip in (False, True, False, True):
            list_path.write_text(_list_text(flip_last=flip))
            _materialize_liked_tracks(instance, tmp_path / "warehouse", list_path, feedback)
            list_path.write_text(_list_text(flip_last=not flip))
            result, cursor = _tick(defs, sensor, instance, cursor)
            (request,) = result.run_requests
            assert request.run_key is None
            assert request.tags["albumrec/input_sha256"] == cursor
            again, _ = _tick(defs, sensor, instance, cursor)
            assert not again.run_requests


def test_sensor_runs_everything_a_new_list_affects_and_nothing_else(defs):
    job = next(job for job in defs.jobs if job.name == "refresh_from_liked_list")
    with dg.DagsterInstance.ephemeral():
        selected = {key.to_user_string() for key in job.selection.resolve(defs.resolve_asset_graph())}
    assert {"liked_tracks", "raw_track_features", "preference_model", "album_recommendations", "album_explanations"} <= selected
    # Not the catalog, not the expensive cross-validation, not the dated history (the schedule's).
    assert not selected & {"musicbrainz_tracks", "acousticbrainz_lowlevel", "model_evaluation", "recommendation_history"}
