"""`albumrec`: materialize the pipeline, print the best albums.

    albumrec materialize [--workers N] [--executor multiprocess|in_process] [--with-evaluation]
                                         ingest every dump archive, then the model and the ranking
    albumrec evaluate                    cross-validate the model by artist and print the summary
    albumrec top [--count 10] [--format text|markdown]
                                         the best recommended albums in the warehouse
    albumrec feedback ID --liked|--disliked
                                         mark a recommended album (release group or release id)
                                         or a recording liked or disliked; the next model learns it
    albumrec import listenbrainz USER | listenbrainz-export FILE.zip [--output PATH] [--merge-into PATH]
                                         loved (1) and hated (0) recordings from ListenBrainz as an
                                         'mbid,liked' list, or added to yours (your rows win)
    albumrec export [--format jspf|csv] [--count N] [--all] [--output PATH|-]
                                         the best albums as a JSPF playlist (ListenBrainz imports it),
                                         or the ranking as CSV; into data/exports/ by default
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
from albumrec_pipeline.storage.atomic import parquet_errors_named, read_parquet, require_columns, require_table_columns
from albumrec_pipeline.storage.freshness import latest_refusal, ranking_status

SHOWN_COLUMNS = ["rank", "album_title", "album_artist", "release_year", "tracks", "tracks_with_features", "predicted_liked_tracks", "predicted_liked_share", "mean_score"]
# Minutes of cross-validation on real lists: materialized on request (`albumrec evaluate`).
EVALUATION_ASSET = "model_evaluation"
EXECUTORS = {
    "multiprocess": {"execution": {"config": {"multiprocess": {}}}},
    "in_process": {"execution": {"config": {"in_process": {}}}},
}


def top_albums_text(warehouse: UPath, count: int, markdown: bool = False) -> str:
    """The top albums as a text table; as `markdown`, with cover thumbnails and MusicBrainz links
    (which the reader's viewer loads, not albumrec) for albums with real MusicBrainz ids."""
    path = warehouse / "album_recommendations.parquet"
    if not path.exists():
        refused = latest_refusal(warehouse)
        raise FileNotFoundError(
            f"{path} does not exist: materialize album_recommendations first (make demo)"
            + ("" if refused is None else f". The latest attempt to train a model was refused: {refused[1]}")
        )
    albums = read_parquet(path)
    require_columns(path, albums.columns, ["recommended", *SHOWN_COLUMNS, *(["release_group_id"] if markdown else [])])
    recommended = albums[albums["recommended"]]
    header = f"{len(recommended)} of {len(albums)} candidate albums recommended; top {min(count, len(recommended))}:"
    if markdown:
        from albumrec_pipeline.core.albums import albums_markdown

        table = "\n" + albums_markdown(recommended.head(count), SHOWN_COLUMNS) + "\n"
    else:
        table = recommended[SHOWN_COLUMNS].head(count).to_markdown(index=False, floatfmt=".2f")
    status = ranking_status(warehouse)
    return f"{header}\n{table}" + ("" if status is None else f"\n{status.describe()}")


def _read_columns(path: UPath, columns: list[str]):
    """`columns` of the table at `path` and no others; a damaged or differently shaped file names the
    asset to materialize again (Arrow would read a missing column as no column at all)."""
    from albumrec_pipeline.storage.tables import TableFiles

    require_table_columns(path, columns)
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


EXPORT_FILES = {"jspf": "top-albums.jspf", "csv": "album-ranking.csv"}


def default_export_path(export_format: str) -> Path:
    return DATA_DIR / "exports" / EXPORT_FILES[export_format]


def _batches_of(path: UPath, columns: list[str]):
    """`columns` of the table at `path`, batch by batch; a damaged table or one of another shape
    names the asset to materialize again."""
    import pyarrow.parquet as pq

    require_table_columns(path, columns)
    with path.open("rb") as handle, parquet_errors_named(path):
        yield from pq.ParquetFile(handle).iter_batches(batch_size=100_000, columns=columns)


def export_payload(
    warehouse: UPath, export_format: str, count: int | None, include_all: bool, created
) -> tuple[bytes, str]:
    """The bytes of the export and a phrase saying what they hold."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from albumrec_pipeline.core.playlists import (
        DEFAULT_ALBUMS, RANKING_COLUMNS, TRACKLIST_COLUMNS, PlaylistError, best_albums_playlist, jspf_bytes,
        jspf_document, ranking_csv, ranking_rows,
    )

    path = warehouse / "album_recommendations.parquet"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: materialize album_recommendations first (make demo)")
    if export_format == "csv":
        require_table_columns(path, ["rank", "recommended"])
        with path.open("rb") as handle, parquet_errors_named(path):
            table = pq.read_table(handle)
        # Nullable integers, so that a year reads 1994 in the CSV and not 1994.0 beside a blank.
        ranking = table.to_pandas(types_mapper=lambda kind: pd.Int64Dtype() if pa.types.is_integer(kind) else None)
        rows = ranking_rows(ranking, include_all, count)
        what = "albums of the ranking" if include_all else "recommended albums"
        return ranking_csv(rows), f"{len(rows)} {what}, ranked, as CSV"
    tracklists = warehouse / "candidate_albums.parquet"
    if not tracklists.exists():
        raise FileNotFoundError(f"{tracklists} does not exist: materialize candidate_albums first (make demo)")
    albums, tracks = best_albums_playlist(
        _batches_of(path, RANKING_COLUMNS), lambda: _batches_of(tracklists, TRACKLIST_COLUMNS), count or DEFAULT_ALBUMS
    )
    if albums.empty:
        raise PlaylistError(f"no album in {path} is recommended, so there is no playlist to write (see albumrec top)")
    payload = jspf_bytes(jspf_document(tracks, created))
    return payload, f"a JSPF playlist of {len(tracks)} tracks, the top {len(albums)} recommended albums"


def export_command(
    warehouse: UPath, export_format: str, count: int | None, include_all: bool, output: str | None
) -> int:
    import datetime as dt
    from zoneinfo import ZoneInfo

    from albumrec_pipeline.core.playlists import JSPFError, PlaylistError
    from albumrec_pipeline.settings import TIMEZONE
    from albumrec_pipeline.storage.atomic import atomic_write_bytes

    try:
        created = dt.datetime.now(ZoneInfo(TIMEZONE))
        payload, what = export_payload(warehouse, export_format, count, include_all, created)
    except (FileNotFoundError, ArtifactError, PlaylistError, JSPFError) as error:
        print(f"albumrec: {error}", file=sys.stderr)
        return 1
    status = ranking_status(warehouse)
    stale = "" if status is None or status.current else f"\n{status.describe()}"
    if output == "-":
        try:
            sys.stdout.write(payload.decode("utf-8"))
            sys.stdout.flush()
        except BrokenPipeError:
            # `| head` has read what it wanted and closed the pipe: that is a success, not a crash.
            # stdout is pointed at devnull so that the interpreter's own flush at exit stays quiet.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        # The data has stdout to itself, so that it can be piped.
        print(f"wrote {what} to standard output{stale}", file=sys.stderr)
        return 0
    target = Path(output).expanduser().resolve() if output else default_export_path(export_format).resolve()
    try:
        atomic_write_bytes(UPath(target), payload)
    except OSError as error:
        print(f"albumrec: cannot write {target}: {error.strerror or error}", file=sys.stderr)
        return 1
    hint = "; import it in ListenBrainz: Playlists, Import, Upload JSPF file" if export_format == "jspf" else ""
    print(f"wrote {what} to {target}{hint}{stale}")
    return 0


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


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


def _instance_and_locations() -> dict[str, str]:
    """The code location's folders; runs need an instance every process can reach (DAGSTER_HOME)."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(DATA_DIR / "dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    return {
        "acousticbrainz_dumps": str(ACOUSTICBRAINZ_DUMPS_DIR),
        "musicbrainz_dumps": str(MUSICBRAINZ_DUMPS_DIR),
        "warehouse": str(WAREHOUSE_DIR),
        "scratch": str(SCRATCH_DIR),
    }


def _run_recommend_albums(locations: dict[str, str], evaluation: bool | None, log=print) -> bool:
    """recommend_albums in this process: without model_evaluation (False), it alone (None), or all (True).

    A blocking check that stopped the run is said in its own words (what to do), which the run's
    log otherwise names only by the check's name."""
    import dagster as dg

    from albumrec_pipeline.definitions import QUIET_CONSOLE, job_named, reconstructable_job

    job = reconstructable_job("recommend_albums", **locations)
    keys = job_named("recommend_albums", **locations).asset_layer.selected_asset_keys
    evaluation_key = dg.AssetKey(EVALUATION_ASSET)
    selection = {True: keys, False: keys - {evaluation_key}, None: {evaluation_key}}[evaluation]
    with dg.DagsterInstance.get() as instance:
        # A chain of steps that mostly wait on each other: one process suffices.
        result = dg.execute_job(
            job, instance, run_config={**QUIET_CONSOLE, **EXECUTORS["in_process"]}, asset_selection=sorted(selection)
        )
        for check in result.get_asset_check_evaluations():
            if not check.passed and check.blocking and check.description:
                log(f"albumrec: {check.asset_key.to_user_string()} did not pass {check.check_name}: {check.description}")
        # A step that refused its result (dg.Failure, e.g. preference_model's guard) says why in its description.
        for failure in result.get_step_failure_events():
            refused = failure.step_failure_data.user_failure_data
            if refused is not None and refused.description:
                log(f"albumrec: {failure.step_key} stopped: {refused.description}")
    return result.success


def materialize(workers: int, executor: str = "multiprocess", log=print, evaluation: bool = False) -> int:
    locations = _instance_and_locations()
    started = time.perf_counter()
    failed = run_ingest(locations, workers, executor, log)
    if failed:
        log(f"albumrec: {len(failed)} archive(s) failed to ingest ({', '.join(failed)}); see their runs' logs")
        return 1
    log(f"ingested in {time.perf_counter() - started:.1f} s; materializing recommend_albums ...")
    if not _run_recommend_albums(locations, evaluation, log):
        log("albumrec: recommend_albums failed; see the run's log above")
        return 1
    log(
        f"catalog, model and ranking materialized in {time.perf_counter() - started:.1f} s "
        "(the dated recommendation_history is the daily_album_search schedule's"
        + ("" if evaluation else "; `albumrec evaluate` cross-validates the model")
        + ")"
    )
    return 0


def evaluate(log=print) -> int:
    """Materialize model_evaluation (cross-validation on the list's artists) and print its summary."""
    locations = _instance_and_locations()
    started = time.perf_counter()
    log("cross-validating the network and its baselines by artist (model_evaluation) ...")
    if not _run_recommend_albums(locations, None, log):
        log("albumrec: model_evaluation failed; see the run's log above")
        return 1
    path = UPath(locations["warehouse"]) / f"{EVALUATION_ASSET}.parquet"
    summary = read_parquet(path)
    log(f"cross-validated in {time.perf_counter() - started:.1f} s:")
    log(summary.to_markdown(index=False, floatfmt=".3f"))
    return 0


def import_command(source: str, given: str, output: str | None, merge_into: str | None) -> int:
    """`albumrec import listenbrainz USER` / `listenbrainz-export FILE.zip`: loved and hated recordings
    as an `mbid,liked` list, written anew or merged into the listener's list."""
    from albumrec_pipeline.core import listenbrainz as lb
    from albumrec_pipeline.core.liked_tracks import LikedTracksError
    from albumrec_pipeline.resources import listenbrainz_api
    from albumrec_pipeline.resources.http_client import NotFoundError, ServiceError

    try:
        if source == "listenbrainz":
            client = listenbrainz_api.client_from_environment()
            try:
                rows = client.user_feedback(given)
            finally:
                client.close()
            user, who = given, f"ListenBrainz user {given}"
        else:
            export = lb.read_export(Path(given))
            user = export.user or Path(given).stem
            who = f"the ListenBrainz export of {user} ({given})"
            if not export.has_feedback_file:
                raise lb.ListenBrainzImportError(
                    f"no loved or hated recordings for {who}: it holds no {lb.EXPORT_FEEDBACK}, which ListenBrainz "
                    "leaves out when there is no feedback; nothing written"
                )
            rows = export.rows
        imported = lb.imported_feedback(rows)
        if merge_into:
            wrote = lb.merge_into_file(imported, who, Path(merge_into), Path(output) if output else None)
        else:
            wrote = lb.write_new_list(imported, who, Path(output) if output else lb.default_output(DATA_DIR, user))
    except NotFoundError as error:
        print(f"albumrec: ListenBrainz has no user {given!r} ({error.endpoint} answered 404)", file=sys.stderr)
        return 1
    except (ServiceError, lb.ListenBrainzDataError, lb.ListenBrainzImportError, LikedTracksError,
            listenbrainz_api.TokenError, OSError) as error:
        print(f"albumrec: {error}", file=sys.stderr)
        return 1
    print(lb.describe_import(imported, who))
    print(wrote)
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
    run.add_argument(
        "--with-evaluation",
        action="store_true",
        help="also cross-validate the model (model_evaluation, about a minute on the demo); else `albumrec evaluate`",
    )
    commands.add_parser(
        "evaluate", help="cross-validate the model by artist (materialize model_evaluation) and print the summary"
    )
    top = commands.add_parser("top", help="print the top recommended albums")
    top.add_argument("--count", type=int, default=10)
    top.add_argument("--warehouse", default=str(WAREHOUSE_DIR), help="the IO manager's base path")
    top.add_argument(
        "--format", dest="top_format", choices=["text", "markdown"], default="text",
        help="markdown: with cover thumbnails and MusicBrainz links for albums with real MusicBrainz ids",
    )
    feedback = commands.add_parser("feedback", help="mark a recommended album or a recording liked or disliked")
    feedback.add_argument("id", help="release group or release id from album_recommendations, or a recording id")
    verdict = feedback.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--liked", action="store_true")
    verdict.add_argument("--disliked", action="store_true")
    feedback.add_argument("--warehouse", default=str(WAREHOUSE_DIR), help="the IO manager's base path")
    feedback.add_argument("--file", default=str(FEEDBACK_CSV), help="the feedback CSV (default $ALBUMREC_FEEDBACK)")
    export = commands.add_parser(
        "export", help="write the best albums as a JSPF playlist (ListenBrainz imports it), or the ranking as CSV"
    )
    export.add_argument(
        "--format", dest="export_format", choices=sorted(EXPORT_FILES), default="jspf",
        help="jspf: a playlist of the best recommended albums, each whole, in album order (default); "
        "csv: the ranking's rows",
    )
    export.add_argument(
        "--count", type=_at_least_one, default=None,
        help="the best N recommended albums (default: 10 in a playlist, every recommended album in CSV)",
    )
    export.add_argument("--all", action="store_true", help="csv: every ranked album, recommended or not")
    export.add_argument(
        "--output", default=None,
        help=f"where to write; - for standard output (default: {default_export_path('jspf').parent}/"
        f"{EXPORT_FILES['jspf']} or {EXPORT_FILES['csv']})",
    )
    export.add_argument("--warehouse", default=str(WAREHOUSE_DIR), help="the IO manager's base path")
    importing = commands.add_parser("import", help="bring your taste from ListenBrainz as an 'mbid,liked' list")
    sources = importing.add_subparsers(dest="source", required=True)
    for source, given, source_help, given_help in (
        ("listenbrainz", "user", "a user's loved and hated recordings, from the ListenBrainz API",
         "a ListenBrainz user name (feedback is public)"),
        ("listenbrainz-export", "zip", "the loved and hated recordings in a ListenBrainz data export",
         "the .zip ListenBrainz made for you at listenbrainz.org/settings/export/"),
    ):
        option = sources.add_parser(source, help=source_help)
        option.add_argument(given, help=given_help)
        option.add_argument(
            "--output", default=None, metavar="PATH", help="the list to write (default: <data dir>/listenbrainz_<user>.csv)"
        )
        option.add_argument(
            "--merge-into", default=None, metavar="PATH",
            help="add to this list instead (written back to it unless --output names another file); its rows win",
        )
    arguments = parser.parse_args(argv)
    if arguments.command == "import":
        given = arguments.user if arguments.source == "listenbrainz" else arguments.zip
        return import_command(arguments.source, given, arguments.output, arguments.merge_into)
    if arguments.command == "export":
        if arguments.all and arguments.export_format != "csv":
            export.error("--all goes with --format csv: a playlist holds recommended albums only")
        return export_command(
            UPath(arguments.warehouse), arguments.export_format, arguments.count, arguments.all, arguments.output
        )
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
            return materialize(max(1, arguments.workers), arguments.executor, evaluation=arguments.with_evaluation)
        except FileNotFoundError as error:
            print(f"albumrec: {error}", file=sys.stderr)
            return 1
    if arguments.command == "evaluate":
        try:
            return evaluate()
        except (FileNotFoundError, ArtifactError) as error:
            print(f"albumrec: {error}", file=sys.stderr)
            return 1
    try:
        print(top_albums_text(UPath(arguments.warehouse), arguments.count, arguments.top_format == "markdown"))
    except (FileNotFoundError, ArtifactError) as error:
        print(f"albumrec: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
