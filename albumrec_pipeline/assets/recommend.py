"""Group `recommend`: candidate albums, their tracks' features and scores, the ranked albums."""

import dagster as dg
import pandas as pd
from pydantic import Field

from albumrec_pipeline.core.albums import AlbumThresholds, score_tracks, summarize_albums
from albumrec_pipeline.core.model_artifacts import FittedScaler, TrainedPreferenceModel
from albumrec_pipeline.core.previews import markdown_preview
from albumrec_pipeline.resources.feature_sources import ReleaseCatalog, TrackFeatureSource

GROUP = "recommend"


class CandidateAlbumsConfig(dg.Config):
    primary_types: list[str] = Field(
        default=["Album"], description="MusicBrainz release-group primary types to consider (Album, EP, Single, ...)."
    )


@dg.asset(group_name=GROUP, kinds={"pandas", "parquet"}, code_version="1")
def candidate_albums(
    context: dg.AssetExecutionContext,
    config: CandidateAlbumsConfig,
    liked_tracks: pd.DataFrame,
    release_catalog: ReleaseCatalog,
) -> pd.DataFrame:
    """Tracklists (one row per track) of catalog releases holding none of the listener's labelled recordings."""
    table = release_catalog.candidate_tracklists(liked_tracks["mbid"].tolist(), tuple(config.primary_types))
    context.add_output_metadata({"albums": int(table["release_id"].nunique())})
    return table


@dg.asset(group_name=GROUP, kinds={"pandas", "parquet"}, code_version="1")
def candidate_track_features(
    context: dg.AssetExecutionContext, candidate_albums: pd.DataFrame, track_features: TrackFeatureSource
) -> pd.DataFrame:
    """AcousticBrainz features of every candidate recording that has them, with its release year."""
    recordings = candidate_albums.drop_duplicates("recording_id")
    fetched = track_features.fetch_track_features(recordings["recording_id"].tolist(), log=context.log.info)
    years = recordings[["recording_id", "recording_year", "album_title", "recording_title"]].rename(
        columns={"recording_id": "mbid", "recording_year": "release_year", "album_title": "release_title"}
    )
    table = fetched.rows.merge(years, on="mbid", how="left")
    table["release_year"] = table["release_year"].astype("Float64")
    context.add_output_metadata(
        {
            "candidate_recordings": len(recordings),
            "recordings_without_documents": len(fetched.without_documents),
            "recordings_with_unusable_documents": len(fetched.unusable),
            "feature_coverage": round(len(table) / max(len(recordings), 1), 4),
        }
    )
    return table


@dg.asset(group_name=GROUP, kinds={"pytorch", "parquet"}, code_version="1")
def track_scores(
    candidate_track_features: pd.DataFrame, feature_scaler: FittedScaler, preference_model: TrainedPreferenceModel
) -> pd.DataFrame:
    """The network's like-probability for every candidate recording with features."""
    features = candidate_track_features.copy()
    # A recording with no known release year is scored as if from the middle of the training years.
    data_min, data_max = (
        feature_scaler.summary_table().set_index("feature").loc["release_year", ["data_min", "data_max"]]
    )
    features["release_year"] = features["release_year"].fillna((data_min + data_max) / 2)
    return pd.DataFrame(
        {
            "recording_id": features["mbid"],
            "like_probability": score_tracks(features, feature_scaler, preference_model).astype("float64"),
        }
    )


class AlbumRecommendationConfig(dg.Config):
    liked_song_threshold: float = Field(default=0.5, description="Probability at which a track counts as liked.")
    album_recommendation_threshold: float = Field(
        default=0.6, description="Share of an album's scored tracks that must be liked to recommend it."
    )
    album_track_length_threshold: int = Field(default=5, description="Fewest tracks an album needs to qualify.")
    min_feature_coverage: float = Field(
        default=0.5, description="Fewest share of an album's tracks that must have features to qualify."
    )

    def thresholds(self) -> AlbumThresholds:
        return AlbumThresholds(
            self.liked_song_threshold,
            self.album_recommendation_threshold,
            self.album_track_length_threshold,
            self.min_feature_coverage,
        )


@dg.asset(group_name=GROUP, kinds={"pandas", "parquet"}, code_version="1")
def album_recommendations(
    context: dg.AssetExecutionContext,
    config: AlbumRecommendationConfig,
    candidate_albums: pd.DataFrame,
    track_scores: pd.DataFrame,
) -> pd.DataFrame:
    """Every candidate album with tracks, tracks with features, liked tracks, liked share, mean score
    and the recommendation decision, ranked best first."""
    albums = summarize_albums(candidate_albums, track_scores, config.thresholds())
    recommended = albums[albums["recommended"]]
    context.add_output_metadata(
        {
            "albums_recommended": len(recommended),
            "top_recommendations": dg.MetadataValue.md(
                markdown_preview(recommended[["rank", "album_title", "album_artist", "tracks", "liked_share", "mean_score"]])
            ),
        }
    )
    return albums
