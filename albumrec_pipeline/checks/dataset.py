"""Checks on the training data: a list that can teach a taste, complete critical fields, and
artists never split across parts.

An artist whose tracks sit in both train and test would make the held-out figures measure
artist recognition again, which the artist-grouped split exists to prevent.
"""

import dagster as dg
import pandas as pd
from pydantic import Field

from albumrec_pipeline.core.feature_columns import LABEL_COLUMN
from albumrec_pipeline.core.feature_sets import feature_set_columns
from albumrec_pipeline.core.learnability import LearnabilityFloors, learnability
from albumrec_pipeline.core.liked_only import LIKED_ONLY, choose_taste_mode
from albumrec_pipeline.core.previews import rounded

# What every model and the split read: the compact set's features (the richer sets' columns may be
# missing on some rows; a model trains on the rows its set covers), the label and the artist.
REQUIRED_COLUMNS = [*feature_set_columns("compact"), LABEL_COLUMN, "artist", "split"]


@dg.asset_check(asset="cleaned_dataset", blocking=True, description="No missing value in a field every feature set needs.")
def cleaned_dataset_complete(cleaned_dataset: pd.DataFrame) -> dg.AssetCheckResult:
    present = [column for column in REQUIRED_COLUMNS if column in cleaned_dataset.columns]
    absent_columns = sorted(set(REQUIRED_COLUMNS) - set(present))
    missing = cleaned_dataset[present].isna().sum()
    missing = missing[missing > 0]
    return dg.AssetCheckResult(
        passed=missing.empty and not absent_columns,
        metadata={
            "rows": len(cleaned_dataset),
            "absent_columns": ", ".join(absent_columns),
            "missing_values": dg.MetadataValue.json({column: int(count) for column, count in missing.items()}),
        },
    )


@dg.asset_check(asset="cleaned_dataset", blocking=True, description="No artist in more than one of train, validation, test.")
def cleaned_dataset_artists_split_apart(cleaned_dataset: pd.DataFrame) -> dg.AssetCheckResult:
    splits_per_artist = cleaned_dataset.groupby("artist")["split"].nunique()
    shared = splits_per_artist[splits_per_artist > 1].index.astype("str").tolist()
    return dg.AssetCheckResult(
        passed=not shared,
        metadata={
            "artists": int(splits_per_artist.size),
            "artists_in_several_splits": len(shared),
            "examples": ", ".join(shared[:5]),
        },
    )



class LearnabilityConfig(dg.Config):
    min_recordings: int = Field(default=60, description="Fewest labelled recordings with features to train on.")
    min_artists_per_label: int = Field(
        default=5, description="Fewest artists among the liked recordings, and among the disliked ones."
    )
    min_found_share: float = Field(
        default=0.5, description="Fewest share of the listed recordings that must have AcousticBrainz features."
    )


@dg.asset_check(
    asset="raw_track_features",
    blocking=True,
    additional_ins={"liked_tracks": dg.AssetIn("liked_tracks")},
    description="Enough of the list has features, from enough artists, to learn a taste: otherwise nothing is "
    "trained and the last good model and ranking stay.",
)
def raw_track_features_enough_to_learn(
    config: LearnabilityConfig, raw_track_features: pd.DataFrame, liked_tracks: pd.DataFrame
) -> dg.AssetCheckResult:
    floors = LearnabilityFloors(config.min_recordings, config.min_artists_per_label, config.min_found_share)
    # The liked-only mode by the default rule (background_tracks' own config may ask for another mode).
    labels = liked_tracks[LABEL_COLUMN]
    liked_only = bool((labels == 1).any()) and choose_taste_mode(labels).name == LIKED_ONLY
    judged = learnability(liked_tracks, raw_track_features, floors, liked_only)
    return dg.AssetCheckResult(
        passed=not judged.problems,
        description="; ".join(judged.problems) or None,
        metadata={
            "recordings_listed": judged.listed,
            "recordings_with_features": judged.found,
            "share_with_features": rounded(judged.found_share),
            "artists_liked": judged.liked_artists,
            "artists_disliked": judged.disliked_artists,
        },
    )


dataset_checks = [raw_track_features_enough_to_learn, cleaned_dataset_complete, cleaned_dataset_artists_split_apart]
