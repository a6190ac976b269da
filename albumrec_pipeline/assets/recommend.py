"""Group `recommend`: candidate albums from the catalog, their tracks' features and scores, the ranking.

Every table here is as large as the catalog, so none is held in memory: DuckDB builds the
candidates, their features and the ranking straight into Parquet, and the network scores the
features batch by batch.
"""

import time
from dataclasses import asdict

import dagster as dg
import pandas as pd
import pyarrow as pa
from pydantic import Field

from albumrec_pipeline.automation import UPDATE_WHEN_UPSTREAM_CHANGES
from albumrec_pipeline.core.albums import (
    AlbumThresholds,
    RankingOptions,
    album_ranking_sql,
    covers_markdown,
    pooled_scores_sql,
    score_feature_batches,
    scoring_columns,
)
from albumrec_pipeline.core.catalog import (
    MUSICBRAINZ_TAGS_COLUMN,
    CandidateOptions,
    candidate_tracklists_sql,
    copy_to_parquet,
    optional_parquet_source,
    parquet_source,
    recording_tags_sql,
    register_ids,
    write_candidate_features,
)
from albumrec_pipeline.core.feature_sets import CANDIDATE_COVERAGE_KEY, FEATURE_SETS, feature_set_coverage_sql
from albumrec_pipeline.core.model_artifacts import TrainedPreferenceModel
from albumrec_pipeline.core.plots import album_scores_figure
from albumrec_pipeline.core.previews import figure_markdown, metadata_table, rounded
from albumrec_pipeline.resources.dumps import CatalogEngine
from albumrec_pipeline.storage.tables import PresentTableFiles, StagedTable, TableFiles

GROUP = "recommend"
SCORE_SCHEMA = pa.schema([pa.field("recording_id", pa.string()), pa.field("like_probability", pa.float64())])
# The network's own scores, before they are pooled by artist.
OWN_SCORE_SCHEMA = pa.schema(
    [pa.field("recording_id", pa.string()), pa.field("artist", pa.string()), pa.field("like_probability", pa.float64())]
)


# The columns of the top-recommendations table on the asset's page: few, since the page's metadata
# panel scrolls sideways for a table wider than itself (about 800 pixels on a 1920-pixel screen).
TOP_COLUMNS = ["rank", "album_title", "album_artist", "predicted_liked_share", "mean_score"]
# The Dagster UI shows a Markdown entry in place when it is shorter than this, else behind a click.
INLINE_MARKDOWN_CHARS = 1000
HISTOGRAM_BINS = 40


def score_histogram_sql(ranking: str) -> str:
    """Albums per bin of mean score and of predicted liked share, split by the decision: counted
    by DuckDB, since the ranking has a row per catalog album."""
    bins = HISTOGRAM_BINS
    return " UNION ALL ".join(
        f"""SELECT '{measure}' AS measure, least(floor({measure} * {bins}), {bins - 1}) / {bins} AS bin_start,
                   {1 / bins!r} AS bin_width, recommended, count(*) AS albums
            FROM {ranking} WHERE {measure} IS NOT NULL GROUP BY ALL"""
        for measure in ("mean_score", "predicted_liked_share")
    )


class CandidateAlbumsConfig(dg.Config):
    primary_types: list[str] = Field(
        default=["Album"], description="MusicBrainz release-group primary types to consider (Album, EP, Single, ...)."
    )
    excluded_secondary_types: list[str] = Field(
        default=["Compilation", "Live", "Remix", "DJ-mix"],
        description="Leave out release groups with any of these secondary types ([] keeps them all).",
    )
    skip_labelled_artists: bool = Field(
        default=False, description="Discovery: leave out albums by any artist on the labelled list."
    )
    min_year: int | None = Field(default=None, description="Earliest original release year of an album.")
    max_year: int | None = Field(default=None, description="Latest original release year of an album.")

    def options(self) -> CandidateOptions:
        return CandidateOptions(
            tuple(self.primary_types),
            tuple(self.excluded_secondary_types),
            self.skip_labelled_artists,
            self.min_year,
            self.max_year,
        )


@dg.asset(
    group_name=GROUP,
    kinds={"duckdb", "parquet"},
    code_version="2",
    automation_condition=UPDATE_WHEN_UPSTREAM_CHANGES,
)
def candidate_albums(
    context: dg.AssetExecutionContext,
    config: CandidateAlbumsConfig,
    liked_tracks: pd.DataFrame,
    musicbrainz_releases: TableFiles,
    musicbrainz_tracks: TableFiles,
    catalog_engine: CatalogEngine,
) -> StagedTable:
    """Tracklists (one row per track) of the catalog's albums to judge: the wanted types and years,
    in release groups holding none of the listener's labelled recordings (on any edition)."""
    connection = catalog_engine.connect(musicbrainz_releases, musicbrainz_tracks)
    try:
        query = candidate_tracklists_sql(
            parquet_source(musicbrainz_releases.locations()),
            parquet_source(musicbrainz_tracks.locations()),
            register_ids(connection, "labelled_recordings", liked_tracks["mbid"].tolist()),
            config.options(),
        )
        destination = catalog_engine.staged_file()
        copy_to_parquet(connection, query, destination)
        releases, groups = connection.execute(
            f"SELECT count(DISTINCT release_id), count(DISTINCT coalesce(release_group_id, release_id)) "
            f"FROM {parquet_source([destination.as_posix()])}"
        ).fetchone()
    finally:
        connection.close()
    context.add_output_metadata({"albums": int(groups), "releases": int(releases)})
    return StagedTable.from_path(destination)


class CandidateTrackFeaturesConfig(dg.Config):
    require_highlevel: bool = Field(
        default=False,
        description=(
            "Only recordings with both AcousticBrainz documents. By default recordings with the compact "
            "(CSV dump) features only are kept too; a model trained on the full feature set skips them when scoring."
        ),
    )


@dg.asset(
    group_name=GROUP,
    kinds={"duckdb", "parquet"},
    code_version="4",
    automation_condition=UPDATE_WHEN_UPSTREAM_CHANGES,
)
def candidate_track_features(
    context: dg.AssetExecutionContext,
    config: CandidateTrackFeaturesConfig,
    candidate_albums: TableFiles,
    recording_features: TableFiles,
    musicbrainz_releases: TableFiles,
    musicbrainz_tracks: TableFiles,
    # Optional archives: whichever partitions exist, possibly none.
    musicbrainz_release_group_tags: PresentTableFiles,
    musicbrainz_artist_tags: PresentTableFiles,
    catalog_engine: CatalogEngine,
) -> StagedTable:
    """AcousticBrainz features of every candidate recording that has them (from `recording_features`), with its
    year and its MusicBrainz tags (`musicbrainz_tags`, from its releases, release group and artists)."""
    tables = (musicbrainz_releases, musicbrainz_tracks, musicbrainz_release_group_tags, musicbrainz_artist_tags)
    connection = catalog_engine.connect(candidate_albums, recording_features, *tables)
    try:
        candidates = parquet_source(candidate_albums.locations())
        tags = recording_tags_sql(
            parquet_source(musicbrainz_releases.locations()),
            parquet_source(musicbrainz_tracks.locations()),
            f"SELECT DISTINCT recording_id FROM {candidates}",
            optional_parquet_source(musicbrainz_release_group_tags.locations()),
            optional_parquet_source(musicbrainz_artist_tags.locations()),
        )
        destination = catalog_engine.staged_file()
        rows = write_candidate_features(
            connection, candidates, parquet_source(recording_features.locations()), destination,
            config.require_highlevel, tags,
        )
        recordings = connection.execute(f"SELECT count(DISTINCT recording_id) FROM {candidates}").fetchone()[0]
        complete, tagged = connection.execute(
            f"SELECT count(*) FILTER (WHERE danceable IS NOT NULL), count({MUSICBRAINZ_TAGS_COLUMN}) "
            f"FROM {parquet_source([destination.as_posix()])}"
        ).fetchone()
        covered = connection.execute(feature_set_coverage_sql(parquet_source([destination.as_posix()]))).fetchone()
    finally:
        connection.close()
    context.add_output_metadata(
        {
            "candidate_recordings": int(recordings),
            "recordings_with_features": rows,
            "recordings_with_full_features": int(complete),
            "recordings_with_musicbrainz_tags": int(tagged),
            "feature_coverage": rounded(rows / max(int(recordings), 1)),
            # What feature_scaler's `auto` choice reads: of the candidates with features (no set can score
            # the others), the share each feature set can score.
            CANDIDATE_COVERAGE_KEY: dg.MetadataValue.json(
                {name: rounded(count / max(rows, 1)) for name, count in zip(FEATURE_SETS, covered, strict=True)}
            ),
        }
    )
    return StagedTable.from_path(destination)


class TrackScoresConfig(dg.Config):
    batch_rows: int = Field(default=100_000, description="Recordings scored per batch; memory holds about one batch.")


@dg.asset(
    group_name=GROUP,
    kinds={"pytorch", "parquet"},
    code_version="2",
    automation_condition=UPDATE_WHEN_UPSTREAM_CHANGES,
)
def track_scores(
    context: dg.AssetExecutionContext,
    config: TrackScoresConfig,
    candidate_track_features: TableFiles,
    preference_model: TrainedPreferenceModel,
    catalog_engine: CatalogEngine,
) -> StagedTable:
    """The network's like-probability for every candidate recording with the features it reads,
    scaled (and its genre tags encoded) with the fit the network was trained with, the one its file
    carries. Each score is then pooled with the artist's other candidate tracks by the weight the
    model was measured with (`artist_pooling`, see the README's model section)."""
    scaler = preference_model.own_scaler()
    own = StagedTable(OWN_SCORE_SCHEMA, catalog_engine.scratch_dir)
    total = candidate_track_features.row_count()
    started, seen = time.perf_counter(), 0
    columns = scoring_columns(scaler, candidate_track_features.column_names())

    def batches():
        nonlocal seen
        for batch in candidate_track_features.iter_batches(config.batch_rows, columns=columns):
            seen += batch.num_rows
            yield batch.to_pandas()

    for scores in score_feature_batches(batches(), scaler, preference_model):
        own.write(scores)
        elapsed = time.perf_counter() - started
        context.log.info(f"scored {own.rows:,} of {total:,} recordings ({seen / max(elapsed, 1e-9):,.0f}/s)")
    own = own.close()
    destination = catalog_engine.staged_file()
    connection = catalog_engine.connect()
    try:
        source = parquet_source([str(own.path)])
        weight = float(preference_model.artist_pooling)
        query = pooled_scores_sql(source, weight) if weight > 0 else f"SELECT recording_id, like_probability FROM {source}"
        copy_to_parquet(connection, query, destination)
    finally:
        connection.close()
        own.path.unlink(missing_ok=True)
    context.add_output_metadata(
        {
            "recordings_scored": own.rows,
            "recordings_without_model_features": total - own.rows,
            "artist_pooling": float(preference_model.artist_pooling),
        }
    )
    return StagedTable.from_path(destination)


class AlbumRecommendationConfig(dg.Config):
    liked_song_threshold: float = Field(default=0.5, description="Probability at which a track counts as liked.")
    album_recommendation_threshold: float = Field(
        default=0.6, description="Share of an album's scored tracks that must be liked to recommend it."
    )
    album_track_length_threshold: int = Field(default=5, description="Fewest tracks an album needs to qualify.")
    min_feature_coverage: float = Field(
        default=0.5, description="Fewest share of an album's tracks that must have features to qualify."
    )
    max_albums_per_artist: int | None = Field(
        default=None, description="At most this many albums per artist in the ranking (empty: no limit)."
    )

    def thresholds(self) -> AlbumThresholds:
        return AlbumThresholds(
            self.liked_song_threshold,
            self.album_recommendation_threshold,
            self.album_track_length_threshold,
            self.min_feature_coverage,
        )


@dg.asset(
    group_name=GROUP,
    kinds={"duckdb", "parquet"},
    code_version="3",
    automation_condition=UPDATE_WHEN_UPSTREAM_CHANGES,
)
def album_recommendations(
    context: dg.AssetExecutionContext,
    config: AlbumRecommendationConfig,
    candidate_albums: TableFiles,
    track_scores: TableFiles,
    catalog_engine: CatalogEngine,
) -> StagedTable:
    """Every candidate album (one per release group) with tracks, tracks with features, the tracks the
    network predicts liked and their share, mean score and the recommendation decision, ranked best first."""
    connection = catalog_engine.connect(candidate_albums, track_scores)
    try:
        query = album_ranking_sql(
            parquet_source(candidate_albums.locations()),
            parquet_source(track_scores.locations()),
            config.thresholds(),
            RankingOptions(config.max_albums_per_artist),
        )
        destination = catalog_engine.staged_file()
        albums = copy_to_parquet(connection, query, destination)
        ranking = parquet_source([destination.as_posix()])
        top = connection.execute(
            f"SELECT {', '.join(TOP_COLUMNS)}, release_group_id FROM {ranking} WHERE recommended ORDER BY rank LIMIT 10"
        ).df()
        recommended = connection.execute(f"SELECT count(*) FROM {ranking} WHERE recommended").fetchone()[0]
        histogram = connection.execute(score_histogram_sql(ranking)).df()
    finally:
        connection.close()
    thresholds = config.thresholds()
    covers = covers_markdown(top, max_chars=INLINE_MARKDOWN_CHARS - 1)
    context.add_output_metadata(
        {
            "top_recommendations": metadata_table(top[TOP_COLUMNS]),
            # Table cells show text only: covers and MusicBrainz links need Markdown, and an album
            # the catalog made up (the demo world's) has neither, so then there is no entry at all.
            **({"top_recommendations_covers": dg.MetadataValue.md(covers)} if covers else {}),
            "albums": albums,
            "albums_recommended": int(recommended),
            # The thresholds travel with the table, so its check judges it by the rules that made it.
            **asdict(thresholds),
            "album_scores": figure_markdown(
                album_scores_figure(histogram, thresholds.liked_song_threshold, thresholds.album_recommendation_threshold)
            ),
        }
    )
    return StagedTable.from_path(destination)
