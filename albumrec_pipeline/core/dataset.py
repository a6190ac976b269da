"""From raw track rows to a clean, encoded, split training table."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from albumrec_pipeline.core.feature_columns import (
    CATEGORICAL_COLUMNS,
    CATEGORICAL_VOCABULARIES,
    COMPACT_LOWLEVEL_COLUMNS,
    LABEL_COLUMN,
    NUMERIC_AUDIO_COLUMNS,
    RAW_TRACK_COLUMNS,
    RELEASE_YEAR_COLUMN,
    encoded_feature_columns,
)
from albumrec_pipeline.core.liked_only import BACKGROUND, LISTENER, ROW_ROLE_COLUMN
from albumrec_pipeline.core.tags import TAG_TEXT_COLUMNS

SPLITS = ("train", "validation", "test")
# Rows without these cannot be described to the network, or cannot be placed in a split: the
# columns every feature set reads (the CSV feature dumps'), and the artist. The other feature
# columns may be missing; the model trains on the rows its feature set covers (`core.feature_sets`).
CRITICAL_COLUMNS: list[str] = COMPACT_LOWLEVEL_COLUMNS + ["artist"]
DESCRIPTIVE_COLUMNS: list[str] = ["mbid", "artist", "release_title", "recording_title"]


def assemble_raw_track_features(
    liked: pd.DataFrame, audio_rows: pd.DataFrame, metadata: pd.DataFrame
) -> pd.DataFrame:
    """Join labels, audio features and MusicBrainz metadata into the enriched-CSV layout.

    Recordings without audio features are left out (they are reported, not guessed).
    MusicBrainz's credited artist wins over the file tag the AcousticBrainz submitter had.
    """
    rows = liked.merge(audio_rows, on="mbid", how="inner")
    rows = rows.merge(metadata, on="mbid", how="left", suffixes=("_tag", ""))
    if "artist_tag" in rows:
        rows["artist"] = rows["artist"].fillna(rows["artist_tag"])
    rows[RELEASE_YEAR_COLUMN] = rows[RELEASE_YEAR_COLUMN].astype("Float64")
    return rows[RAW_TRACK_COLUMNS + [LABEL_COLUMN]].reset_index(drop=True)


def one_hot_tonal(frame: pd.DataFrame, columns: list[str] = CATEGORICAL_COLUMNS) -> pd.DataFrame:
    """One column per key and scale over fixed vocabularies, so every table encodes alike."""
    encoded = {}
    rows = np.arange(len(frame))
    for column in columns:
        vocabulary = CATEGORICAL_VOCABULARIES[column]
        # Category codes (-1 outside the vocabulary) cost one hash per row rather than one string
        # comparison per row and value, which matters when scoring millions of recordings.
        codes = pd.Categorical(frame[column], categories=vocabulary).codes
        known = codes >= 0
        one_hot = np.zeros((len(frame), len(vocabulary)))
        one_hot[rows[known], codes[known]] = 1.0
        for index, value in enumerate(vocabulary):
            encoded[f"{column}_{value}"] = one_hot[:, index]
    return pd.DataFrame(encoded, index=frame.index)


def _categorical_sources(encoded_columns: list[str]) -> list[str]:
    """The categorical raw columns whose one-hot columns are among `encoded_columns`."""
    return [
        column
        for column, vocabulary in CATEGORICAL_VOCABULARIES.items()
        if any(f"{column}_{value}" in encoded_columns for value in vocabulary)
    ]


def raw_columns_for(encoded_columns: list[str]) -> list[str]:
    """The raw (enriched-CSV) columns needed to build these encoded columns."""
    numeric = [column for column in encoded_columns if column in NUMERIC_AUDIO_COLUMNS + [RELEASE_YEAR_COLUMN]]
    return numeric + _categorical_sources(encoded_columns)


def encode_columns(frame: pd.DataFrame, encoded_columns: list[str], with_tag_text: bool = False) -> pd.DataFrame:
    """Just the requested encoded columns, as float64, from raw rows that need only the matching
    raw columns: numeric columns pass through, one-hot columns come from their categorical source.
    `with_tag_text` appends the raw tag text columns `frame` has, for a scaler that encodes tags."""
    one_hot = one_hot_tonal(frame, _categorical_sources(encoded_columns))
    # One conversion of the whole numeric block: far cheaper than column by column on big batches.
    numeric = frame[[column for column in encoded_columns if column not in one_hot.columns]].astype("float64")
    encoded = pd.concat([numeric, one_hot], axis=1)[encoded_columns]
    if with_tag_text:
        for column in TAG_TEXT_COLUMNS:
            if column in frame:
                encoded[column] = frame[column].to_numpy()
    return encoded


def encode_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Every network input column, in `encoded_feature_columns()` order, as float64."""
    return encode_columns(frame, encoded_feature_columns())


def _artist_order(artist: str, salt: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{salt}\x00{artist}".encode()).digest()[:8], "big")


def artist_split(
    artists: pd.Series, labels: pd.Series, test_size: float, validation_size: float, salt: str
) -> pd.Series:
    """Assign every artist, and so all of its tracks, to train, validation or test.

    Labels are close to pure per artist, so a split that ignored them could put only liked
    artists in test. Artists are therefore stratified by their majority label; within each
    stratum they are ordered by a salted hash of their name (deterministic, unrelated to the
    data's order) and taken into test, then validation, until each holds its share of that
    stratum's rows. Every split gets at least one artist of each stratum that has three or more.
    """
    if not 0 < test_size < 1 or not 0 < validation_size < 1 or test_size + validation_size >= 1:
        raise ValueError("test_size and validation_size must be in (0, 1) and sum to less than 1")
    per_artist = pd.DataFrame({"artist": artists.to_numpy(), "liked": labels.to_numpy()}).groupby("artist")["liked"]
    summary = pd.DataFrame({"rows": per_artist.size(), "majority": per_artist.mean() >= 0.5})
    summary["order"] = [_artist_order(artist, salt) for artist in summary.index]
    assignment: dict[str, str] = {}
    for _, stratum in summary.sort_values("order").groupby("majority"):
        total = stratum["rows"].sum()
        quotas = [("test", test_size * total), ("validation", validation_size * total)]
        taken = {"test": 0, "validation": 0}
        for position, (artist, rows) in enumerate(stratum["rows"].items()):
            remaining_artists = len(stratum) - position
            target = next((name for name, quota in quotas if taken[name] < quota), "train")
            # Keep at least one artist for training in every stratum.
            if target != "train" and remaining_artists == 1 and "train" not in {
                assignment.get(other) for other in stratum.index
            }:
                target = "train"
            assignment[artist] = target
            if target != "train":
                taken[target] += rows
    return pd.Series(artists.map(assignment).to_numpy(), index=artists.index, dtype="str")


def clean_dataset(
    raw: pd.DataFrame,
    test_size: float = 0.2,
    validation_size: float = 0.15,
    split_salt: str = "albumrec",
    background: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Deduplicate, drop rows missing critical fields, encode, and add the artist-grouped split.

    `background`: the liked-only mode's catalog background (`core.liked_only`), rows in `raw`'s
    columns labelled 0, added after the listener's; `row_role` says whose each row is. Returns the
    table and the number of rows each step removed, for the asset's metadata.
    """
    raw = raw.assign(**{ROW_ROLE_COLUMN: LISTENER})
    if background is not None and len(background):
        raw = pd.concat([raw, background.assign(**{ROW_ROLE_COLUMN: BACKGROUND})], ignore_index=True)
    removed: dict[str, int] = {}
    # Several AcousticBrainz submissions of one recording: keep the first, deterministically.
    deduplicated = raw.drop_duplicates("mbid", keep="first")
    removed["duplicate_recordings"] = len(raw) - len(deduplicated)
    complete = deduplicated.dropna(subset=CRITICAL_COLUMNS)
    removed["missing_critical_fields"] = len(deduplicated) - len(complete)
    complete = complete.copy()
    # A missing release year is common in MusicBrainz; fill it with the median rather than lose the track.
    year = complete[RELEASE_YEAR_COLUMN].astype("Float64")
    complete["release_year_imputed"] = year.isna().to_numpy()
    complete[RELEASE_YEAR_COLUMN] = year.fillna(float(year.median()) if year.notna().any() else 2000.0)
    encoded = encode_features(complete)
    # The raw tag text rides along: the tag vocabulary is fitted later, on the training split only.
    for column in TAG_TEXT_COLUMNS:
        if column not in complete:
            complete[column] = pd.Series(None, index=complete.index, dtype="str")
    table = pd.concat(
        [
            complete[DESCRIPTIVE_COLUMNS].reset_index(drop=True),
            complete[list(TAG_TEXT_COLUMNS)].astype("str").reset_index(drop=True),
            complete[[LABEL_COLUMN, "release_year_imputed", ROW_ROLE_COLUMN]].reset_index(drop=True),
            encoded.reset_index(drop=True),
        ],
        axis=1,
    )
    table[LABEL_COLUMN] = table[LABEL_COLUMN].astype("int8")
    table.insert(2, "split", artist_split(table["artist"], table[LABEL_COLUMN], test_size, validation_size, split_salt))
    return table, removed
