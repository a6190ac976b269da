"""Named sets of model input columns; the scaler records which one it was fitted on."""

from __future__ import annotations

from albumrec_pipeline.core.feature_columns import (
    NUMERIC_AUDIO_COLUMNS,
    RELEASE_YEAR_COLUMN,
    compact_encoded_feature_columns,
    encoded_feature_columns,
)

FEATURE_SETS = ("audio", "all", "compact")


def feature_set_columns(name: str) -> list[str]:
    """`audio`: the 81 numeric audio features and the release year (albumrec's default);
    `all`: those plus one-hot key, scale, chord key and chord scale (the original's inputs);
    `compact`: what the AcousticBrainz CSV feature dumps hold."""
    if name == "audio":
        return NUMERIC_AUDIO_COLUMNS + [RELEASE_YEAR_COLUMN]
    if name == "all":
        return encoded_feature_columns()
    if name == "compact":
        return compact_encoded_feature_columns()
    raise ValueError(f"unknown feature set {name!r}; choose one of {FEATURE_SETS}")
