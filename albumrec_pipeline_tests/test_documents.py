import math

import pytest

from albumrec_pipeline.core.documents import DocumentError, document_tags, highlevel_features, track_row_from_documents
from albumrec_pipeline.core.feature_columns import HIGHLEVEL_COLUMNS, MFCC_COLUMNS, RAW_TRACK_COLUMNS
from albumrec_pipeline_tests.conftest import load_json
from albumrec_pipeline_tests.factories import highlevel_document, lowlevel_document, recording_id

RID = recording_id(1)


def test_row_has_every_audio_column_with_values_from_their_paths():
    row = track_row_from_documents(RID, lowlevel_document(key="F#", scale="minor", shift=2.0), highlevel_document())
    expected = [c for c in RAW_TRACK_COLUMNS if c not in ("release_year", "release_title", "recording_title")]
    assert sorted(row) == sorted(expected)
    assert row["key_key"] == "F#" and row["chords_scale"] == "minor"
    assert row["bpm"] == 122.0
    assert row["spectral_centroid"] == 1400.0
    assert row["duration"] == 220.0
    assert [row[c] for c in MFCC_COLUMNS][:2] == [-683.0, 1.0]
    assert row["artist"] == "Tag Artist" and row["label"] is None
    # the confidence columns are the model's own probability, the genre columns class probabilities
    assert row["mood_happy"] >= 0.5
    assert math.isclose(sum(row[c] for c in HIGHLEVEL_COLUMNS if c.startswith("genre_dortmund_")), 1.0)


def test_real_documents_parse(shared_dir):
    folder = shared_dir / "fixtures" / "acousticbrainz"
    rid = "564ccd5c-c4d3-4752-9abf-c33bb085d6a5"
    row = track_row_from_documents(
        rid, load_json(folder / f"lowlevel_{rid}.json"), load_json(folder / f"highlevel_{rid}.json")
    )
    assert row["artist"] == "Pink Floyd"
    assert row["key_key"] in ("A", "A#", "B", "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#")
    assert -900 < row["mfcc_1"] < -500
    assert 0 <= row["genre_rosamerica_cla"] <= 1
    for other in ("0dad432b-16cc-4bf0-8961-fd31d124b01b", "e8afe383-1478-497e-90b1-7885c7f37f6e"):
        low = load_json(folder / f"lowlevel_{other}.json")
        assert track_row_from_documents(other, low, highlevel_document())["bpm"] > 0


@pytest.mark.parametrize(
    ("breakage", "path"),
    [
        (lambda low, high: low.pop("tonal"), "tonal"),
        (lambda low, high: low["lowlevel"]["mfcc"].update(mean=[]), "lowlevel.mfcc.mean"),
        (lambda low, high: low["rhythm"].update(bpm=float("nan")), "rhythm.bpm"),
        (lambda low, high: low["rhythm"].update(bpm="fast"), "rhythm.bpm"),
        (lambda low, high: low["lowlevel"].update(average_loudness=True), "lowlevel.average_loudness"),
        (lambda low, high: low["tonal"].update(key_key="H"), "tonal.key_key"),
        (lambda low, high: high["highlevel"].pop("genre_rosamerica"), "highlevel.genre_rosamerica"),
        (lambda low, high: high["highlevel"]["timbre"].pop("probability"), "highlevel.timbre.probability"),
    ],
)
def test_broken_documents_raise_an_error_naming_recording_and_path(breakage, path):
    low, high = lowlevel_document(), highlevel_document()
    breakage(low, high)
    with pytest.raises(DocumentError) as raised:
        track_row_from_documents(RID, low, high)
    assert RID in str(raised.value) and path in str(raised.value)


def _set(document, path, value):
    node = document
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    ("kind", "path", "value", "reported", "problem"),
    [
        # missing sections and values
        ("low", ("tonal",), None, "tonal", "is null where an object"),
        ("low", ("rhythm",), {}, "rhythm.bpm", "is missing"),
        ("low", ("metadata", "audio_properties"), {}, "metadata.audio_properties.length", "is missing"),
        ("high", ("highlevel",), {}, "highlevel.danceability", "is missing"),
        ("high", ("highlevel", "mood_sad"), {"all": {}, "value": "sad"}, "highlevel.mood_sad.probability", "is missing"),
        ("high", ("highlevel", "genre_dortmund", "all"), {"rock": 1.0}, "highlevel.genre_dortmund.all.alternative", "is missing"),
        # NaN and infinities
        ("low", ("rhythm", "bpm"), NAN, "rhythm.bpm", "is not finite"),
        ("low", ("lowlevel", "mfcc", "mean", 4), INF, "lowlevel.mfcc.mean.4", "is not finite"),
        ("low", ("lowlevel", "spectral_flux", "mean"), -INF, "lowlevel.spectral_flux.mean", "is not finite"),
        ("high", ("highlevel", "timbre", "probability"), NAN, "highlevel.timbre.probability", "is not finite"),
        ("low", ("rhythm", "beats_count"), 10**400, "rhythm.beats_count", "too large"),
        # wrong types
        ("low", ("rhythm", "bpm"), "120.0", "rhythm.bpm", "is text, not a number"),
        ("low", ("rhythm", "bpm"), None, "rhythm.bpm", "is null, not a number"),
        ("low", ("rhythm", "bpm"), [120.0], "rhythm.bpm", "is a list, not a number"),
        ("low", ("rhythm", "bpm"), {"mean": 120.0}, "rhythm.bpm", "is an object, not a number"),
        (
            "low", ("lowlevel", "spectral_centroid"), [1200.0, 10.0], "lowlevel.spectral_centroid",
            "is a list where an object with 'mean' belongs",
        ),
        ("low", ("lowlevel", "spectral_centroid"), 1200.0, "lowlevel.spectral_centroid", "is a number where an object"),
        ("low", ("lowlevel", "mfcc"), [1.0] * 13, "lowlevel.mfcc", "is a list where an object with 'mean' belongs"),
        ("low", ("lowlevel", "mfcc", "mean"), {"0": 1.0}, "lowlevel.mfcc.mean", "is not a list of 13 numbers (an object)"),
        ("low", ("lowlevel", "mfcc", "mean"), [1.0] * 12, "lowlevel.mfcc.mean", "(12 values)"),
        ("low", ("lowlevel", "mfcc", "mean"), [1.0] * 14, "lowlevel.mfcc.mean", "(14 values)"),
        ("low", ("lowlevel", "mfcc", "mean", 0), "-685", "lowlevel.mfcc.mean.0", "is text"),
        ("low", ("lowlevel", "mfcc", "mean", 12), None, "lowlevel.mfcc.mean.12", "is null"),
        ("low", ("tonal", "key_key"), ["C"], "tonal.key_key", "expected one of"),
        ("low", ("tonal", "key_scale"), "Major", "tonal.key_scale", "expected one of major, minor"),
        ("high", ("highlevel", "genre_rosamerica", "all"), [0.1] * 8, "highlevel.genre_rosamerica.all", "is a list where an object"),
        ("high", ("highlevel", "danceability", "all", "danceable"), "0.7", "highlevel.danceability.all.danceable", "is text"),
        # booleans posing as numbers
        ("low", ("lowlevel", "average_loudness"), False, "lowlevel.average_loudness", "is a boolean, not a number"),
        ("low", ("lowlevel", "mfcc", "mean", 1), True, "lowlevel.mfcc.mean.1", "is a boolean"),
        ("low", ("metadata", "audio_properties", "length"), True, "metadata.audio_properties.length", "is a boolean"),
        ("high", ("highlevel", "voice_instrumental", "probability"), True, "highlevel.voice_instrumental.probability", "is a boolean"),
        # broken file tags
        ("low", ("metadata", "tags"), ["artist"], "metadata.tags", "is a list, not an object"),
        ("low", ("metadata", "tags", "artist"), [42], "metadata.tags.artist.0", "is a number, not text"),
        ("low", ("metadata", "tags", "genre"), {"name": "Rock"}, "metadata.tags.genre", "is an object, not text"),
        ("high", ("metadata",), "none", "metadata", "is text, not an object"),
    ],
)
def test_a_bad_value_makes_the_recording_unusable_and_says_where(kind, path, value, reported, problem):
    low, high = lowlevel_document(), highlevel_document()
    _set(low if kind == "low" else high, path, value)
    with pytest.raises(DocumentError) as raised:
        track_row_from_documents(RID, low, high)
    error = raised.value
    assert (error.recording_id, error.kind, error.path) == (RID, f"{kind}-level", reported)
    assert str(error).startswith(f"{kind}-level document for recording {RID}: {reported} ")
    assert problem in str(error)


@pytest.mark.parametrize("document", [[], "text", None, 3])
def test_a_document_that_is_not_an_object(document):
    with pytest.raises(DocumentError, match=f"high-level document for recording {RID}: the document is .*, not an object"):
        highlevel_features(document, RID)
    with pytest.raises(DocumentError, match="low-level document"):
        track_row_from_documents(RID, document, highlevel_document())


def test_numbers_are_taken_as_written_integers_included():
    low = lowlevel_document()
    low["rhythm"]["bpm"] = 96
    low["lowlevel"]["mfcc"]["mean"][3] = -0.0
    row = track_row_from_documents(RID, low, highlevel_document())
    assert row["bpm"] == 96.0 and isinstance(row["bpm"], float)
    assert row["mfcc_4"] == 0.0 and row["beats_count"] == 450.0


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"artist": ["A"], "genre": "Jazz", "label": ["L", "M"]}, {"artist": "A", "genre": "Jazz", "label": "L"}),
        ({"artist": [], "genre": None, "label": ["  "]}, {"artist": None, "genre": None, "label": None}),
        ({"artist": [None], "genre": "", "label": []}, {"artist": None, "genre": None, "label": None}),
        ({}, {"artist": None, "genre": None, "label": None}),
    ],
)
def test_absent_or_blank_tags_are_no_tags(tags, expected):
    assert document_tags({"metadata": {"tags": tags}}, RID, "low-level") == expected


def test_tags_missing_from_the_low_level_document_come_from_the_high_level_one():
    low, high = lowlevel_document(), highlevel_document()
    del low["metadata"]["tags"]["artist"]
    high["metadata"]["tags"] = {"artist": ["High Artist"], "label": ["High Label"]}
    row = track_row_from_documents(RID, low, high)
    assert (row["artist"], row["genre"], row["label"]) == ("High Artist", "Rock", "High Label")
    del high["metadata"]
    assert track_row_from_documents(RID, low, high)["artist"] is None
