"""The feature columns of a track row and where each one lives in an AcousticBrainz document.

The column names are those of the original project's enriched CSV, so a file in that
format and a row built from AcousticBrainz documents line up one to one.
"""

from __future__ import annotations

# High-level classifier models and the classes whose probability becomes a column.
# Multi-class models contribute one column per class, read from `highlevel.<model>.all.<class>`.
MULTICLASS_MODELS: dict[str, tuple[str, ...]] = {
    "genre_dortmund": (
        "alternative", "blues", "electronic", "folkcountry", "funksoulrnb",
        "jazz", "pop", "raphiphop", "rock",
    ),
    "genre_electronic": ("ambient", "dnb", "house", "techno", "trance"),
    "genre_rosamerica": ("cla", "dan", "hip", "jaz", "pop", "rhy", "roc", "spe"),
    "genre_tzanetakis": ("blu", "cla", "cou", "dis", "hip", "jaz", "met", "pop", "reg", "roc"),
    "ismir04_rhythm": (
        "ChaChaCha", "Jive", "Quickstep", "Rumba-American", "Rumba-International",
        "Rumba-Misc", "Samba", "Tango", "VienneseWaltz", "Waltz",
    ),
    "moods_mirex": ("Cluster1", "Cluster2", "Cluster3", "Cluster4", "Cluster5"),
}

# Binary models whose column is the model's confidence in its own decision
# (`highlevel.<model>.probability`, always >= 0.5), as in the original enriched CSV.
CONFIDENCE_MODELS: tuple[str, ...] = (
    "mood_acoustic", "mood_aggressive", "mood_electronic", "mood_happy", "mood_party",
    "mood_relaxed", "mood_sad", "timbre", "tonal_atonal", "voice_instrumental",
)

# `danceable` is the probability of the "danceable" class, not the model's confidence.
DANCEABLE_COLUMN = "danceable"


def _highlevel_columns() -> list[str]:
    columns = [DANCEABLE_COLUMN]
    for model in ("genre_dortmund", "genre_electronic", "genre_rosamerica", "genre_tzanetakis", "ismir04_rhythm"):
        columns += [f"{model}_{label}" for label in MULTICLASS_MODELS[model]]
    columns += [model for model in CONFIDENCE_MODELS if model.startswith("mood_")]
    columns += [f"moods_mirex_{label}" for label in MULTICLASS_MODELS["moods_mirex"]]
    columns += [model for model in CONFIDENCE_MODELS if not model.startswith("mood_")]
    return columns


HIGHLEVEL_COLUMNS: list[str] = _highlevel_columns()

# Low-level scalars: column -> (section, descriptor, statistic or None for a plain value).
LOWLEVEL_SCALARS: dict[str, tuple[str, str, str | None]] = {
    "chords_changes_rate": ("tonal", "chords_changes_rate", None),
    "chords_number_rate": ("tonal", "chords_number_rate", None),
    "bpm": ("rhythm", "bpm", None),
    "beats_count": ("rhythm", "beats_count", None),
    "average_loudness": ("lowlevel", "average_loudness", None),
    "dynamic_complexity": ("lowlevel", "dynamic_complexity", None),
    "duration": ("metadata", "audio_properties", "length"),
    "spectral_centroid": ("lowlevel", "spectral_centroid", "mean"),
    "spectral_rolloff": ("lowlevel", "spectral_rolloff", "mean"),
    "spectral_flux": ("lowlevel", "spectral_flux", "mean"),
}

MFCC_COUNT = 13
MFCC_COLUMNS: list[str] = [f"mfcc_{i}" for i in range(1, MFCC_COUNT + 1)]

# Categorical tonal descriptors and their complete vocabularies: the encoding of a row never
# depends on which other rows happen to be in the table.
PITCH_CLASSES: tuple[str, ...] = ("A", "A#", "B", "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#")
SCALES: tuple[str, ...] = ("major", "minor")
CATEGORICAL_VOCABULARIES: dict[str, tuple[str, ...]] = {
    "key_key": PITCH_CLASSES,
    "key_scale": SCALES,
    "chords_key": PITCH_CLASSES,
    "chords_scale": SCALES,
}
CATEGORICAL_COLUMNS: list[str] = list(CATEGORICAL_VOCABULARIES)

# Descriptive columns from the document tags and from MusicBrainz.
TAG_COLUMNS: list[str] = ["artist", "genre", "label"]
RELEASE_YEAR_COLUMN = "release_year"
TITLE_COLUMNS: list[str] = ["release_title", "recording_title"]

NUMERIC_AUDIO_COLUMNS: list[str] = HIGHLEVEL_COLUMNS + list(LOWLEVEL_SCALARS) + MFCC_COLUMNS

# Column order of a raw track row, identical to the original enriched CSV (minus `liked`).
RAW_TRACK_COLUMNS: list[str] = (
    ["mbid"]
    + HIGHLEVEL_COLUMNS
    + TAG_COLUMNS
    + ["key_key", "key_scale", "chords_key", "chords_scale"]
    + list(LOWLEVEL_SCALARS)
    + MFCC_COLUMNS
    + [RELEASE_YEAR_COLUMN]
    + TITLE_COLUMNS
)

LABEL_COLUMN = "liked"

# The compact feature set: the model inputs that the AcousticBrainz CSV feature dumps hold
# (lowlevel, rhythm and tonal CSVs), for a model trained where only those dumps are at hand.
COMPACT_NUMERIC_COLUMNS: list[str] = ["bpm", "average_loudness", "dynamic_complexity", "mfcc_1"]
COMPACT_CATEGORICAL_COLUMNS: list[str] = ["key_key", "key_scale"]
COMPACT_LOWLEVEL_COLUMNS: list[str] = COMPACT_CATEGORICAL_COLUMNS + COMPACT_NUMERIC_COLUMNS


def encoded_feature_columns() -> list[str]:
    """Model inputs after encoding: numeric audio features, release year, one-hot tonal keys."""
    one_hot = [
        f"{column}_{value}" for column, vocabulary in CATEGORICAL_VOCABULARIES.items() for value in vocabulary
    ]
    return NUMERIC_AUDIO_COLUMNS + [RELEASE_YEAR_COLUMN] + one_hot


def compact_encoded_feature_columns() -> list[str]:
    """Model inputs of the compact feature set, a subset of `encoded_feature_columns()` in its order."""
    compact = set(COMPACT_NUMERIC_COLUMNS) | {RELEASE_YEAR_COLUMN} | {
        f"{column}_{value}" for column in COMPACT_CATEGORICAL_COLUMNS for value in CATEGORICAL_VOCABULARIES[column]
    }
    return [column for column in encoded_feature_columns() if column in compact]


# Feature groups for the grouped-importance report: what the classifiers say about
# genre, mood and rhythm style versus what the signal analysis measured directly.
def feature_group(encoded_column: str) -> str:
    # Genre-tag inputs (`tag:<term>`, and all tags as one feature); named here, not imported from
    # core.tags, which this module's importers sit below.
    if encoded_column.startswith("tag:") or encoded_column == "genre tags":
        return "genre_tags"
    if encoded_column in HIGHLEVEL_COLUMNS:
        return "genre" if encoded_column.startswith("genre_") else "mood_and_style"
    if encoded_column == RELEASE_YEAR_COLUMN:
        return "metadata"
    return "acoustic"
