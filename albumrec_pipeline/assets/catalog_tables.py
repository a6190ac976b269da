"""The asset names of the catalog tables the archive and live-search ingest write, by kind."""

from albumrec_pipeline.core.feature_dumps import HIGHLEVEL, LOWLEVEL
from albumrec_pipeline.core.musicbrainz_tags import TAG_ARCHIVES

ACOUSTICBRAINZ_TABLES = {LOWLEVEL: "acousticbrainz_lowlevel", HIGHLEVEL: "acousticbrainz_highlevel"}
MUSICBRAINZ_TABLES = {"releases": "musicbrainz_releases", "tracks": "musicbrainz_tracks"}
MUSICBRAINZ_TAG_TABLES = {entity: archive.table for entity, archive in TAG_ARCHIVES.items()}
