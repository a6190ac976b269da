"""Model features in a listener's words: `genre_rosamerica_roc` reads "rock (Rosamerica genre model)".

Tables keep the column names (they are what the code, the Parquet files and the enriched CSV
use); reports, plots and explanations show these labels beside them or instead of them.
"""

from __future__ import annotations

import pandas as pd

from albumrec_pipeline.core.feature_columns import (
    CATEGORICAL_VOCABULARIES,
    CONFIDENCE_MODELS,
    DANCEABLE_COLUMN,
    LABEL_COLUMN,
    LOWLEVEL_SCALARS,
    MFCC_COLUMNS,
    MULTICLASS_MODELS,
    RELEASE_YEAR_COLUMN,
    TAG_COLUMNS,
    TITLE_COLUMNS,
)
from albumrec_pipeline.core.scaling import base_feature
from albumrec_pipeline.core.tags import NO_TAGS_INPUT, TAGS_FEATURE, display_name, term_of_input

# The classes of the AcousticBrainz (Essentia) classifiers, in words, and what to call each model.
_MODEL_NAMES: dict[str, str] = {
    "genre_dortmund": "Dortmund genre model",
    "genre_electronic": "electronic-music genre model",
    "genre_rosamerica": "Rosamerica genre model",
    "genre_tzanetakis": "Tzanetakis genre model",
    "ismir04_rhythm": "ISMIR 2004 ballroom-dance model",
    "moods_mirex": "MIREX mood cluster",
}
_CLASS_WORDS: dict[str, dict[str, str]] = {
    "genre_dortmund": {
        "alternative": "alternative", "blues": "blues", "electronic": "electronic", "folkcountry": "folk/country",
        "funksoulrnb": "funk/soul/R&B", "jazz": "jazz", "pop": "pop", "raphiphop": "rap/hip-hop", "rock": "rock",
    },
    "genre_electronic": {
        "ambient": "ambient", "dnb": "drum and bass", "house": "house", "techno": "techno", "trance": "trance",
    },
    "genre_rosamerica": {
        "cla": "classical", "dan": "dance", "hip": "hip-hop", "jaz": "jazz", "pop": "pop",
        "rhy": "rhythm and blues", "roc": "rock", "spe": "speech",
    },
    "genre_tzanetakis": {
        "blu": "blues", "cla": "classical", "cou": "country", "dis": "disco", "hip": "hip-hop",
        "jaz": "jazz", "met": "metal", "pop": "pop", "reg": "reggae", "roc": "rock",
    },
    "ismir04_rhythm": {
        "ChaChaCha": "cha-cha-cha", "Jive": "jive", "Quickstep": "quickstep", "Rumba-American": "American rumba",
        "Rumba-International": "international rumba", "Rumba-Misc": "other rumba", "Samba": "samba",
        "Tango": "tango", "VienneseWaltz": "Viennese waltz", "Waltz": "waltz",
    },
    # The adjective clusters of the MIREX audio mood classification task (Hu and Downie, 2007).
    "moods_mirex": {
        "Cluster1": "passionate, rousing, confident, boisterous, rowdy",
        "Cluster2": "rollicking, cheerful, fun, sweet, amiable/good-natured",
        "Cluster3": "literate, poignant, wistful, bittersweet, autumnal, brooding",
        "Cluster4": "humorous, silly, campy, quirky, whimsical, witty, wry",
        "Cluster5": "aggressive, fiery, tense/anxious, intense, volatile, visceral",
    },
}

# These columns hold the binary classifier's confidence in whichever answer it gave (always at
# least 0.5), not the probability of the first answer: the label names both answers.
_CONFIDENCE_WORDS: dict[str, str] = {
    "mood_acoustic": "acoustic or not",
    "mood_aggressive": "aggressive or not",
    "mood_electronic": "electronic or not",
    "mood_happy": "happy or not",
    "mood_party": "party or not",
    "mood_relaxed": "relaxed or not",
    "mood_sad": "sad or not",
    "timbre": "bright or dark timbre",
    "tonal_atonal": "tonal or atonal",
    "voice_instrumental": "voice or instrumental",
}

_LOWLEVEL_WORDS: dict[str, str] = {
    "chords_changes_rate": "how often the chords change",
    "chords_number_rate": "variety of chords",
    "bpm": "tempo (BPM)",
    "beats_count": "number of beats",
    "average_loudness": "loudness",
    "dynamic_complexity": "loudness variation (dynamic complexity)",
    "duration": "track length",
    "spectral_centroid": "brightness (spectral centroid)",
    "spectral_rolloff": "high-frequency content (spectral roll-off)",
    "spectral_flux": "how fast the sound changes (spectral flux)",
}

_CATEGORICAL_WORDS: dict[str, str] = {
    "key_key": "key",
    "key_scale": "major or minor",
    "chords_key": "key of the chords",
    "chords_scale": "major or minor chords",
}

_DESCRIPTIVE_WORDS: dict[str, str] = {
    "mbid": "recording",
    "artist": "artist",
    "genre": "genre tag",
    "label": "record label",
    "release_title": "album title",
    "recording_title": "track title",
    RELEASE_YEAR_COLUMN: "release year",
    LABEL_COLUMN: "liked (1) or disliked (0)",
}


def _one_hot_label(column: str, value: str) -> str:
    if column == "key_key":
        return f"key of {value}"
    if column == "key_scale":
        return f"{value} key"
    if column == "chords_key":
        return f"chords in {value}"
    return f"{value} chords"


def _build_labels() -> dict[str, str]:
    labels: dict[str, str] = {DANCEABLE_COLUMN: "danceability"}
    for model, classes in MULTICLASS_MODELS.items():
        name = _MODEL_NAMES[model]
        for value in classes:
            words = _CLASS_WORDS[model][value]
            if model == "moods_mirex":
                labels[f"{model}_{value}"] = f"{words} ({name} {value.removeprefix('Cluster')})"
            elif model == "ismir04_rhythm":
                labels[f"{model}_{value}"] = f"{words} rhythm ({name})"
            else:
                labels[f"{model}_{value}"] = f"{words} ({name})"
    for model in CONFIDENCE_MODELS:
        labels[model] = f"{_CONFIDENCE_WORDS[model]} (classifier confidence)"
    labels.update({column: _LOWLEVEL_WORDS[column] for column in LOWLEVEL_SCALARS})
    labels.update({column: f"timbre (MFCC {column.removeprefix('mfcc_')})" for column in MFCC_COLUMNS})
    for column, vocabulary in CATEGORICAL_VOCABULARIES.items():
        labels[column] = _CATEGORICAL_WORDS[column]
        labels.update({f"{column}_{value}": _one_hot_label(column, value) for value in vocabulary})
    labels.update({column: _DESCRIPTIVE_WORDS[column] for column in ["mbid", *TAG_COLUMNS, *TITLE_COLUMNS]})
    labels[RELEASE_YEAR_COLUMN] = _DESCRIPTIVE_WORDS[RELEASE_YEAR_COLUMN]
    labels[LABEL_COLUMN] = _DESCRIPTIVE_WORDS[LABEL_COLUMN]
    return labels


FEATURE_LABELS: dict[str, str] = _build_labels()

# Feature groups of the importance reports, in words.
GROUP_LABELS: dict[str, str] = {
    "genre": "genre classifiers",
    "mood_and_style": "mood and style classifiers",
    "acoustic": "acoustic measurements (tempo, key, loudness, timbre)",
    "metadata": "release year",
    "genre_tags": "genre tags (file tags and MusicBrainz tags)",
}


def feature_label(column: str) -> str:
    """A listener's name for a feature column or a network input (`bpm[2/4]` reads as `bpm`,
    `tag:folk rock` as "genre tag Folk Rock"); a name albumrec does not know is returned as it is."""
    if column == NO_TAGS_INPUT:
        return "no genre tags"
    term = term_of_input(column)
    if term is not None:
        return f"genre tag {display_name(term)}"
    if column == TAGS_FEATURE:
        return "genre tags (all of them)"
    return FEATURE_LABELS.get(column) or FEATURE_LABELS.get(base_feature(column), column)


def group_label(group: str) -> str:
    return GROUP_LABELS.get(group, group)


def with_feature_labels(table: pd.DataFrame, column: str = "feature") -> pd.DataFrame:
    """`table` with a `label` column (the feature in words) right after `column`, which stays."""
    labelled = table.drop(columns="label", errors="ignore")
    labelled.insert(labelled.columns.get_loc(column) + 1, "label", labelled[column].astype("str").map(feature_label))
    return labelled
