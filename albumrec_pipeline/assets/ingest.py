"""Group `ingest`: the dump archives as catalog tables, the listener's list and its tracks' features.

The catalog assets are partitioned by dump archive (one static partition per archive file),
so each archive is read once, independently of the others, and in parallel with them; a
failed or re-downloaded archive is re-ingested alone.
"""

import time
from collections.abc import Callable

import dagster as dg
import pandas as pd
from pydantic import Field

from albumrec_pipeline.core.archives import ArchiveReadError, ArchiveStream
from albumrec_pipeline.core.dataset import assemble_raw_track_features
from albumrec_pipeline.core.enriched_csv import read_enriched_csv
from albumrec_pipeline.core.feature_dumps import HIGHLEVEL, LOWLEVEL, TABLE_SCHEMAS, IngestCounts, ingest_feature_archive
from albumrec_pipeline.core.liked_tracks import read_liked_tracks
from albumrec_pipeline.core.releases import CATALOG_TRACK_SCHEMA, RELEASE_SCHEMA, ReleaseIngestCounts, ingest_release_archive
from albumrec_pipeline.resources.dumps import CatalogEngine, DumpArchives
from albumrec_pipeline.resources.feature_sources import ReleaseCatalog, TrackFeatureFetch, TrackFeatureSource
from albumrec_pipeline.settings import DEMO_WORLD_DIR
from albumrec_pipeline.storage.tables import StagedTable

GROUP = "ingest"
ACOUSTICBRAINZ_TABLES = {LOWLEVEL: "acousticbrainz_lowlevel", HIGHLEVEL: "acousticbrainz_highlevel"}
MUSICBRAINZ_TABLES = {"releases": "musicbrainz_releases", "tracks": "musicbrainz_tracks"}
CATALOG_TABLES = [*ACOUSTICBRAINZ_TABLES.values(), *MUSICBRAINZ_TABLES.values()]
# Seconds between progress lines while an archive is read.
PROGRESS_EVERY = 10.0


class ArchiveIngestConfig(dg.Config):
    accept_truncated: bool = Field(
        default=False,
        description=(
            "When the archive turns out truncated or corrupt, keep and store what was read before the damage "
            "(the materialization is marked incomplete) instead of failing the partition."
        ),
    )
    batch_rows: int = Field(default=20_000, description="Rows per batch written; memory holds about one batch.")


class _ArchiveProgress:
    """A line every `PROGRESS_EVERY` seconds: members, documents, rate, share of the file read."""

    def __init__(self, stream: ArchiveStream, describe: Callable[[], str], log: Callable[[str], None]):
        self.stream, self.describe, self.log = stream, describe, log
        self.started = self.last = time.perf_counter()

    def __call__(self, _counts: object = None, final: bool = False) -> None:
        now = time.perf_counter()
        if final or now - self.last >= PROGRESS_EVERY:
            self.last = now
            elapsed = max(now - self.started, 1e-9)
            self.log(
                f"{self.stream.path.name}: {self.describe()} in {elapsed:,.0f} s, "
                f"{self.stream.share_read:.0%} of {self.stream.compressed_size / 1e6:,.1f} MB read"
            )

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started


def _failure(error: ArchiveReadError, read: str) -> dg.Failure:
    return dg.Failure(
        description=f"{error} {read} were read before the damage; set accept_truncated to keep them.",
        metadata={
            "archive": dg.MetadataValue.path(error.archive),
            "last_complete_member": error.last_member or "",
            "members_read": error.members_read,
            "failed_at_unpacked_byte": error.uncompressed_offset,
            "failed_at_file_byte": error.compressed_offset,
        },
    )


def _read_archive(
    read: Callable[[], None],
    staged: dict[str, StagedTable],
    config: ArchiveIngestConfig,
    describe: Callable[[], str],
    read_so_far: Callable[[], str],
    log: Callable[[str], None],
) -> bool:
    """Run `read` over an archive; True when it reached the end.

    On a damaged archive the partition fails and the staged tables are discarded, unless
    `accept_truncated` is set: then what was read before the damage is kept and False returned.
    """
    try:
        read()
    except ArchiveReadError as error:
        if not config.accept_truncated:
            for table in staged.values():
                table.discard()
            raise _failure(error, read_so_far()) from error
        log(f"{error} Keeping the {describe()} read before the damage.")
        return False
    return True


def acousticbrainz_archive_assets(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """Low- and high-level feature tables from one AcousticBrainz dump archive per partition."""

    @dg.multi_asset(
        name="acousticbrainz_archive",
        partitions_def=partitions,
        group_name=GROUP,
        outs={
            ACOUSTICBRAINZ_TABLES[LOWLEVEL]: dg.AssetOut(
                description=(
                    "Low-level AcousticBrainz features, one row per recording (lowest submission offset) and "
                    "archive: key, scale, chords, bpm, loudness, spectral and MFCC means, file tags. Rows from "
                    "the CSV feature dumps hold their compact columns only."
                ),
                kinds={"parquet"},
                code_version="1",
            ),
            ACOUSTICBRAINZ_TABLES[HIGHLEVEL]: dg.AssetOut(
                description=(
                    "High-level AcousticBrainz classifier probabilities (genres, moods, rhythm, timbre, voice), "
                    "one row per recording (lowest submission offset) and archive."
                ),
                kinds={"parquet"},
                code_version="1",
            ),
        },
    )
    def acousticbrainz_archive(
        context: dg.AssetExecutionContext, config: ArchiveIngestConfig, dumps: DumpArchives, catalog_engine: CatalogEngine
    ):
        path = dumps.acousticbrainz_archive(context.partition_key)
        staged = {kind: StagedTable(TABLE_SCHEMAS[kind], catalog_engine.scratch_dir) for kind in ACOUSTICBRAINZ_TABLES}
        counts = IngestCounts()
        stream = ArchiveStream(path)

        def describe() -> str:
            documents = counts.documents[LOWLEVEL] + counts.documents[HIGHLEVEL]
            rate = documents / max(progress.seconds, 1e-9)
            return (
                f"{counts.members:,} members, {counts.documents[LOWLEVEL]:,} low-level and "
                f"{counts.documents[HIGHLEVEL]:,} high-level documents ({rate:,.0f}/s), {counts.csv_rows:,} CSV rows, "
                f"{counts.unusable:,} unusable"
            )

        progress = _ArchiveProgress(stream, describe, context.log.info)
        complete = _read_archive(
            lambda: ingest_feature_archive(
                stream, lambda kind, batch: staged[kind].write(batch), counts, config.batch_rows, on_member=progress
            ),
            staged,
            config,
            describe,
            lambda: f"{counts.documents[LOWLEVEL] + counts.documents[HIGHLEVEL]:,} documents",
            context.log.warning,
        )
        progress(final=True)
        for problem in counts.problems:
            context.log.warning(f"unusable document: {problem}")
        shared = {
            "archive": dg.MetadataValue.path(str(path)),
            "complete": complete,
            "members": counts.members,
            "unusable_documents": counts.unusable,
            "seconds": round(progress.seconds, 1),
        }
        yield dg.Output(
            staged[LOWLEVEL].close(),
            ACOUSTICBRAINZ_TABLES[LOWLEVEL],
            metadata={**shared, "documents": counts.documents[LOWLEVEL], "csv_rows": counts.csv_rows},
        )
        yield dg.Output(
            staged[HIGHLEVEL].close(),
            ACOUSTICBRAINZ_TABLES[HIGHLEVEL],
            metadata={**shared, "documents": counts.documents[HIGHLEVEL]},
        )

    return acousticbrainz_archive


def musicbrainz_archive_assets(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """Release and track tables from the MusicBrainz JSON dump's release archive(s)."""

    @dg.multi_asset(
        name="musicbrainz_archive",
        partitions_def=partitions,
        group_name=GROUP,
        outs={
            MUSICBRAINZ_TABLES["releases"]: dg.AssetOut(
                description=(
                    "MusicBrainz releases: release and release-group ids, title, artist credit (name and artist "
                    "ids), date and year, status, primary and secondary types."
                ),
                kinds={"parquet"},
                code_version="1",
            ),
            MUSICBRAINZ_TABLES["tracks"]: dg.AssetOut(
                description=(
                    "MusicBrainz tracks: release id, medium and track position, recording id, title, artist "
                    "credit and year."
                ),
                kinds={"parquet"},
                code_version="1",
            ),
        },
    )
    def musicbrainz_archive(
        context: dg.AssetExecutionContext, config: ArchiveIngestConfig, dumps: DumpArchives, catalog_engine: CatalogEngine
    ):
        path = dumps.musicbrainz_archive(context.partition_key)
        staged = {
            "releases": StagedTable(RELEASE_SCHEMA, catalog_engine.scratch_dir),
            "tracks": StagedTable(CATALOG_TRACK_SCHEMA, catalog_engine.scratch_dir),
        }
        counts = ReleaseIngestCounts()
        stream = ArchiveStream(path)

        def describe() -> str:
            rate = counts.releases / max(progress.seconds, 1e-9)
            return (
                f"{counts.releases:,} releases ({rate:,.0f}/s) with {counts.tracks:,} tracks, "
                f"{counts.unusable:,} unusable"
            )

        progress = _ArchiveProgress(stream, describe, context.log.info)
        complete = _read_archive(
            lambda: ingest_release_archive(
                stream,
                lambda table, batch: staged[table].write(batch),
                counts,
                max(1, config.batch_rows // 4),
                on_progress=progress,
            ),
            staged,
            config,
            describe,
            lambda: f"{counts.releases:,} releases",
            context.log.warning,
        )
        progress(final=True)
        for problem in counts.problems:
            context.log.warning(f"unusable release: {problem}")
        shared = {"archive": dg.MetadataValue.path(str(path)), "complete": complete, "unusable_releases": counts.unusable}
        yield dg.Output(staged["releases"].close(), MUSICBRAINZ_TABLES["releases"], metadata=shared)
        yield dg.Output(staged["tracks"].close(), MUSICBRAINZ_TABLES["tracks"], metadata=shared)

    return musicbrainz_archive


class LikedTracksConfig(dg.Config):
    csv_path: str = Field(
        default=str(DEMO_WORLD_DIR / "liked_tracks.csv"),
        description="CSV with a header 'mbid,liked': MusicBrainz recording ids, 1 = liked, 0 = disliked.",
    )


@dg.asset(group_name=GROUP, kinds={"pandas", "parquet"}, code_version="1")
def liked_tracks(context: dg.AssetExecutionContext, config: LikedTracksConfig) -> pd.DataFrame:
    """The listener's liked (1) and disliked (0) recordings, validated: UUIDs, 0/1 labels, no conflicts."""
    table = read_liked_tracks(config.csv_path)
    context.add_output_metadata(
        {"source": dg.MetadataValue.path(config.csv_path), "liked_share": float(table["liked"].mean())}
    )
    return table


class RawTrackFeaturesConfig(dg.Config):
    enriched_csv_path: str = Field(
        default="",
        description="Optional: the original project's enriched CSV (reference_track_features.csv format). "
        "When set, the labelled tracks' features and metadata are read from it instead of the sources.",
    )


@dg.asset(group_name=GROUP, kinds={"pandas", "parquet"}, code_version="2", deps=CATALOG_TABLES)
def raw_track_features(
    context: dg.AssetExecutionContext,
    config: RawTrackFeaturesConfig,
    liked_tracks: pd.DataFrame,
    track_features: TrackFeatureSource,
    release_catalog: ReleaseCatalog,
) -> pd.DataFrame:
    """One row per labelled recording with AcousticBrainz features and MusicBrainz metadata.

    Columns as in the original project's enriched CSV: high-level probabilities, key/scale,
    chords, bpm, loudness, spectral means, mfcc_1..13, release year, titles, artist, liked.
    By default looked up in the catalog tables ingested from the dumps (the same data the
    candidate albums come from). Recordings without AcousticBrainz documents are counted and
    left out.
    """
    recording_ids = liked_tracks["mbid"].tolist()
    if config.enriched_csv_path:
        audio, metadata = read_enriched_csv(config.enriched_csv_path)
        fetched = TrackFeatureFetch(audio, sorted(set(recording_ids) - set(audio["mbid"])), {})
        context.log.info(f"features and metadata from {config.enriched_csv_path}")
    else:
        fetched = track_features.fetch_track_features(recording_ids, log=context.log.info)
        metadata = release_catalog.recording_metadata(recording_ids)
    table = assemble_raw_track_features(liked_tracks, fetched.rows, metadata)
    for recording_id, problem in list(fetched.unusable.items())[:20]:
        context.log.warning(f"skipped: {problem}")
    context.add_output_metadata(
        {
            "recordings_requested": len(recording_ids),
            "recordings_without_documents": len(fetched.without_documents),
            "recordings_with_unusable_documents": len(fetched.unusable),
            "recordings_without_musicbrainz_metadata": int(table["release_title"].isna().sum()),
        }
    )
    return table
