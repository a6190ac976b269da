"""Genre tags as model inputs: normalisation, the training-only vocabulary, the stored artifact."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from upath import UPath

from albumrec_pipeline.core.evaluation import ModelInputs, baseline_matrix, pool_by_artist
from albumrec_pipeline.core.feature_labels import feature_label
from albumrec_pipeline.core.model_artifacts import FeatureSchemaError, FittedScaler, TrainedPreferenceModel, check_scaler_and_model
from albumrec_pipeline.core.network import PreferenceNet
from albumrec_pipeline.core.tags import (
    NO_TAGS_INPUT,
    TagVocabulary,
    album_genres,
    musicbrainz_genres,
    parse_musicbrainz_tags,
    recording_term_weights,
    tag_terms,
)
from albumrec_pipeline.storage.artifacts import load_artifact, save_artifact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Blues Country Folk", ["blues", "country folk", "country", "folk"]),
        ("Folk Rock; Indie", ["folk rock", "folk", "rock", "indie"]),
        ("Hip-Hop/Rap", ["hip hop"]),
        ("Country > Country-Pop", ["country", "country pop", "pop"]),
        ("Rock & Roll", ["rock and roll", "rock"]),
        ("Rhythm & Blues", ["r&b"]),
        ("Folk, World, & Country", ["folk", "world", "country"]),
        ("Urban, R&B, Rnb, Dance, Rhythm And Blues", ["urban", "r&b", "dance"]),
        ("Singer/Songwriter", ["singer-songwriter"]),
        ("Metal, Thrash Metal, Heavy Metal", ["metal", "thrash metal", "heavy metal"]),
        ("  SOUTHERN   rock ", ["southern rock", "rock"]),
    ],
)
def test_multi_genre_strings_split_into_musicbrainz_genres(text, expected):
    assert tag_terms(text) == expected


def test_unknown_words_are_kept_for_file_tags_and_dropped_for_musicbrainz_tags():
    # A word that is no genre still says something in a file tag ("Soundtrack")...
    assert tag_terms("Soundtrack") == ["soundtrack"]
    assert "soundtrack" not in musicbrainz_genres()
    # ...but MusicBrainz folksonomy tags like "seen live" would be noise: only genres count there.
    assert tag_terms("seen live", keep_words=False) == []
    assert tag_terms("folk rock", keep_words=False) == ["folk rock", "folk", "rock"]
    # Numbers and stray letters are no terms.
    assert tag_terms("2 x") == []


@pytest.mark.parametrize("missing", [None, float("nan"), "", "   ", 3])
def test_a_recording_without_tags_has_no_terms(missing):
    assert tag_terms(missing) == []
    assert recording_term_weights(missing, missing) == {}


def test_musicbrainz_tags_weigh_their_votes_and_file_tags_weigh_one():
    assert parse_musicbrainz_tags("folk rock=3;americana=1;broken;bad=x;zero=0;=4") == [("folk rock", 3), ("americana", 1)]
    weights = recording_term_weights("Folk", "folk rock=4;americana=1;seen live=9")
    assert weights == {"folk": 1.0, "folk rock": 4 / 9, "rock": 4 / 9, "americana": 1 / 9}


def _rows(genres, artists, mb=None):
    return pd.DataFrame({"genre": genres, "musicbrainz_tags": mb or [None] * len(genres), "artist": artists})


def test_the_vocabulary_keeps_terms_several_training_artists_share():
    rows = _rows(["Folk Rock", "Folk", "Jazz", "Jazz", None], ["a", "b", "c", "c", "d"])
    vocabulary = TagVocabulary.fit(rows, rows["artist"].to_numpy(), min_artists=2)
    # "folk" is carried by two artists; "jazz" twice by one artist only: that would be the artist, not a taste.
    assert vocabulary.terms == ("folk",)
    assert vocabulary.input_names == ["tag:folk", NO_TAGS_INPUT]
    encoded = vocabulary.encode(_rows(["folk", "Jazz", None, "Pop"], list("wxyz"), ["folk rock=2", None, None, None]))
    np.testing.assert_array_equal(encoded, [[1, 0], [0, 0], [0, 1], [0, 0]])


def test_the_vocabulary_is_fitted_on_training_rows_only():
    """A baseline's tag columns come from the training rows' vocabulary: a genre only test rows have is no input."""
    train = _rows(["Rock", "Rock", "Pop"], ["a", "b", "c"]).assign(x=[0.0, 1.0, 2.0])
    test = _rows(["Zydeco", "Rock"], ["d", "e"]).assign(x=[3.0, 4.0])
    train_matrix, test_matrix = baseline_matrix(train, train["artist"].to_numpy(), test, ModelInputs(("x",), tags=True))
    # x, tag:rock, no tags
    np.testing.assert_array_equal(test_matrix, [[3.0, 0.0, 0.0], [4.0, 1.0, 0.0]])
    assert train_matrix.shape == (3, 3)


def _scaler_and_model(genres, artists):
    rows = _rows(genres, artists).assign(bpm=np.linspace(80, 160, len(genres)))
    scaler = FittedScaler.fit(rows[["bpm"]], "standard", TagVocabulary.fit(rows, rows["artist"].to_numpy()))
    network = PreferenceNet(len(scaler.input_names), (4,))
    model = TrainedPreferenceModel(
        network, ["bpm"], pd.DataFrame({"epoch": [1]}), input_names=scaler.input_names,
        feature_schema=scaler.feature_schema, scaler=scaler,
    )
    return rows, scaler, model


def test_the_scaler_encodes_tags_and_stores_its_vocabulary(tmp_path):
    rows, scaler, model = _scaler_and_model(["Folk", "Folk rock", "Jazz", "Jazz Fusion"], list("abcd"))
    assert scaler.tags is not None and scaler.tags.terms == ("folk", "jazz")
    assert scaler.input_names == ["bpm", "tag:folk", "tag:jazz", NO_TAGS_INPUT]
    inputs = scaler.transform(rows)
    np.testing.assert_array_equal(inputs[:, 1:], [[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 0]])
    # Rows without the tag text cannot be encoded: refused, not read as "no tags".
    with pytest.raises(FeatureSchemaError, match="genre"):
        scaler.transform(rows[["bpm"]])
    path = UPath(tmp_path) / "preference_model.parquet"
    save_artifact(model, path)
    loaded = load_artifact(TrainedPreferenceModel, path)
    assert loaded.own_scaler().tags == scaler.tags
    np.testing.assert_array_equal(loaded.own_scaler().transform(rows), inputs)


def test_a_network_trained_on_another_tag_vocabulary_is_refused():
    _, scaler, _ = _scaler_and_model(["Folk", "Folk rock", "Jazz", "Jazz Fusion"], list("abcd"))
    _, _, other_model = _scaler_and_model(["Folk", "Folk", "Pop", "Pop"], list("abcd"))
    with pytest.raises(FeatureSchemaError):
        check_scaler_and_model(scaler, other_model)


def test_tag_inputs_read_as_words():
    assert feature_label("tag:folk rock") == "genre tag Folk Rock"
    assert feature_label(NO_TAGS_INPUT) == "no genre tags"


def test_an_album_explanation_names_the_genres_its_tracks_share():
    tracks = _rows(["Folk Rock"] * 9 + [None, "Pop"], ["x"] * 11, ["americana=3;folk rock=2"] * 6 + [None] * 5)
    # "Folk" and "Rock" are inside "Folk Rock", so the second name is the next genre.
    assert album_genres(tracks) == "Folk Rock, Americana: 9 of 11 tracks"
    assert album_genres(_rows([None, None], ["x", "x"])) == ""


def test_pooling_by_artist_mixes_each_score_with_its_artists_mean():
    pooled = pool_by_artist(np.array([0.2, 0.6, 0.9, 0.5]), ["a", "a", "b", None], 0.5)
    np.testing.assert_allclose(pooled, [0.3, 0.5, 0.9, 0.5])
    np.testing.assert_allclose(pool_by_artist(np.array([0.2, 0.6]), ["a", "a"], 0.0), [0.2, 0.6])
