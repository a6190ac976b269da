"""Every model feature reads in a listener's words, and every table column is described."""

import pandas as pd
import pytest

from albumrec_pipeline.core.column_docs import column_description
from albumrec_pipeline.core.feature_columns import (
    CATEGORICAL_COLUMNS,
    RAW_TRACK_COLUMNS,
    compact_encoded_feature_columns,
    encoded_feature_columns,
)
from albumrec_pipeline.core.feature_labels import feature_label, with_feature_labels
from albumrec_pipeline.core.model_artifacts import FittedScaler


def test_every_model_input_column_has_a_label_that_is_not_its_name():
    for column in encoded_feature_columns() + CATEGORICAL_COLUMNS:
        label = feature_label(column)
        assert label and label != column, column
    labels = [feature_label(column) for column in encoded_feature_columns()]
    assert len(set(labels)) == len(labels), "two features read the same"


def test_every_column_of_a_track_row_has_a_label_and_a_description():
    for column in RAW_TRACK_COLUMNS + ["liked"] + encoded_feature_columns():
        assert feature_label(column), column
        assert column_description(column), column


@pytest.mark.parametrize(
    "column, label",
    [
        ("genre_rosamerica_roc", "rock (Rosamerica genre model)"),
        ("genre_dortmund_raphiphop", "rap/hip-hop (Dortmund genre model)"),
        ("moods_mirex_Cluster3", "literate, poignant, wistful, bittersweet, autumnal, brooding (MIREX mood cluster 3)"),
        ("moods_mirex_Cluster1", "passionate, rousing, confident, boisterous, rowdy (MIREX mood cluster 1)"),
        ("mfcc_1", "timbre (MFCC 1)"),
        ("key_key_C", "key of C"),
        ("key_scale_minor", "minor key"),
        ("bpm", "tempo (BPM)"),
        ("release_year", "release year"),
    ],
)
def test_labels_in_musical_terms(column, label):
    assert feature_label(column) == label


def test_the_piecewise_encoding_inputs_read_as_their_feature():
    frame = pd.DataFrame({column: range(20) for column in compact_encoded_feature_columns()}, dtype="float64")
    scaler = FittedScaler.fit(frame, "piecewise:4")
    assert any("[" in name for name in scaler.input_names)
    for name in scaler.input_names:
        feature = name.split("[", 1)[0]
        assert feature_label(name) == feature_label(feature) != name


def test_an_unknown_column_keeps_its_name():
    assert feature_label("something_else") == "something_else"


def test_tables_keep_the_column_name_beside_the_label():
    table = with_feature_labels(pd.DataFrame({"rank": [1, 2], "feature": ["bpm", "mfcc_2"], "auc_drop": [0.1, 0.05]}))
    assert list(table.columns) == ["rank", "feature", "label", "auc_drop"]
    assert table["label"].tolist() == ["tempo (BPM)", "timbre (MFCC 2)"]
