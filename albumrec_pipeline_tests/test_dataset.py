import numpy as np
import pandas as pd

from albumrec_pipeline.core.dataset import (
    CRITICAL_COLUMNS,
    artist_split,
    assemble_raw_track_features,
    clean_dataset,
    encode_features,
)
from albumrec_pipeline.core.documents import track_row_from_documents
from albumrec_pipeline.core.feature_columns import encoded_feature_columns
from albumrec_pipeline_tests.factories import highlevel_document, lowlevel_document, recording_id


def raw_rows(count: int, artists: int) -> pd.DataFrame:
    keys = ["C", "D#", "A"]
    audio = pd.DataFrame(
        [
            track_row_from_documents(recording_id(n), lowlevel_document(key=keys[n % 3], shift=n % 5), highlevel_document())
            for n in range(count)
        ]
    )
    liked = pd.DataFrame({"mbid": audio["mbid"], "liked": [n % 2 for n in range(count)]})
    metadata = pd.DataFrame(
        {
            "mbid": audio["mbid"],
            "artist": [f"Artist {n % artists}" for n in range(count)],
            "release_year": [1990 + n % 20 for n in range(count)],
            "release_title": "Album",
            "recording_title": "Song",
        }
    )
    return assemble_raw_track_features(liked, audio, metadata)


def test_encoding_uses_fixed_vocabularies():
    encoded = encode_features(raw_rows(3, 1))
    assert list(encoded.columns) == encoded_feature_columns()
    assert encoded.loc[0, "key_key_C"] == 1.0 and encoded.loc[1, "key_key_D#"] == 1.0
    # each categorical contributes exactly one 1 per row
    assert (encoded.filter(like="key_key_").sum(axis=1) == 1).all()
    assert (encoded.filter(like="chords_scale_").sum(axis=1) == 1).all()


def test_musicbrainz_artist_wins_over_the_file_tag():
    raw = raw_rows(2, 1)
    assert set(raw["artist"]) == {"Artist 0"}


def test_artist_split_is_grouped_stratified_stable_and_close_to_the_sizes():
    rng = np.random.default_rng(0)
    artists = pd.Series([f"artist {n // 5}" for n in range(5000)])
    # labels almost pure per artist, 30% of artists liked
    liked_artist = {f"artist {a}": rng.random() < 0.3 for a in range(1000)}
    labels = pd.Series([int(liked_artist[a]) if rng.random() < 0.95 else 1 - int(liked_artist[a]) for a in artists])
    split = artist_split(artists, labels, 0.2, 0.15, "salt")
    assert (split.groupby(artists).nunique() == 1).all()
    shares = split.value_counts(normalize=True)
    assert abs(shares["test"] - 0.2) < 0.01 and abs(shares["validation"] - 0.15) < 0.01
    # both kinds of artist appear in every split in proportion
    for name in ("train", "validation", "test"):
        assert abs(labels[split == name].mean() - labels.mean()) < 0.03
    # the row order does not matter, the salt does
    shuffled = artist_split(artists[::-1], labels[::-1], 0.2, 0.15, "salt")
    assert (split == shuffled.sort_index()).all()
    assert not (split == artist_split(artists, labels, 0.2, 0.15, "other salt")).all()


def test_small_datasets_still_get_every_split():
    artists = pd.Series([f"a{n}" for n in range(6)])
    labels = pd.Series([1, 1, 1, 0, 0, 0])
    split = artist_split(artists, labels, 0.2, 0.15, "salt")
    assert set(split) == {"train", "validation", "test"}
    for name in ("train", "validation", "test"):
        assert set(labels[split == name]) == {0, 1}


def test_clean_dataset_deduplicates_drops_incomplete_and_keeps_artists_together():
    raw = raw_rows(60, 12)
    raw = pd.concat([raw, raw.iloc[[0, 1]]], ignore_index=True)
    raw.loc[5, "bpm"] = np.nan
    raw.loc[6, "release_year"] = pd.NA
    table, removed = clean_dataset(raw, test_size=0.3, validation_size=0.2)
    assert removed == {"duplicate_recordings": 2, "missing_critical_fields": 1}
    assert len(table) == 59 and table["mbid"].is_unique
    assert table.loc[table["mbid"] == raw.loc[6, "mbid"], "release_year_imputed"].item()
    assert table[encoded_feature_columns()].notna().all().all()
    assert (table.groupby("artist")["split"].nunique() == 1).all()
    assert "bpm" in CRITICAL_COLUMNS
