"""Checks on the training table: complete critical fields, and artists never split across parts.

An artist whose tracks sit in both train and test would make the held-out figures measure
artist recognition again, which the artist-grouped split exists to prevent.
"""

import dagster as dg
import pandas as pd

from albumrec_pipeline.core.feature_columns import LABEL_COLUMN, encoded_feature_columns

# What the model and the split read: every encoded feature, the label and the artist.
REQUIRED_COLUMNS = [*encoded_feature_columns(), LABEL_COLUMN, "artist", "split"]


@dg.asset_check(asset="cleaned_dataset", blocking=True, description="No missing value in a field the model needs.")
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


dataset_checks = [cleaned_dataset_complete, cleaned_dataset_artists_split_apart]
