"""`albumrec`: materialize the pipeline, print the best albums.

    albumrec materialize [--workers N] [--executor multiprocess|in_process]
                                         ingest every dump archive, then everything else
    albumrec top [--count 10]            the best recommended albums in the warehouse
    albumrec feedback ID --liked|--disliked
                                         mark a recommended album (release group or release id)
                                         or a recording liked or disliked; the next model learns it
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from upath import UPath

from albumrec_pipeline.settings_error import SettingsError

try:
    from albumrec_pipeline.settings import (
        ACOUSTICBRAINZ_DUMPS_DIR,
        DATA_DIR,
        FEEDBACK_CSV,
        MUSICBRAINZ_DUMPS_DIR,
        SCRATCH_DIR,
        WAREHOUSE_DIR,
    )
except SettingsError as error:
    # A bad ALBUMREC_* variable is the user's to fix, not a crash: main() says which one in a
    # line, where a traceback would bury it.
    _SETTINGS_ERROR: SettingsError | None = error
else:
    _SETTINGS_ERROR = None
from albumrec_pipeline.storage.artifacts import ArtifactError
from albumrec_pipeline.storage.atomic import parquet_columns, parquet_errors_named, read_parquet, require_columns
from albumrec_pipeline.storage.freshness import ranking_status

SHOWN_COLUMNS = ["rank", "album_title", "album_artist", "release_year", "tracks", "tracks_with_features", "liked_tracks", "liked_share", "mean_score"]
EXECUTORS = {
    "multiprocess": {"execution": {"config": {"multiprocess": {}}}},
    "in_process": {"execution": {"config": {"in_process": {}}}},
}


def top_albums_text(warehouse: UPath, count: int) -> str:
    path = warehouse / "album_recommendations.parquet"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: materialize album_recommendations first (make demo)")
    albums = read_parquet(path)
    require_columns(path, albums.columns, ["recommended", *SHOWN_COLUMNS])
    recommended = albums[albums["recommended"]]
    header = f"{len(recommended)} of {len(albums)} candidate albums recommended; top {min(count, len(recommended))}:"
    table = recommended[SHOWN_COLUMNS].head(count).to_markdown(index=False, floatfmt=".2f")
    status = ranking_status(warehouse)
    return f"{header}\n{table}" + ("" if status is None else f"\n{status.describe()}")


def _read_columns(path: UPath, columns: list[str]):
    """`columns` of the table at `path` and no others; a damaged or differently shaped file names the
    asset to materialize again (Arrow would read a missing column as no column at all)."""
    from albumrec_pipeline.storage.tables import TableFiles

    require_columns(path, parquet_columns(path), columns)
    with parquet_errors_named(path):
        return TableFiles((path,)).read(columns)


def record_feedback_text(warehouse: UPath, feedback_path: Path, identifier: str, liked: bool) -> str:
    """Mark an album of the last search (all its tracks) or one recording in the feedback file."""
    from albumrec_pipeline.core.feedback import album_recordings, record_feedback

    path = warehouse / "candidate_albums.parquet"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run the album search first (make demo)")
    # Both tables are as large as the catalog: read the columns the lookup needs, no more.
    ids = ["release_group_id", "release_id"]
    ranking = warehouse / "album_recommendations.parquet"
    ranked = (
        _read_columns(ranking, ids).dropna(subset=["release_group_id"]).set_index(ids[0])[ids[1]].to_dict()
        if ranking.exists()
        else {}
    )
    tracklists = _read_columns(path, [*ids, "recording_id", "album_title", "album_artist"])
    kind, rows = album_recordings(tracklists, identifier, ranked)
    written = record_feedback(feedback_path, rows["recording_id"].astype("str").tolist(), liked)
    verdict = "liked" if liked else "disliked"
    what = (
        f"{len(rows)} tracks of '{rows['album_title'].iloc[0]}' by {rows['album_artist'].iloc[0]}"
        if kind == "album"
        else f"recording {rows['recording_id'].iloc[0]}"
    )
    where = f"marked {what} {verdict} in {feedback_path} ({len(written)} recordings there); "
    if Path(feedback_path).resolve() == FEEDBACK_CSV.resolve():
        return where + "the liked-list sensor retrains on it, or materialize liked_tracks and what follows"
    return where + (
        f"liked_tracks reads {FEEDBACK_CSV} unless its feedback_csv_path config (or ALBUMREC_FEEDBACK) names this file"
    )


def _run_partition(job_name: str, key: str, locations: dict[str, str], executor: str) -> tuple[str, str, bool, float]:
    """One ingest run for one archive; runs in a worker process of its own."""
    import dagster as dg

    from albumrec_pipeline.definitions import QUIET_CONSOLE, reconstructable_job

    started = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(
            reconstructable_job(job_name, **locations),
            instance,
            run_config={**QUIET_CONSOLE, **EXECUTORS[executor]},
            tags={"dagster/partition": key},
        )
    return job_name, key, result.success, time.perf_counter() - started


def run_ingest(locations: dict[str, str], workers: int, executor: str = "multiprocess", log=print) -> list[str]:
    """One run per dump archive (partition), up to `workers` runs at a time; returns the failed partitions.

    Each partition is a run of its own, as in a backfill, so one broken archive fails only its
    run, and runs proceed side by side in separate processes (Dagster's run machinery is not
    made to be driven from several threads of one process). Within a run, the multiprocess
    executor executes the step in a process of its own, like the Kubernetes and Celery
    executors do on a cluster.
    """
    import dagster as dg

    from albumrec_pipeline.definitions import INGEST_JOBS, build_definitions
    from albumrec_pipeline.resources.source_selection import LIVE_PARTITION

    defs = build_definitions(
        locations["acousticbrainz_dumps"], locations["musicbrainz_dumps"], locations["warehouse"], locations["scratch"]
    )
    every_run = [
        (job_name, key)
        for job_name in INGEST_JOBS
        for key in defs.resolve_job_def(job_name).partitions_def.get_partition_keys()
    ]
    runs = [(job_name, key) for job_name, key in every_run if key != LIVE_PARTITION]
    # The live search's AcousticBrainz partition fetches what its MusicBrainz partition found:
    # those two run after the archives, MusicBrainz first.
    live_runs = sorted((run for run in every_run if run[1] == LIVE_PARTITION), key=lambda run: run[0] != "ingest_musicbrainz")
    if not every_run:
        raise FileNotFoundError(
            f"no dump archives in {locations['acousticbrainz_dumps']} or {locations['musicbrainz_dumps']}: "
            "write the demo world (python -m albumrec_pipeline.demo) or set ALBUMREC_ACOUSTICBRAINZ_DUMPS and "
            "ALBUMREC_MUSICBRAINZ_DUMPS to the folders holding the dump archives"
        )
    log(f"ingesting {len(runs)} dump archives, {workers} at a time, {executor} executor ...")
    # Create the instance's storage once, here: runs starting side by side would race to do it.
    with dg.DagsterInstance.get():
        pass
    failed = []

    def report(outcome: tuple[str, str, bool, float]) -> None:
        job_name, key, success, seconds = outcome
        log(f"  {job_name} {key}: {'done' if success else 'FAILED'} in {seconds:.1f} s")
        if not success:
            failed.append(key)

    if workers == 1 or len(runs) <= 1:
        for job_name, key in runs:
            report(_run_partition(job_name, key, locations, executor))
    else:
        # spawn: a fresh interpreter per worker, not a fork of this one with its threads and handles.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(workers, len(runs)), mp_context=context) as pool:
            futures = [pool.submit(_run_partition, job_name, key, locations, executor) for job_name, key in runs]
            for future in as_completed(futures):
                report(future.result())
    for job_name, key in live_runs:
        if LIVE_PARTITION in failed:
            break  # the search failed: there is nothing found to fetch features for
        report(_run_partition(job_name, key, locations, executor))
    return failed


def materialize(workers: int, executor: str = "multiprocess", log=print) -> int:
    import dagster as dg

    from albumrec_pipeline.definitions import QUIET_CONSOLE, reconstructable_job

    # Runs need an instance that every process can reach; the Makefile points DAGSTER_HOME at data/.
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(DATA_DIR / "dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    locations = {
        "acousticbrainz_dumps": str(ACOUSTICBRAINZ_DUMPS_DIR),
        "musicbrainz_dumps": str(MUSICBRAINZ_DUMPS_DIR),
        "warehouse": str(WAREHOUSE_DIR),
        "scratch": str(SCRATCH_DIR),
    }
    started = time.perf_counter()
    failed = run_ingest(locations, workers, executor, log)
    if failed:
        log(f"albumrec: {len(failed)} archive(s) failed to ingest ({', '.join(failed)}); see their runs' logs")
        return 1
    log(f"ingested in {time.perf_counter() - started:.1f} s; materializing recommend_albums ...")
    with dg.DagsterInstance.get() as instance:
        # The rest is a chain of steps that mostly wait on each other: one process suffices.
        result = dg.execute_job(
            reconstructable_job("recommend_albums", **locations),
            instance,
            run_config={**QUIET_CONSOLE, **EXECUTORS["in_process"]},
        )
    if not result.success:
        log("albumrec: recommend_albums failed; see the run's log above")
        return 1
    log(
        f"catalog, model and ranking materialized in {time.perf_counter() - started:.1f} s "
        "(the dated recommendation_history is the daily_album_search schedule's)"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    if _SETTINGS_ERROR is not None:
        print(f"albumrec: {_SETTINGS_ERROR}", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(
        prog="albumrec", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("materialize", help="ingest every dump archive in parallel, then materialize the rest")
    run.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="archives ingested at once (default: cores)")
    run.add_argument(
        "--executor",
        choices=sorted(EXECUTORS),
        default="multiprocess",
        help="how each ingest run executes its step: in a process of its own (default), or in the run's process, "
        "which saves a process start per archive when archives are small",
    )
    top = commands.add_parser("top", help="print the top recommended albums")
    top.add_argument("--count", type=int, default=10)
    top.add_argument("--warehouse", default=str(WAREHOUSE_DIR), help="the IO manager's base path")
    feedback = commands.add_parser("feedback", help="mark a recommended album or a recording liked or disliked")
    feedback.add_argument("id", help="release group or release id from album_recommendations, or a recording id")
    verdict = feedback.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--liked", action="store_true")
    verdict.add_argument("--disliked", action="store_true")
    feedback.add_argument("--warehouse", default=str(WAREHOUSE_DIR), help="the IO manager's base path")
    feedback.add_argument("--file", default=str(FEEDBACK_CSV), help="the feedback CSV (default $ALBUMREC_FEEDBACK)")
    arguments = parser.parse_args(argv)
    if arguments.command == "feedback":
        from albumrec_pipeline.core.feedback import FeedbackNotWritableError

        try:
            print(record_feedback_text(UPath(arguments.warehouse), Path(arguments.file), arguments.id, arguments.liked))
        except (FileNotFoundError, FeedbackNotWritableError, LookupError, ValueError) as error:
            print(f"albumrec: {error}", file=sys.stderr)
            return 1
        return 0
    if arguments.command == "materialize":
        try:
            return materialize(max(1, arguments.workers), arguments.executor)
        except FileNotFoundError as error:
            print(f"albumrec: {error}", file=sys.stderr)
            return 1
    try:
        print(top_albums_text(UPath(arguments.warehouse), arguments.count))
    except (FileNotFoundError, ArtifactError) as error:
        print(f"albumrec: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
