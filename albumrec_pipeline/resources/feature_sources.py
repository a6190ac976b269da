"""Where the labelled tracks' features and metadata come from.

Two interfaces, one per outside system, so `raw_track_features` runs unchanged on any source:

- `TrackFeatureSource.fetch_track_features(recording_ids)`: AcousticBrainz feature rows.
- `ReleaseCatalog.recording_metadata(recording_ids)` and `.recording_tags(recording_ids)`:
  MusicBrainz metadata and tags for the labelled tracks.

The default implementations, `IngestedTrackFeatures` and `IngestedReleaseCatalog`, answer from
the catalog the ingest assets built from the dump archives (the Parquet tables in the
warehouse), so the labelled tracks and the candidate albums come from the same data. The live
web-service clients implement the same interfaces.

A source that is not the catalog itself can also add to it, so the album search reads every
source from the same tables: `ReleaseCatalog.discover_releases()` gives release documents and
`TrackFeatureSource.feature_documents(recording_ids)` AcousticBrainz documents, both in the
shape the dump archives hold them. The ingest assets store them as one more partition of the
catalog tables, parsed by the same code as the archives (see `assets.live_search`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pandas as pd
from pydantic import Field
from upath import UPath

from albumrec_pipeline.core.catalog import (
    AUDIO_COLUMNS,
    MUSICBRAINZ_TAGS_COLUMN,
    CandidateOptions,
    RECORDING_FEATURES_TABLE,
    EngineSettings,
    compacted_lookup_sql,
    connect,
    parquet_source,
    recording_tags_sql,
    recording_tracklists_sql,
    register_ids,
)
from albumrec_pipeline.core.musicbrainz_tags import TAG_ARCHIVES
from albumrec_pipeline.core.releases import recording_metadata
from albumrec_pipeline.settings import WAREHOUSE_DIR
from albumrec_pipeline.storage.atomic import is_local

__all__ = [
    "AUDIO_COLUMNS",
    "AlbumSearch",
    "FeatureDocuments",
    "IngestedReleaseCatalog",
    "IngestedTrackFeatures",
    "ReleaseCatalog",
    "ReleaseDiscovery",
    "TrackFeatureFetch",
    "recording_tags_frame",
    "TrackFeatureSource",
]

_fallback_log = logging.getLogger("albumrec").info


@dataclass
class TrackFeatureFetch:
    rows: pd.DataFrame           # AUDIO_COLUMNS, one row per recording that has both documents
    without_documents: list[str]  # recordings with no low-level or no high-level document
    unusable: dict[str, str]     # recording -> why its documents could not be read


@dataclass
class FeatureDocuments:
    """AcousticBrainz documents as the JSON dumps hold them, for the catalog's feature tables."""

    # Per table kind (`core.feature_dumps.LOWLEVEL` / `HIGHLEVEL`): recording -> (submission offset, document).
    documents: dict[str, dict[str, tuple[int, dict]]]
    without_documents: list[str]  # recordings with no low-level document


# Official releases, less the secondary types `candidate_albums` leaves out by default: the search
# then spends no request on albums the ranking would drop.
DEFAULT_ALBUM_QUERY = "status:official AND NOT secondarytype:({})".format(
    " OR ".join(f'"{kind.lower()}"' for kind in CandidateOptions().excluded_secondary_types)
)


@dataclass(frozen=True)
class AlbumSearch:
    """Which albums a search outside the catalog should find (the live partition's definition)."""

    query: str = DEFAULT_ALBUM_QUERY  # MusicBrainz release search (Lucene); the primary types are added to it
    primary_types: tuple[str, ...] = CandidateOptions().primary_types
    max_albums: int = 50
    max_search_pages: int = 5  # of 100 releases each
    min_feature_coverage: float = 0.5  # share of an album's tracks AcousticBrainz must have for it to be kept


@dataclass
class ReleaseDiscovery:
    """Release documents (the WS/2 lookup shape, which is also a line of the JSON dump) found by a search."""

    releases: list[dict]
    query: str
    skipped: dict[str, int]  # why other search hits were not kept -> how many


def recording_tags_frame(recording_ids: Sequence[str], tags: Mapping[str, str | None]) -> pd.DataFrame:
    """What `ReleaseCatalog.recording_tags` returns: mbid, musicbrainz_tags (None where there are none),
    one row per recording asked for, in the order asked."""
    ids = list(dict.fromkeys(recording_ids))
    return pd.DataFrame(
        {
            "mbid": pd.Series(ids, dtype="object"),
            MUSICBRAINZ_TAGS_COLUMN: pd.Series([tags.get(r) for r in ids], dtype="object"),
        }
    )


class TrackFeatureSource(dg.ConfigurableResource):
    """Anything that can give AcousticBrainz feature rows for recordings."""

    def fetch_track_features(
        self, recording_ids: Sequence[str], log: Callable[[str], None] | None = None
    ) -> TrackFeatureFetch:
        raise NotImplementedError

    def feature_documents(
        self, recording_ids: Sequence[str], log: Callable[[str], None] | None = None
    ) -> FeatureDocuments:
        """The recordings' documents, to be stored as a partition of the catalog's feature tables."""
        raise NotImplementedError(
            f"{type(self).__name__} reads the catalog tables: it has no documents to add to them "
            "(the live partition needs ALBUMREC_SOURCE=live)"
        )


class ReleaseCatalog(dg.ConfigurableResource):
    """Anything that can describe recordings and, if it is not the catalog itself, find albums to add to it."""

    def recording_metadata(self, recording_ids: Sequence[str]) -> pd.DataFrame:
        """Columns mbid, artist, release_year, release_title, recording_title."""
        raise NotImplementedError

    def recording_tags(self, recording_ids: Sequence[str], log: Callable[[str], None] | None = None) -> pd.DataFrame:
        """Columns mbid, musicbrainz_tags: the MusicBrainz tags of each recording's releases, release
        group and credited artists as `name=votes;...` (None when it has none). A catalog that
        knows no tags says so: every recording without."""
        return recording_tags_frame(recording_ids, {})

    def discover_releases(self, search: AlbumSearch, log: Callable[[str], None] | None = None) -> ReleaseDiscovery:
        """Albums found outside the catalog, to be stored as a partition of the catalog's release tables."""
        raise NotImplementedError(
            f"{type(self).__name__} reads the catalog tables: it has no releases to add to them "
            "(the live partition needs ALBUMREC_SOURCE=live)"
        )


class _IngestedCatalog(dg.ConfigurableResource):
    warehouse: str = Field(
        default=str(WAREHOUSE_DIR),
        description="The IO manager's base path, where the ingest assets wrote the catalog tables.",
    )
    memory_limit: str = Field(default="1GB", description="DuckDB memory limit for the lookups.")

    def _files(self, asset: str) -> list[UPath]:
        folder = UPath(self.warehouse) / asset
        return sorted(path for path in folder.glob("*.parquet")) if folder.exists() else []

    def _optional_table(self, asset: str) -> str | None:
        """A table whose archives are optional (the tag tables): None when none was ingested."""
        files = self._files(asset)
        return parquet_source([path.as_posix() if is_local(path) else str(path) for path in files]) if files else None

    def _table(self, asset: str) -> str:
        folder = UPath(self.warehouse) / asset
        files = self._files(asset)
        if not files:
            raise FileNotFoundError(
                f"the catalog table {asset} has no files under {folder}: materialize the ingest jobs "
                "(`albumrec materialize`, or ingest_acousticbrainz and ingest_musicbrainz in the UI) first"
            )
        return parquet_source([path.as_posix() if is_local(path) else str(path) for path in files])

    def _compacted_table(self) -> str:
        path = UPath(self.warehouse) / f"{RECORDING_FEATURES_TABLE}.parquet"
        if not path.exists():
            raise FileNotFoundError(
                f"{path} does not exist: materialize {RECORDING_FEATURES_TABLE} (after the ingest jobs; "
                "`albumrec materialize` does both) first"
            )
        return parquet_source([path.as_posix() if is_local(path) else str(path)])

    def _connect(self):
        base = UPath(self.warehouse)
        return connect(EngineSettings(memory_limit=self.memory_limit), [] if is_local(base) else [base.fs])


class IngestedTrackFeatures(_IngestedCatalog, TrackFeatureSource):
    """Feature rows from the catalog built from the AcousticBrainz dumps (ingest assets' tables)."""

    require_highlevel: bool = Field(
        default=True,
        description="Only recordings with both documents (the full feature set); false: compact-only ones too.",
    )

    def fetch_track_features(
        self, recording_ids: Sequence[str], log: Callable[[str], None] | None = None
    ) -> TrackFeatureFetch:
        log = log or _fallback_log
        wanted = list(dict.fromkeys(recording_ids))
        connection = self._connect()
        try:
            query = compacted_lookup_sql(
                self._compacted_table(),
                register_ids(connection, "wanted_recordings", wanted),
                self.require_highlevel,
            )
            rows = connection.execute(query).df()
        finally:
            connection.close()
        found = set(rows["mbid"])
        without = [recording_id for recording_id in wanted if recording_id not in found]
        log(f"catalog features: {len(found)} of {len(wanted)} recordings found, {len(without)} without documents")
        return TrackFeatureFetch(rows[AUDIO_COLUMNS].reset_index(drop=True), without, {})


class IngestedReleaseCatalog(_IngestedCatalog, ReleaseCatalog):
    """Releases and tracks from the catalog built from the MusicBrainz JSON dump (ingest assets' tables)."""

    def _query(self, build: Callable[[Any], str]) -> pd.DataFrame:
        connection = self._connect()
        try:
            return connection.execute(build(connection)).df()
        finally:
            connection.close()

    def tracklists_of(self, recording_ids: Sequence[str]) -> pd.DataFrame:
        """Tracklist rows of the labelled recordings, on every release they appear on."""
        releases, tracks = self._table("musicbrainz_releases"), self._table("musicbrainz_tracks")
        return self._query(
            lambda connection: recording_tracklists_sql(
                releases, tracks, register_ids(connection, "wanted_recordings", list(recording_ids))
            )
        )

    def recording_metadata(self, recording_ids: Sequence[str]) -> pd.DataFrame:
        return recording_metadata(self.tracklists_of(recording_ids), recording_ids)

    def recording_tags(self, recording_ids: Sequence[str], log: Callable[[str], None] | None = None) -> pd.DataFrame:
        """From the release and track tables and, when ingested, the release-group and artist tag tables."""
        log = log or _fallback_log
        ids = list(dict.fromkeys(recording_ids))
        releases, tracks = self._table("musicbrainz_releases"), self._table("musicbrainz_tracks")
        group_tags, artist_tags = (self._optional_table(archive.table) for archive in TAG_ARCHIVES.values())
        found = self._query(
            lambda connection: recording_tags_sql(
                releases, tracks, register_ids(connection, "wanted_recordings", ids), group_tags, artist_tags
            )
        )
        tags = dict(zip(found["recording_id"], found[MUSICBRAINZ_TAGS_COLUMN]))
        log(f"catalog MusicBrainz tags: {len(tags)} of {len(ids)} recordings have some")
        return recording_tags_frame(ids, tags)
