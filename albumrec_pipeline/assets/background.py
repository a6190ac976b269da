"""Group `ingest`: the catalog background a list of loved tracks alone is learned against.

See `core.liked_only` for the method. With enough dislikes the table is empty and the model
learns liked against disliked, as it always did.
"""

import dagster as dg
import pandas as pd
from pydantic import Field

from albumrec_pipeline.automation import UPDATE_WHEN_UPSTREAM_CHANGES
from albumrec_pipeline.core.catalog import (
    MUSICBRAINZ_TAGS_COLUMN,
    optional_parquet_source,
    parquet_source,
    recording_tags_sql,
    register_ids,
    with_musicbrainz_tags_sql,
)
from albumrec_pipeline.core.feature_columns import LABEL_COLUMN, RAW_TRACK_COLUMNS
from albumrec_pipeline.core.liked_only import (
    AUTO_MODE,
    LIKED_ONLY,
    TASTE_MODES,
    DislikeFloor,
    background_sample_sql,
    background_size,
    choose_taste_mode,
)
from albumrec_pipeline.resources.dumps import CatalogEngine
from albumrec_pipeline.storage.tables import PresentTableFiles, TableFiles

GROUP = "ingest"
# Read by cleaned_dataset's and preference_model's metadata, and the README.
TASTE_MODE_KEY = "taste_mode"
BACKGROUND_COLUMNS = [*RAW_TRACK_COLUMNS, MUSICBRAINZ_TAGS_COLUMN, LABEL_COLUMN]


class BackgroundTracksConfig(dg.Config):
    taste_mode: str = Field(
        default=AUTO_MODE,
        description="auto: learn from liked tracks against a catalog background when the list has few dislikes "
        "(under min_disliked_rows, or under min_disliked_share of its rows), else liked against disliked; "
        "supervised or liked-only to choose.",
    )
    min_disliked_rows: int = Field(default=20, ge=0, description="Fewer dislikes than this: the liked-only mode (auto).")
    min_disliked_share: float = Field(
        default=0.15, ge=0.0, le=1.0, description="Dislikes under this share of the list: the liked-only mode (auto)."
    )
    background_ratio: float = Field(
        default=3.0, gt=0.0, description="Background recordings per liked recording (liked-only mode)."
    )
    seed: int = Field(default=0, description="Seed of the background sample: the same catalog and seed give the same sample.")


@dg.asset(
    name="background_tracks",
    group_name=GROUP,
    kinds={"duckdb", "parquet"},
    code_version="1",
    automation_condition=UPDATE_WHEN_UPSTREAM_CHANGES,
)
def background_tracks(
    context: dg.AssetExecutionContext,
    config: BackgroundTracksConfig,
    liked_tracks: pd.DataFrame,
    recording_features: TableFiles,
    musicbrainz_releases: TableFiles,
    musicbrainz_tracks: TableFiles,
    musicbrainz_release_group_tags: PresentTableFiles,
    musicbrainz_artist_tags: PresentTableFiles,
    catalog_engine: CatalogEngine,
) -> pd.DataFrame:
    """The catalog background of the liked-only mode, in raw_track_features' columns with liked = 0:
    catalog recordings with features, drawn by artist in rounds (one of each artist, in a seeded order,
    then a second, ...), none by an artist of your list, `background_ratio` per liked recording. Empty in the supervised mode. The metadata
    says which mode the list is learned in, and why."""
    try:
        mode = choose_taste_mode(
            liked_tracks[LABEL_COLUMN], config.taste_mode, DislikeFloor(config.min_disliked_rows, config.min_disliked_share)
        )
    except ValueError as error:
        raise dg.Failure(description=f"{error} (background_tracks' taste_mode is one of {', '.join(TASTE_MODES)})") from None
    context.log.info(f"taste mode: {mode.name}, {mode.reason}")
    if mode.name != LIKED_ONLY:
        table = pd.DataFrame({column: pd.Series(dtype="object") for column in BACKGROUND_COLUMNS})
        context.add_output_metadata({TASTE_MODE_KEY: mode.name, "taste_mode_reason": mode.reason, "background_rows": 0})
        return table
    size = background_size(mode.liked, config.background_ratio)
    tables = (musicbrainz_releases, musicbrainz_tracks, musicbrainz_release_group_tags, musicbrainz_artist_tags)
    connection = catalog_engine.connect(recording_features, *tables)
    try:
        labelled = register_ids(connection, "listener_recordings", liked_tracks["mbid"].tolist())
        releases = parquet_source(musicbrainz_releases.locations())
        tracks = parquet_source(musicbrainz_tracks.locations())
        sample = background_sample_sql(
            parquet_source(recording_features.locations()), releases, tracks, labelled, size, config.seed
        )
        connection.execute(f"CREATE TEMP TABLE background AS {sample}")
        optional = [optional_parquet_source(table.locations()) for table in (musicbrainz_release_group_tags, musicbrainz_artist_tags)]
        tags = recording_tags_sql(releases, tracks, "SELECT mbid AS recording_id FROM background", *optional)
        table = connection.execute(
            f"SELECT * FROM ({with_musicbrainz_tags_sql('SELECT * FROM background', tags)}) ORDER BY mbid"
        ).df()
    finally:
        connection.close()
    table = table[BACKGROUND_COLUMNS].reset_index(drop=True)
    if len(table) < size:
        context.log.warning(
            f"the catalog gave {len(table):,} background recordings of the {size:,} asked for: few recordings have "
            "features outside your artists; the liked-only model learns from fewer"
        )
    context.add_output_metadata(
        {
            TASTE_MODE_KEY: mode.name,
            "taste_mode_reason": mode.reason,
            "background_rows": len(table),
            "background_artists": int(table["artist"].nunique()),
            "background_asked_for": size,
        }
    )
    return table

