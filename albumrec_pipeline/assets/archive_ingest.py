"""The catalog tables from the dump archives, one static partition per archive file.

Each archive is read once, independently of the others and in parallel with them; a failed or
re-downloaded archive is re-ingested alone. With `ALBUMREC_SOURCE=live` the two multi-assets have
one more partition, `live-search`, which `assets.live_search` fills (README, "How the live search
fits the catalog"). The MusicBrainz dump's optional `release-group.tar.xz` and `artist.tar.xz`
are the partitions of two more tables, one asset each (`musicbrainz_tag_archive_asset`); without
those archives the assets have no partitions, and the tags come from the release lines alone.
"""

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field

from albumrec_pipeline.assets.catalog_tables import ACOUSTICBRAINZ_TABLES, MUSICBRAINZ_TABLES
from albumrec_pipeline.assets.live_search import (
    LiveSearchConfig,
    found_tracks_input,
    has_live_partition,
    live_feature_tables,
    live_release_tables,
)
from albumrec_pipeline.core.archives import ArchiveReadError, ArchiveStream
from albumrec_pipeline.core.feature_dumps import HIGHLEVEL, LOWLEVEL, TABLE_SCHEMAS, IngestCounts, ingest_feature_archive
from albumrec_pipeline.core.musicbrainz_tags import TAG_ARCHIVES, TagIngestCounts, ingest_tag_archive
from albumrec_pipeline.core.releases import (
    CATALOG_TRACK_SCHEMA,
    RELEASE_SCHEMA,
    ReleaseIngestCounts,
    ingest_release_archive,
)
from albumrec_pipeline.resources.dumps import CatalogEngine, DumpArchives
from albumrec_pipeline.resources.feature_sources import ReleaseCatalog, TrackFeatureSource
from albumrec_pipeline.resources.source_selection import LIVE_PARTITION, LIVE_SERVICES_POOL
from albumrec_pipeline.storage.tables import StagedTable

GROUP = "ingest"
# Seconds between progress lines while an archive is read.
PROGRESS_EVERY = 10.0


class ArchiveIngestConfig(dg.Config):
    accept_truncated: bool = Field(
        default=False,
        description=(
            "When the archive turns out cut short (an interrupted download), keep and store what was read "
            "before the cut (the materialization is marked incomplete) instead of failing the partition. "
            "A corrupt archive fails regardless: rows decoded before corruption is noticed may be wrong."
        ),
    )
    batch_rows: int = Field(default=20_000, description="Rows per batch written; memory holds about one batch.")


class MusicBrainzIngestConfig(ArchiveIngestConfig):
    live_search: LiveSearchConfig = Field(
        default_factory=LiveSearchConfig,
        description="What the live-search partition holds (with ALBUMREC_SOURCE=live); archive partitions ignore it.",
    )


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
    advice = (
        "set accept_truncated to keep them."
        if error.truncated
        else "they are not kept: the archive is corrupt, not cut short, so they may hold damaged bytes."
    )
    return dg.Failure(
        description=f"{error} {read} were read before the damage; {advice}",
        metadata={
            "archive": dg.MetadataValue.path(error.archive),
            "last_complete_member": error.last_member or "",
            "member_being_read": error.member_being_read or "",
            "truncated": error.truncated,
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
        # Only a cut-short archive keeps its rows: after corruption, rows decoded before the
        # decoder noticed may already be wrong (zstd and xz verify their checksums late).
        if not (config.accept_truncated and error.truncated):
            for table in staged.values():
                table.discard()
            raise _failure(error, read_so_far()) from error
        log(f"{error} Keeping the {describe()} read before the damage.")
        return False
    except BaseException:
        # Any other failure (a damaged CSV member, an interrupt) leaves no staged file in scratch.
        for table in staged.values():
            table.discard()
        raise
    return True


def _acousticbrainz_archive_tables(
    context: dg.AssetExecutionContext, config: ArchiveIngestConfig, path: Path, catalog_engine: CatalogEngine
) -> Iterator[dg.Output]:
    """The low- and high-level feature tables of one AcousticBrainz dump archive."""
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


def _musicbrainz_archive_tables(
    context: dg.AssetExecutionContext, config: ArchiveIngestConfig, path: Path, catalog_engine: CatalogEngine
) -> Iterator[dg.Output]:
    """The release and track tables of the MusicBrainz JSON dump's release archive."""
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
    for problem in counts.tag_problem_notes:
        context.log.warning(f"tags left out: {problem}")
    shared = {
        "archive": dg.MetadataValue.path(str(path)),
        "complete": complete,
        "unusable_releases": counts.unusable,
        "tag_lists_left_out": counts.tag_problems,
    }
    yield dg.Output(staged["releases"].close(), MUSICBRAINZ_TABLES["releases"], metadata=shared)
    yield dg.Output(staged["tracks"].close(), MUSICBRAINZ_TABLES["tracks"], metadata=shared)


def acousticbrainz_archive_assets(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """Low- and high-level feature tables from one AcousticBrainz dump archive per partition, and
    from the live API for the found albums' recordings when `partitions` has the live partition."""
    live = has_live_partition(partitions)

    @dg.multi_asset(
        name="acousticbrainz_archive",
        partitions_def=partitions,
        group_name=GROUP,
        ins={"musicbrainz_tracks": found_tracks_input()} if live else None,
        pool=LIVE_SERVICES_POOL if live else None,
        outs={
            ACOUSTICBRAINZ_TABLES[LOWLEVEL]: dg.AssetOut(
                description=(
                    "Low-level AcousticBrainz features, one row per recording (lowest submission offset) and "
                    "archive: key, scale, chords, bpm, loudness, spectral and MFCC means, file tags. Rows from "
                    "the CSV feature dumps hold their compact columns only. Partition live-search: the "
                    "documents of the live-search albums' recordings, from the AcousticBrainz API."
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
        context: dg.AssetExecutionContext,
        config: ArchiveIngestConfig,
        dumps: DumpArchives,
        catalog_engine: CatalogEngine,
        track_features: TrackFeatureSource,
        # The MusicBrainz tracks input exists only with the live partition: it arrives by name, if at all.
        **live_inputs: pd.DataFrame | None,
    ):
        if context.partition_key == LIVE_PARTITION:
            found_tracks = live_inputs.get("musicbrainz_tracks")
            yield from live_feature_tables(context, config.batch_rows, catalog_engine, track_features, found_tracks)
        else:
            path = dumps.acousticbrainz_archive(context.partition_key)
            yield from _acousticbrainz_archive_tables(context, config, path, catalog_engine)

    return acousticbrainz_archive


def musicbrainz_archive_assets(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """Release and track tables from the MusicBrainz JSON dump's release archive(s), and from the
    live MusicBrainz search when `partitions` has the live partition."""
    live = has_live_partition(partitions)

    @dg.multi_asset(
        name="musicbrainz_archive",
        partitions_def=partitions,
        group_name=GROUP,
        pool=LIVE_SERVICES_POOL if live else None,
        outs={
            MUSICBRAINZ_TABLES["releases"]: dg.AssetOut(
                description=(
                    "MusicBrainz releases: release and release-group ids, title, artist credit (name and artist "
                    "ids), date and year, status, primary and secondary types, and the MusicBrainz tags (with "
                    "votes) of the release, its release group and its credited artists. Partition live-search: "
                    "the albums the MusicBrainz release search finds."
                ),
                kinds={"parquet"},
                code_version="2",
            ),
            MUSICBRAINZ_TABLES["tracks"]: dg.AssetOut(
                description=(
                    "MusicBrainz tracks: release id, medium and track position, recording id, title, artist "
                    "credit and year, and the recording's MusicBrainz tags."
                ),
                kinds={"parquet"},
                code_version="2",
            ),
        },
    )
    def musicbrainz_archive(
        context: dg.AssetExecutionContext,
        config: MusicBrainzIngestConfig,
        dumps: DumpArchives,
        catalog_engine: CatalogEngine,
        release_catalog: ReleaseCatalog,
    ):
        if context.partition_key == LIVE_PARTITION:
            yield from live_release_tables(context, config.live_search.search(), catalog_engine, release_catalog)
        else:
            path = dumps.musicbrainz_archive(context.partition_key)
            yield from _musicbrainz_archive_tables(context, config, path, catalog_engine)

    return musicbrainz_archive


def musicbrainz_tag_archive_asset(entity: str, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The tag table of one optional MusicBrainz dump archive, `release-group` or `artist` (`entity`):
    one row per entity and tag, one partition per archive."""
    archive = TAG_ARCHIVES[entity]

    @dg.asset(
        name=archive.table,
        partitions_def=partitions,
        group_name=GROUP,
        kinds={"parquet"},
        code_version="1",
        description=(
            f"MusicBrainz {entity} tags and genres with their votes, from the JSON dump's {entity}.tar.xz "
            f"(optional): {archive.id_column}, tag (lower case), votes; one row per {entity} and tag, untagged "
            f"{entity}s have none. Combined into the tracks' musicbrainz_tags."
        ),
    )
    def _tag_archive(
        context: dg.AssetExecutionContext, config: ArchiveIngestConfig, dumps: DumpArchives, catalog_engine: CatalogEngine
    ) -> StagedTable:
        path = dumps.musicbrainz_tag_archive(entity, context.partition_key)
        staged = StagedTable(archive.schema, catalog_engine.scratch_dir)
        counts = TagIngestCounts()
        stream = ArchiveStream(path)

        def describe() -> str:
            return (
                f"{counts.documents:,} {entity}s ({counts.tagged:,} tagged, {counts.tags:,} tags), "
                f"{counts.unusable:,} unusable"
            )

        progress = _ArchiveProgress(stream, describe, context.log.info)
        complete = _read_archive(
            lambda: ingest_tag_archive(stream, archive, staged.write, counts, config.batch_rows, on_progress=progress),
            {archive.table: staged},
            config,
            describe,
            lambda: f"{counts.documents:,} {entity}s",
            context.log.warning,
        )
        progress(final=True)
        for problem in counts.problems:
            context.log.warning(f"unusable {entity}: {problem}")
        noun = entity.replace("-", "_") + "s"  # release_groups, artists
        context.add_output_metadata(
            {
                "archive": dg.MetadataValue.path(str(path)),
                "complete": complete,
                noun: counts.documents,
                f"tagged_{noun}": counts.tagged,
                f"unusable_{noun}": counts.unusable,
            }
        )
        return staged.close()

    return _tag_archive
