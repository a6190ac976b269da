import math

import pytest

from albumrec_pipeline.core.documents import DocumentError, track_row_from_documents
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
