"""Group `ingest`: the dump archives as catalog tables, the listener's list and its tracks' features.

The catalog assets are partitioned by dump archive (one static partition per archive file),
so each archive is read once, independently of the others, and in parallel with them; a
failed or re-downloaded archive is re-ingested alone.

The live services are one more partition of the same four tables. With `ALBUMREC_SOURCE=live`
both multi-assets also have the partition `live-search` (`LIVE_PARTITION`): there
`musicbrainz_archive` stores the albums the MusicBrainz release search finds
(`ReleaseCatalog.discover_releases`) and `acousticbrainz_archive` the AcousticBrainz documents
of their tracks (`TrackFeatureSource.feature_documents`). Both are parsed by the code that
parses archive documents (`core.releases.ReleaseRows`,
`core.feature_dumps.parsed_document_row`) into the same schemas, so `candidate_albums` and everything
after it read found and dumped albums alike, from the same files. Partitions of the existing
assets, not new assets: an asset key has one definition, and new keys would need every reader
of the catalog changed.

What `acousticbrainz_archive`'s live partition fetches is the recordings of
`musicbrainz_archive`'s live partition: it takes `musicbrainz_tracks` as an input through a
`StaticPartitionMapping` of `live-search` to `live-search` only. An archive partition maps to
no upstream partition, receives nothing and reads its archive, so archive ingest depends on
neither live data nor the liked list, and the lineage says exactly that the live features
follow the live albums (materialize the MusicBrainz partition first). The search does not
skip albums holding the listener's labelled recordings: `candidate_albums` leaves them out,
as it does for the dumps, and an input of the liked list would make every archive partition
depend on it.

The multi-assets always take the source resources (`track_features`, `release_catalog`; every
source kind provides them, and Dagster takes a resource either as a typed argument or by key,
not both); only the live partition calls them.

Every asset that can call a web service (these two in live mode, and `raw_track_features`)
shares one Dagster pool, `LIVE_SERVICES_POOL`, so with the instance's pool limit (the Makefile
sets 1) two runs never call the services at once. A pool belongs to an op, not a partition, so
in live mode the limit also spaces out archive partitions. Without the live source nothing is
called and no pool is set. The request budget itself is shared by every process through the
clients' rate limiter.

The MusicBrainz dump's optional `release-group.tar.xz` and `artist.tar.xz` are the partitions
of two more tables, `musicbrainz_release_group_tags` and `musicbrainz_artist_tags` (one asset
each, `musicbrainz_tag_archive_asset`), discovered in the same folder as `release.tar.xz` and
read by the same streaming reader. Without those archives the assets have no partitions, and
the MusicBrainz tags come from the release lines alone. They have no live partition: a live
release lookup carries its release group's and artists' tags itself.

What the search looks for is `musicbrainz_archive`'s config, `live_search` (query, primary
types, how many albums, how many search pages, the AcousticBrainz coverage an album needs),
not the `release_catalog` resource's: it defines what the partition holds, while the resource
says how to talk to the service; and run config given to a resource in the Launchpad replaces
the values set in code (the contact, a mirror's URL) instead of adding to them.
"""

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field

from albumrec_pipeline.automation import UPDATE_WHEN_UPSTREAM_CHANGES
from albumrec_pipeline.core.archives import ArchiveReadError, ArchiveStream
from albumrec_pipeline.core.catalog import MUSICBRAINZ_TAGS_COLUMN, RECORDING_FEATURES_TABLE, with_recording_tags
from albumrec_pipeline.core.dataset import assemble_raw_track_features
from albumrec_pipeline.core.documents import DocumentError
from albumrec_pipeline.core.enriched_csv import read_enriched_csv
from albumrec_pipeline.core.feature_dumps import (
    HIGHLEVEL,
    LOWLEVEL,
    TABLE_SCHEMAS,
    IngestCounts,
    TableBatcher,
    parsed_document_row,
    ingest_feature_archive,
)
from albumrec_pipeline.core.feedback import apply_feedback, input_fingerprint, read_feedback
from albumrec_pipeline.core.liked_tracks import read_liked_tracks
from albumrec_pipeline.core.musicbrainz_tags import TAG_ARCHIVES, TagIngestCounts, ingest_tag_archive
from albumrec_pipeline.core.previews import rounded
from albumrec_pipeline.core.user_files import checked_user_path
from albumrec_pipeline.core.releases import (
    CATALOG_TRACK_SCHEMA,
    RELEASE_SCHEMA,
    ReleaseIngestCounts,
    ReleaseRows,
    ingest_release_archive,
)
from albumrec_pipeline.resources.dumps import CatalogEngine, DumpArchives
from albumrec_pipeline.resources.feature_sources import (
    AlbumSearch,
    ReleaseCatalog,
    TrackFeatureFetch,
    TrackFeatureSource,
)
from albumrec_pipeline.resources.source_selection import LIVE_PARTITION, LIVE_SERVICES_POOL
from albumrec_pipeline.settings import FEEDBACK_CSV, LIKED_TRACKS_CSV
from albumrec_pipeline.storage.tables import StagedTable

GROUP = "ingest"
ACOUSTICBRAINZ_TABLES = {LOWLEVEL: "acousticbrainz_lowlevel", HIGHLEVEL: "acousticbrainz_highlevel"}
MUSICBRAINZ_TABLES = {"releases": "musicbrainz_releases", "tracks": "musicbrainz_tracks"}
MUSICBRAINZ_TAG_TABLES = {entity: archive.table for entity, archive in TAG_ARCHIVES.items()}
CATALOG_TABLES = [*ACOUSTICBRAINZ_TABLES.values(), *MUSICBRAINZ_TABLES.values(), *MUSICBRAINZ_TAG_TABLES.values()]
INPUT_FINGERPRINT_KEY = "input_sha256"
LIST_SETTING_KEY = "list_setting"
FEEDBACK_SETTING_KEY = "feedback_setting"
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


_SEARCH = AlbumSearch()


class LiveSearchConfig(dg.Config):
    query: str = Field(
        default=_SEARCH.query,
        description="MusicBrainz release search (Lucene), e.g. 'status:official AND tag:jazz' or "
        "'artist:\"Miles Davis\"'; the primary types are added to it. The default leaves out the secondary "
        "types candidate_albums leaves out, so no request is spent on albums it would drop.",
    )
    primary_types: list[str] = Field(
        default=list(_SEARCH.primary_types),
        description="Release-group primary types to search for; candidate_albums' primary_types must include them.",
    )
    max_albums: int = Field(default=_SEARCH.max_albums, ge=1, description="Stop once this many albums are kept.")
    max_search_pages: int = Field(
        default=_SEARCH.max_search_pages, ge=1, description="Release search pages (100 releases each) to go through."
    )
    min_feature_coverage: float = Field(
        default=_SEARCH.min_feature_coverage,
        ge=0,
        le=1,
        description="Share of an album's tracks that AcousticBrainz must have for the album to be kept.",
    )

    def search(self) -> AlbumSearch:
        return AlbumSearch(
            self.query, tuple(self.primary_types), self.max_albums, self.max_search_pages, self.min_feature_coverage
        )


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


# --- the live partition ---------------------------------------------------------------------


def has_live_partition(partitions: dg.PartitionsDefinition) -> bool:
    return isinstance(partitions, dg.StaticPartitionsDefinition) and LIVE_PARTITION in partitions.get_partition_keys()


def _live_seconds(started: float) -> float:
    return round(time.perf_counter() - started, 1)


def _live_feature_tables(
    context: dg.AssetExecutionContext,
    config: ArchiveIngestConfig,
    catalog_engine: CatalogEngine,
    source: TrackFeatureSource,
    found_tracks: pd.DataFrame | None,
) -> Iterator[dg.Output]:
    """The live partition of the feature tables: the documents of the found albums' recordings."""
    if found_tracks is None:
        raise dg.Failure(f"acousticbrainz_archive {LIVE_PARTITION} received no musicbrainz_tracks partition")
    started = time.perf_counter()
    recording_ids = list(dict.fromkeys(found_tracks["recording_id"].dropna()))
    context.log.info(
        f"{LIVE_PARTITION}: AcousticBrainz documents for the {len(recording_ids):,} recordings on the "
        f"{found_tracks['release_id'].nunique():,} albums the MusicBrainz search found"
    )
    fetched = source.feature_documents(recording_ids, log=context.log.info)
    staged = {kind: StagedTable(TABLE_SCHEMAS[kind], catalog_engine.scratch_dir) for kind in ACOUSTICBRAINZ_TABLES}
    counts = IngestCounts()
    for kind, documents in fetched.documents.items():
        batcher = TableBatcher(TABLE_SCHEMAS[kind], config.batch_rows)
        for recording_id, (offset, document) in documents.items():
            try:
                # Through the archive documents' own parser, so both give a document the same row.
                row = parsed_document_row(kind, recording_id, offset, document)
            except DocumentError as error:
                counts.note_problem(f"recording {recording_id}: {error}")
                continue
            counts.documents[kind] += 1
            if (batch := batcher.add(row)) is not None:
                staged[kind].write(batch)
        if (batch := batcher.flush()) is not None:
            staged[kind].write(batch)
    for problem in counts.problems:
        context.log.warning(f"unusable document: {problem}")
    shared = {
        "source": "AcousticBrainz API",
        "complete": True,
        "recordings": len(recording_ids),
        "recordings_without_documents": len(fetched.without_documents),
        "unusable_documents": counts.unusable,
        "seconds": _live_seconds(started),
    }
    for kind, table in ACOUSTICBRAINZ_TABLES.items():
        yield dg.Output(staged[kind].close(), table, metadata={**shared, "documents": counts.documents[kind]})


def _live_release_tables(
    context: dg.AssetExecutionContext, search: AlbumSearch, catalog_engine: CatalogEngine, catalog: ReleaseCatalog
) -> Iterator[dg.Output]:
    """The live partition of the release tables: the albums the MusicBrainz search finds."""
    started = time.perf_counter()
    found = catalog.discover_releases(search, log=context.log.info)
    staged = {
        "releases": StagedTable(RELEASE_SCHEMA, catalog_engine.scratch_dir),
        "tracks": StagedTable(CATALOG_TRACK_SCHEMA, catalog_engine.scratch_dir),
    }
    counts = ReleaseIngestCounts()
    collected = ReleaseRows(counts)
    for document in found.releases:
        # The lookup documents are the dump's lines: the dump's parser reads them.
        collected.add(document, f"release {document.get('id') if isinstance(document, dict) else document!r}")
    # The search keeps at most `max_albums` albums, all in memory already: one batch.
    for name, table in collected.take().items():
        staged[name].write(table)
    for problem in counts.problems:
        context.log.warning(f"unusable release: {problem}")
    for problem in counts.tag_problem_notes:
        context.log.warning(f"tags left out: {problem}")
    shared = {
        "source": "MusicBrainz search",
        "query": found.query,
        "complete": True,
        "albums": counts.releases,
        "unusable_releases": counts.unusable,
        "skipped_search_hits": dg.MetadataValue.json(found.skipped),
        "seconds": _live_seconds(started),
    }
    yield dg.Output(staged["releases"].close(), MUSICBRAINZ_TABLES["releases"], metadata=shared)
    tracks_metadata = {**shared, "tracks": counts.tracks}
    yield dg.Output(staged["tracks"].close(), MUSICBRAINZ_TABLES["tracks"], metadata=tracks_metadata)


def acousticbrainz_archive_assets(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """Low- and high-level feature tables from one AcousticBrainz dump archive per partition, and
    from the live API for the found albums' recordings when `partitions` has the live partition."""
    live = has_live_partition(partitions)
    # Only the live partition reads the MusicBrainz tables: an archive partition maps to none.
    found_tracks = dg.AssetIn(
        MUSICBRAINZ_TABLES["tracks"], partition_mapping=dg.StaticPartitionMapping({LIVE_PARTITION: LIVE_PARTITION})
    )

    @dg.multi_asset(
        name="acousticbrainz_archive",
        partitions_def=partitions,
        group_name=GROUP,
        ins={"musicbrainz_tracks": found_tracks} if live else None,
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
            tracks = live_inputs.get("musicbrainz_tracks")
            yield from _live_feature_tables(context, config, catalog_engine, track_features, tracks)
            return
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
            yield from _live_release_tables(context, config.live_search.search(), catalog_engine, release_catalog)
            return
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


class LikedTracksConfig(dg.Config):
    csv_path: str = Field(
        default=str(LIKED_TRACKS_CSV),
        description="CSV with a header 'mbid,liked': MusicBrainz recording ids, 1 = liked, 0 = disliked "
        "(default: $ALBUMREC_LIKED_TRACKS, else the demo world's list).",
    )
    feedback_csv_path: str = Field(
        default=str(FEEDBACK_CSV),
        description="Feedback on recommendations, same format (written by `albumrec feedback`); it overrides "
        "the list where they disagree. A missing file means no feedback yet.",
    )


@dg.asset(group_name=GROUP, kinds={"pandas", "parquet"}, code_version="2")
def liked_tracks(context: dg.AssetExecutionContext, config: LikedTracksConfig) -> pd.DataFrame:
    """The listener's liked (1) and disliked (0) recordings with their feedback on recommendations
    applied, validated: UUIDs, 0/1 labels, no conflicts."""
    # One spelling of each path (`~` expanded) for reading, hashing, the metadata and the sensor.
    list_path, feedback_path = Path(config.csv_path).expanduser(), Path(config.feedback_csv_path).expanduser()
    # Vetted (core.user_files) before anything touches them; hashed before they are read, so that
    # an edit saved while this runs is a change the sensor still sees.
    checked_user_path(list_path, "the liked list")
    if feedback_path.exists():  # a missing feedback file is no feedback yet
        checked_user_path(feedback_path, "the feedback file")
    fingerprint = input_fingerprint(list_path, feedback_path)
    listed = read_liked_tracks(list_path)
    merged = apply_feedback(listed, read_feedback(feedback_path))
    table = merged.table
    context.add_output_metadata(
        {
            "source": dg.MetadataValue.path(str(list_path)),
            "feedback": dg.MetadataValue.path(str(feedback_path)),
            # What the parser repaired: rows read, empty rows skipped, repeated recordings dropped.
            **{f"list_{name}": count for name, count in listed.attrs.get("liked_list", {}).items()},
            "recordings_added_by_feedback": merged.added,
            "recordings_relabelled_by_feedback": merged.relabelled,
            "liked_share": rounded(table["liked"].mean()),
            # What the liked-list sensor compares the files with, to tell whether they changed since.
            INPUT_FINGERPRINT_KEY: fingerprint,
            # The files the environment named when this ran: the sensor follows a variable that has
            # changed since, and otherwise the files read here (a Launchpad choice included).
            LIST_SETTING_KEY: dg.MetadataValue.path(str(LIKED_TRACKS_CSV)),
            FEEDBACK_SETTING_KEY: dg.MetadataValue.path(str(FEEDBACK_CSV)),
        }
    )
    return table


class RawTrackFeaturesConfig(dg.Config):
    enriched_csv_path: str = Field(
        default="",
        description="Optional: the original project's enriched CSV (reference_track_features.csv format). "
        "When set, the labelled tracks' features and metadata are read from it instead of the sources.",
    )


@dg.asset(
    group_name=GROUP,
    kinds={"pandas", "parquet"},
    code_version="3",
    # The catalog the lookups read: the compacted features, the releases and the tags.
    deps=[RECORDING_FEATURES_TABLE, *MUSICBRAINZ_TABLES.values(), *MUSICBRAINZ_TAG_TABLES.values()],
    automation_condition=UPDATE_WHEN_UPSTREAM_CHANGES,
    # Always pooled: with the live source it calls both services; with the catalog the pool is idle.
    pool=LIVE_SERVICES_POOL,
)
def raw_track_features(
    context: dg.AssetExecutionContext,
    config: RawTrackFeaturesConfig,
    liked_tracks: pd.DataFrame,
    track_features: TrackFeatureSource,
    release_catalog: ReleaseCatalog,
) -> pd.DataFrame:
    """One row per labelled recording with AcousticBrainz features and MusicBrainz metadata.

    Columns as in the original project's enriched CSV: high-level probabilities, key/scale,
    chords, bpm, loudness, spectral means, mfcc_1..13, release year, titles, artist; then
    `musicbrainz_tags` (the MusicBrainz tags of the recording's releases, release group and
    artists, `name=votes;...`) and liked. By default looked up in the catalog built from the dumps
    (`recording_features` and the release tables: the same data the candidate albums come from). Recordings without
    AcousticBrainz documents are counted and left out.
    """
    recording_ids = liked_tracks["mbid"].tolist()
    if config.enriched_csv_path:
        audio, metadata = read_enriched_csv(config.enriched_csv_path)
        fetched = TrackFeatureFetch(audio, sorted(set(recording_ids) - set(audio["mbid"])), {})
        tags = None  # the enriched CSV has no MusicBrainz tags
        context.log.info(f"features and metadata from {config.enriched_csv_path}")
    else:
        fetched = track_features.fetch_track_features(recording_ids, log=context.log.info)
        metadata = release_catalog.recording_metadata(recording_ids)
        wanted = fetched.rows["mbid"].tolist()  # tags only for the recordings that stay
        tags = release_catalog.recording_tags(wanted, log=context.log.info) if wanted else None
    table = with_recording_tags(assemble_raw_track_features(liked_tracks, fetched.rows, metadata), tags)
    for recording_id, problem in list(fetched.unusable.items())[:20]:
        context.log.warning(f"skipped: {problem}")
    context.add_output_metadata(
        {
            "recordings_requested": len(recording_ids),
            "recordings_without_documents": len(fetched.without_documents),
            "recordings_with_unusable_documents": len(fetched.unusable),
            "recordings_without_musicbrainz_metadata": int(table["release_title"].isna().sum()),
            "recordings_with_musicbrainz_tags": int(table[MUSICBRAINZ_TAGS_COLUMN].notna().sum()),
        }
    )
    return table
