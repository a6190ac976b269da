"""The one Definitions object of the albumrec code location.

Jobs: `ingest_acousticbrainz` and `ingest_musicbrainz` turn one dump archive (one partition)
per run into catalog tables, and `ingest_musicbrainz_release_group_tags` and
`ingest_musicbrainz_artist_tags` do the same for the MusicBrainz dump's optional
`release-group.tar.xz` and `artist.tar.xz` (no partitions when they are absent); `recommend_albums` materializes everything else, from the
listener's list to the ranked albums (`albumrec materialize` runs all three in order);
`refresh_from_liked_list` is what the liked-list sensor runs when the list or the feedback
changes; `album_search` re-ranks the catalog and records the day's recommendations, on the
`daily_album_search` schedule. Declarative automation keeps the downstream assets current when
a new model or new catalog data lands, and asset checks guard the list, the dataset, the model
and the ranking. The three jobs that write the model or the ranking carry `WRITER_TAG`, which the
run queue lets through one at a time (see `instance_config`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from albumrec_pipeline.assets import (
    archive_ingest,
    background,
    explain,
    history,
    ingest,
    model,
    playlist,
    recommend,
    recording_features,
)
from albumrec_pipeline.checks import ALL_CHECKS
from albumrec_pipeline.instance_config import WRITER_TAG
from albumrec_pipeline.core.musicbrainz_tags import ARTIST, RELEASE_GROUP, TAG_ARCHIVES
from albumrec_pipeline.resources.dumps import (
    CatalogEngine,
    DumpArchives,
    acousticbrainz_archives,
    musicbrainz_archives,
    musicbrainz_tag_archives,
)
from albumrec_pipeline.resources.source_selection import live_partitions, source_kind, source_resources
from albumrec_pipeline.schedules.album_search import build_album_search_schedule
from albumrec_pipeline.sensors.liked_list import build_liked_list_sensor
from albumrec_pipeline.settings import (
    ACOUSTICBRAINZ_DUMPS_DIR,
    MUSICBRAINZ_DUMPS_DIR,
    SCRATCH_DIR,
    WAREHOUSE_DIR,
)
from albumrec_pipeline.storage.parquet_io_manager import ParquetWarehouse

# One job per kind of archive: a job's partitions are those of one partitions definition.
TAG_INGEST_JOBS = {
    RELEASE_GROUP: "ingest_musicbrainz_release_group_tags",
    ARTIST: "ingest_musicbrainz_artist_tags",
}
INGEST_JOBS = ("ingest_acousticbrainz", "ingest_musicbrainz", *TAG_INGEST_JOBS.values())
# A listener's refresh or search is a chain of steps of seconds each: in one process they do not
# each pay for starting Python and importing torch (about 4 s a step on 2 cores). An archive of
# the real dumps is minutes of work, in a process of its own. Either is a Launchpad choice.
IN_ONE_PROCESS = {"execution": {"config": {"in_process": {}}}}
STEP_PROCESSES = {"execution": {"config": {"multiprocess": {}}}}
# The compacted features first: the search ranks whatever archives were ingested since the last one.
ALBUM_SEARCH_ASSETS = (
    "recording_features", "candidate_albums", "candidate_track_features", "track_scores", "album_recommendations", "album_explanations",
    "album_playlist",
)
# The console shows albumrec's own progress lines; every event is still in the run's log.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def build_definitions(
    acousticbrainz_dumps: Path | str = ACOUSTICBRAINZ_DUMPS_DIR,
    musicbrainz_dumps: Path | str = MUSICBRAINZ_DUMPS_DIR,
    warehouse: str = str(WAREHOUSE_DIR),
    scratch: Path | str = SCRATCH_DIR,
) -> dg.Definitions:
    """The code location for dump archives in these folders and a warehouse at this base path.

    The partitions are the archives present when this runs (a static list: reload the code
    location after adding archives).
    """
    # ALBUMREC_SOURCE=live adds the live search's partition to the archives' (see assets.live_search).
    live = live_partitions(source_kind())
    acousticbrainz_partitions = dg.StaticPartitionsDefinition([*acousticbrainz_archives(acousticbrainz_dumps), *live])
    musicbrainz_partitions = dg.StaticPartitionsDefinition([*musicbrainz_archives(musicbrainz_dumps), *live])
    acousticbrainz_archive = archive_ingest.acousticbrainz_archive_assets(acousticbrainz_partitions)
    musicbrainz_archive = archive_ingest.musicbrainz_archive_assets(musicbrainz_partitions)
    # Optional archives: without them these tables have no partitions and the tags come from the releases.
    tag_archives = [
        archive_ingest.musicbrainz_tag_archive_asset(
            entity, dg.StaticPartitionsDefinition([*musicbrainz_tag_archives(musicbrainz_dumps, entity)])
        )
        for entity in TAG_ARCHIVES
    ]
    unpartitioned = dg.load_assets_from_modules([ingest, recording_features, background, model, recommend, explain, playlist])

    ingest_acousticbrainz = dg.define_asset_job(
        "ingest_acousticbrainz",
        selection=dg.AssetSelection.assets(acousticbrainz_archive),
        description="Read one AcousticBrainz dump archive (a partition) into the low- and high-level feature tables.",
        executor_def=dg.multi_or_in_process_executor,
        config={**QUIET_CONSOLE, **STEP_PROCESSES},
    )
    ingest_musicbrainz = dg.define_asset_job(
        "ingest_musicbrainz",
        selection=dg.AssetSelection.assets(musicbrainz_archive),
        description="Read the MusicBrainz JSON dump's release archive (a partition) into the release and track tables.",
        executor_def=dg.multi_or_in_process_executor,
        config={**QUIET_CONSOLE, **STEP_PROCESSES},
    )
    ingest_tags = [
        dg.define_asset_job(
            TAG_INGEST_JOBS[entity],
            selection=dg.AssetSelection.assets(assets),
            description=f"Read the MusicBrainz JSON dump's {entity}.tar.xz (a partition) into the {entity} tag table.",
            executor_def=dg.multi_or_in_process_executor,
            config={**QUIET_CONSOLE, **STEP_PROCESSES},
        )
        for entity, assets in zip(TAG_ARCHIVES, tag_archives)
    ]
    recommend_albums = dg.define_asset_job(
        "recommend_albums",
        tags=WRITER_TAG,
        selection=dg.AssetSelection.assets(*unpartitioned),
        description="From the listener's list and the ingested catalog: features, model, reports, ranked albums.",
        executor_def=dg.multi_or_in_process_executor,
        config={**QUIET_CONSOLE, **IN_ONE_PROCESS},
    )
    # Cross-validation is minutes of work and changes nothing downstream: it runs when asked.
    refresh_from_liked_list = dg.define_asset_job(
        "refresh_from_liked_list",
        tags=WRITER_TAG,
        selection=dg.AssetSelection.assets("liked_tracks").downstream()
        - dg.AssetSelection.assets("model_evaluation", history.recommendation_history),
        description="The listener's list and feedback, features, model, reports and ranking: what a changed list affects.",
        executor_def=dg.multi_or_in_process_executor,
        config={**QUIET_CONSOLE, **IN_ONE_PROCESS},
    )
    album_search = dg.define_asset_job(
        "album_search",
        tags=WRITER_TAG,
        selection=dg.AssetSelection.assets(*ALBUM_SEARCH_ASSETS, history.recommendation_history),
        description="Re-rank the catalog with the current model and record the day's recommendations (a dated partition).",
        executor_def=dg.multi_or_in_process_executor,
        config={**QUIET_CONSOLE, **IN_ONE_PROCESS},
    )
    engine = CatalogEngine(scratch_dir=str(scratch))
    return dg.Definitions(
        # What the jobs below default to, for the runs the automation sensor starts too.
        executor=dg.in_process_executor,
        assets=[acousticbrainz_archive, musicbrainz_archive, *tag_archives, *unpartitioned, history.recommendation_history],
        asset_checks=ALL_CHECKS,
        jobs=[
            ingest_acousticbrainz, ingest_musicbrainz, *ingest_tags, recommend_albums, refresh_from_liked_list, album_search,
        ],
        schedules=[build_album_search_schedule(album_search)],
        sensors=[
            build_liked_list_sensor(refresh_from_liked_list),
            # Evaluates the assets' automation conditions (the default sensor would start stopped).
            dg.AutomationConditionSensorDefinition(
                "keep_recommendations_current",
                target=dg.AssetSelection.all(),
                default_status=dg.DefaultSensorStatus.RUNNING,
                minimum_interval_seconds=60,
                # Its runs write the model and the ranking too: the queue's one-writer rule covers them.
                run_tags=WRITER_TAG,
            ),
        ],
        resources={
            "io_manager": ParquetWarehouse(base_path=warehouse),
            "dumps": DumpArchives(acousticbrainz_dir=str(acousticbrainz_dumps), musicbrainz_dir=str(musicbrainz_dumps)),
            "catalog_engine": engine,
            # ALBUMREC_SOURCE: the ingested catalog (default) or the live web services.
            **source_resources(source_kind(), warehouse),
        },
    )


defs = build_definitions()


def job_named(
    name: str, acousticbrainz_dumps: str, musicbrainz_dumps: str, warehouse: str, scratch: str
) -> dg.JobDefinition:
    """A job of the code location for these locations: what a run's step processes rebuild it from."""
    return build_definitions(acousticbrainz_dumps, musicbrainz_dumps, warehouse, scratch).resolve_job_def(name)


def reconstructable_job(
    name: str,
    acousticbrainz_dumps: Path | str = ACOUSTICBRAINZ_DUMPS_DIR,
    musicbrainz_dumps: Path | str = MUSICBRAINZ_DUMPS_DIR,
    warehouse: str = str(WAREHOUSE_DIR),
    scratch: Path | str = SCRATCH_DIR,
) -> Any:  # what dg.build_reconstructable_job returns, of a class Dagster does not export
    """A job that out-of-process executors (multiprocess, Kubernetes, Celery) can rebuild in each step's
    process. The locations travel with it, so every process sees the same partitions."""
    arguments = (name, str(acousticbrainz_dumps), str(musicbrainz_dumps), str(warehouse), str(scratch))
    return dg.build_reconstructable_job(__name__, "job_named", reconstructable_args=arguments)
