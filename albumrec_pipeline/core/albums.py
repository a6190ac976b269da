"""Scoring candidate tracks and deciding which albums to recommend."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from albumrec_pipeline.core.dataset import encode_features
from albumrec_pipeline.core.model_artifacts import FeatureSchemaError, FittedScaler, TrainedPreferenceModel

ALBUM_COLUMNS: list[str] = [
    "rank",
    "release_id",
    "release_group_id",
    "album_title",
    "album_artist",
    "release_year",
    "tracks",
    "tracks_with_features",
    "feature_coverage",
    "liked_tracks",
    "liked_share",
    "mean_score",
    "recommended",
]


@dataclass(frozen=True)
class AlbumThresholds:
    # A track counts as liked when its predicted probability reaches this.
    liked_song_threshold: float = 0.5
    # An album is recommended when this share of its scored tracks is liked ...
    album_recommendation_threshold: float = 0.6
    # ... and it has at least this many tracks ...
    album_track_length_threshold: int = 5
    # ... and at least this share of its tracks could be scored at all.
    min_feature_coverage: float = 0.5


def score_tracks(
    features: pd.DataFrame, scaler: FittedScaler, model: TrainedPreferenceModel, batch_size: int = 65536
) -> np.ndarray:
    """Like-probability for each raw feature row (enriched-CSV columns), in row order."""
    if scaler.feature_columns != model.feature_columns:
        raise FeatureSchemaError("the scaler and the network were fitted on different feature columns")
    encoded = encode_features(features)
    scores = [
        model.like_probability(scaler.transform(encoded.iloc[start : start + batch_size]))
        for start in range(0, len(encoded), batch_size)
    ]
    return np.concatenate(scores) if scores else np.empty(0, dtype="float32")


def summarize_albums(tracklists: pd.DataFrame, track_scores: pd.DataFrame, thresholds: AlbumThresholds) -> pd.DataFrame:
    """One row per album: coverage, liked tracks, liked share, mean score, the decision; best first.

    `liked_share` is over the tracks that have features, since an unscored track says nothing
    about taste; `feature_coverage` says how much of the album that share stands on.
    """
    scored = tracklists.merge(track_scores[["recording_id", "like_probability"]], on="recording_id", how="left")
    scored["liked"] = scored["like_probability"] >= thresholds.liked_song_threshold
    scored["has_features"] = scored["like_probability"].notna()
    albums = scored.groupby("release_id", sort=False).agg(
        release_group_id=("release_group_id", "first"),
        album_title=("album_title", "first"),
        album_artist=("album_artist", "first"),
        release_year=("release_year", "first"),
        tracks=("recording_id", "size"),
        tracks_with_features=("has_features", "sum"),
        liked_tracks=("liked", "sum"),
        mean_score=("like_probability", "mean"),
    )
    albums = albums.reset_index()
    albums["feature_coverage"] = albums["tracks_with_features"] / albums["tracks"]
    albums["liked_share"] = (albums["liked_tracks"] / albums["tracks_with_features"].replace(0, np.nan)).fillna(0.0)
    albums["recommended"] = (
        (albums["liked_share"] >= thresholds.album_recommendation_threshold)
        & (albums["tracks"] >= thresholds.album_track_length_threshold)
        & (albums["feature_coverage"] >= thresholds.min_feature_coverage)
    )
    albums = albums.sort_values(
        ["recommended", "liked_share", "mean_score", "tracks", "release_id"],
        ascending=[False, False, False, False, True],
        na_position="last",
    )
    albums["rank"] = np.arange(1, len(albums) + 1)
    return albums[ALBUM_COLUMNS].reset_index(drop=True)
