"""The ranking as something to listen to: a JSPF playlist of the best albums, for ListenBrainz.

The playlist is an artifact, not only a table: `album_playlist.parquet` lists its tracks, and
`album_playlist/playlist.jspf` beside it is the file to import. Both are written as one commit
with the JSPF's digest recorded in the table, so the file on disk is always the playlist the
table describes, and a run that dies half-way leaves yesterday's pair whole.
"""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg
from pydantic import Field

from albumrec_pipeline.automation import UPDATE_WHEN_UPSTREAM_CHANGES
from albumrec_pipeline.core.playlists import (
    DEFAULT_ALBUMS,
    RANKING_COLUMNS,
    TRACKLIST_COLUMNS,
    AlbumPlaylist,
    best_albums_playlist,
    jspf_document,
    validate_jspf,
)
from albumrec_pipeline.core.previews import markdown_preview
from albumrec_pipeline.settings import TIMEZONE
from albumrec_pipeline.storage.atomic import require_table_columns
from albumrec_pipeline.storage.tables import TableFiles

GROUP = "recommend"
BATCH_ROWS = 100_000


class AlbumPlaylistConfig(dg.Config):
    albums: int = Field(
        default=DEFAULT_ALBUMS, ge=1, description="How many of the best recommended albums the playlist holds, each complete."
    )
    public: bool = Field(
        default=False, description="Mark the playlist public in the JSPF (ListenBrainz shows public playlists to everyone)."
    )


def _columns_checked(files: TableFiles, columns: list[str], asset: str) -> TableFiles:
    # A table of another shape would otherwise fail deep inside Arrow with a bare KeyError.
    for path in files.paths:
        require_table_columns(path, columns, asset)
    return files


@dg.asset(
    group_name=GROUP,
    kinds={"pandas", "parquet"},
    code_version="1",
    automation_condition=UPDATE_WHEN_UPSTREAM_CHANGES,
)
def album_playlist(
    context: dg.AssetExecutionContext,
    config: AlbumPlaylistConfig,
    album_recommendations: TableFiles,
    candidate_albums: TableFiles,
) -> AlbumPlaylist:
    """A playlist of the best recommended albums, each whole and in album order (medium, then
    position), on the edition the ranking judged: one row per track here, and the JSPF file
    ListenBrainz imports in `album_playlist/playlist.jspf`."""
    ranking = _columns_checked(album_recommendations, RANKING_COLUMNS, "album_recommendations")
    tracklists = _columns_checked(candidate_albums, TRACKLIST_COLUMNS, "candidate_albums")
    albums, tracks = best_albums_playlist(
        ranking.iter_batches(BATCH_ROWS, RANKING_COLUMNS),
        lambda: tracklists.iter_batches(BATCH_ROWS, TRACKLIST_COLUMNS),
        config.albums,
    )
    if albums.empty:
        context.log.warning("no album is recommended: the playlist is empty")
    # The listener's day, as the dated history counts it.
    document = validate_jspf(jspf_document(tracks, dt.datetime.now(ZoneInfo(TIMEZONE)), public=config.public))
    per_album = tracks.groupby("album_rank", sort=True).agg(
        album_title=("album_title", "first"), album_artist=("album_artist", "first"), tracks=("position", "size")
    )
    context.add_output_metadata(
        {
            "albums": len(albums),
            "tracks": len(tracks),
            "title": document["playlist"]["title"],
            "albums_in_playlist": dg.MetadataValue.md(
                markdown_preview(per_album.reset_index().rename(columns={"album_rank": "rank"}))
            ),
        }
    )
    return AlbumPlaylist(tracks, document)
