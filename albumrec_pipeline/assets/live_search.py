"""The `live-search` partition of the catalog tables, with `ALBUMREC_SOURCE=live`.

`musicbrainz_archive` stores there the albums the MusicBrainz release search finds
(`ReleaseCatalog.discover_releases`), and `acousticbrainz_archive` the AcousticBrainz documents of
their tracks (`TrackFeatureSource.feature_documents`), each parsed by the code that parses the
archives' documents, into the same schemas. Why it is a partition of the archive assets rather
than assets of its own: the README, "How the live search fits the catalog".
"""

import time
from collections.abc import Iterator

import dagster as dg
import pandas as pd
from pydantic import Field

from albumrec_pipeline.assets.catalog_tables import ACOUSTICBRAINZ_TABLES, MUSICBRAINZ_TABLES
from albumrec_pipeline.core.documents import DocumentError
from albumrec_pipeline.core.feature_dumps import TABLE_SCHEMAS, IngestCounts, TableBatcher, parsed_document_row
from albumrec_pipeline.core.releases import CATALOG_TRACK_SCHEMA, RELEASE_SCHEMA, ReleaseIngestCounts, ReleaseRows
from albumrec_pipeline.resources.dumps import CatalogEngine
from albumrec_pipeline.resources.feature_sources import AlbumSearch, ReleaseCatalog, TrackFeatureSource
from albumrec_pipeline.resources.source_selection import LIVE_PARTITION
from albumrec_pipeline.storage.tables import StagedTable

_SEARCH = AlbumSearch()


# What the live-search partition holds: part of `musicbrainz_archive`'s config, not the `release_catalog`
# resource's (README, "How the live search fits the catalog").
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


def has_live_partition(partitions: dg.PartitionsDefinition) -> bool:
    return isinstance(partitions, dg.StaticPartitionsDefinition) and LIVE_PARTITION in partitions.get_partition_keys()


def _live_seconds(started: float) -> float:
    return round(time.perf_counter() - started, 1)


def found_tracks_input() -> dg.AssetIn:
    """The MusicBrainz tracks input of `acousticbrainz_archive`: only the live partition reads them,
    an archive partition maps to none."""
    # A new mapping for every definition: a mapping caches its check against the partitions it first saw.
    return dg.AssetIn(
        MUSICBRAINZ_TABLES["tracks"], partition_mapping=dg.StaticPartitionMapping({LIVE_PARTITION: LIVE_PARTITION})
    )


def live_feature_tables(
    context: dg.AssetExecutionContext,
    batch_rows: int,
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
        batcher = TableBatcher(TABLE_SCHEMAS[kind], batch_rows)
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


def live_release_tables(
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
