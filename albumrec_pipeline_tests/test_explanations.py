import numpy as np
import pandas as pd
import pytest
import torch

from albumrec_pipeline.core.enriched_csv import EnrichedCsvError, read_enriched_csv
from albumrec_pipeline.core.explanations import album_lifts, explain_albums, input_attributions, permutation_importance
from albumrec_pipeline.core.feature_columns import RAW_TRACK_COLUMNS
from albumrec_pipeline.core.network import PreferenceNet


def test_permutation_importance_finds_the_feature_that_matters():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(400, 3))
    labels = (features[:, 1] > 0).astype(int)
    importance = permutation_importance(lambda x: 1 / (1 + np.exp(-5 * x[:, 1])), features, labels, ["a", "b", "c"])
    assert importance["feature"].iloc[0] == "b"
    assert importance.set_index("feature").loc["b", "auc_drop"] > 0.3
    assert abs(importance.set_index("feature").loc["a", "auc_drop"]) < 1e-9


def linear_network(weights: list[float]) -> PreferenceNet:
    network = PreferenceNet(len(weights), hidden_sizes=(), dropout=0.0)
    with torch.no_grad():
        network.linear_layers()[0].weight.copy_(torch.tensor([weights]))
        network.linear_layers()[0].bias.zero_()
    return network


def test_attributions_of_a_linear_model_are_weight_times_distance():
    network = linear_network([2.0, -1.0])
    attributions = input_attributions(network, np.array([[1.0, 1.0], [3.0, 0.0]]), baseline=np.array([1.0, 0.0]))
    assert np.allclose(attributions, [[0.0, -1.0], [4.0, 0.0]])


def test_album_explanations_name_lifting_features_and_nearest_liked_tracks():
    network = linear_network([2.0, 0.0, -1.0, 0.0])
    names = ["bpm[1/2]", "bpm[2/2]", "mfcc_1", "release_year"]
    training = np.zeros((4, 4))
    liked = pd.DataFrame({"artist": ["Near", "Far"], "recording_title": ["Close Song", "Distant Song"]})
    liked_inputs = np.array([[1.0, 0.0, 0.0, 0.0], [-5.0, 0.0, 0.0, 0.0]])
    tracks = pd.DataFrame({"release_id": ["r1", "r1"]})
    album_inputs = np.array([[1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    lifts = album_lifts(tracks, album_inputs, network, names, training)
    explanations = explain_albums(tracks, album_inputs, lifts, liked, liked_inputs, top=1)
    row = explanations.iloc[0]
    assert row["release_id"] == "r1"
    # In words, with the column name kept beside them; bpm's two encoding bins count as one feature.
    assert row["lifted_by"] == "tempo (BPM) (+2.00)"
    assert row["lifting_features"] == "bpm"
    assert row["sounds_like"] == "Near - Close Song"


def test_enriched_csv_is_read_into_audio_rows_and_metadata(tmp_path):
    row = {column: 0.5 for column in RAW_TRACK_COLUMNS}
    row.update(mbid="A4CE8277-A761-4B15-A4DA-9CE11AE4770A", artist="Band", genre="Rock", label="L", key_key="C",
               key_scale="major", chords_key="H", chords_scale="minor", release_year=1999, release_title="LP", recording_title="Song")
    frame = pd.DataFrame([row, row | {"bpm": 99.0}]).assign(liked=1)
    path = tmp_path / "enriched.csv"
    frame.to_csv(path, index=False)
    audio, metadata = read_enriched_csv(path)
    assert len(audio) == 2 and audio["mbid"].iloc[0] == "a4ce8277-a761-4b15-a4da-9ce11ae4770a"
    assert pd.isna(audio["chords_key"].iloc[0])  # an unknown key counts as missing
    assert list(metadata.columns) == ["mbid", "artist", "release_year", "release_title", "recording_title"]
    assert len(metadata) == 1 and metadata["release_year"].iloc[0] == 1999
    frame.drop(columns=["mfcc_3", "bpm"]).to_csv(path, index=False)
    with pytest.raises(EnrichedCsvError, match="2 column"):
        read_enriched_csv(path)


def test_reference_csv_reads(shared_dir):
    audio, metadata = read_enriched_csv(shared_dir / "datasets" / "reference_track_features.csv")
    assert len(audio) == 1254 and metadata["mbid"].is_unique
    assert audio["bpm"].notna().all()


def test_raw_track_features_can_come_from_an_enriched_csv(tmp_path):
    import dagster as dg

    from albumrec_pipeline.assets.ingest import liked_tracks, raw_track_features
    from albumrec_pipeline.resources.feature_sources import ReleaseCatalog, TrackFeatureSource
    from albumrec_pipeline.storage.parquet_io_manager import ParquetWarehouse

    rows = []
    for number, mbid in enumerate(["a4ce8277-a761-4b15-a4da-9ce11ae4770a", "56eed245-33c6-4121-b66d-0456338f691b"]):
        row = {column: 0.5 for column in RAW_TRACK_COLUMNS}
        row.update(mbid=mbid, artist=f"Band {number}", key_key="C", key_scale="major", chords_key="D",
                   chords_scale="minor", release_year=1990 + number, release_title="LP", recording_title=f"Song {number}")
        rows.append(row | {"liked": number})
    enriched = tmp_path / "enriched.csv"
    pd.DataFrame(rows).to_csv(enriched, index=False)

    class Unused(TrackFeatureSource, ReleaseCatalog):
        pass

    result = dg.materialize(
        [liked_tracks, raw_track_features],
        resources={"io_manager": ParquetWarehouse(base_path=str(tmp_path / "warehouse")), "track_features": Unused(), "release_catalog": Unused()},
        run_config=dg.RunConfig(
            {
                "liked_tracks": {"config": {"csv_path": str(enriched)}},
                "raw_track_features": {"config": {"enriched_csv_path": str(enriched)}},
            }
        ),
        selection=[liked_tracks, raw_track_features],
    )
    assert result.success
    table = pd.read_parquet(tmp_path / "warehouse" / "raw_track_features.parquet")
    # The enriched CSV has no MusicBrainz tags: the column is there, empty.
    assert list(table.columns) == RAW_TRACK_COLUMNS + ["musicbrainz_tags", "liked"]
    assert table["musicbrainz_tags"].isna().all()
    assert table.set_index("mbid")["recording_title"].to_dict()["56eed245-33c6-4121-b66d-0456338f691b"] == "Song 1"
    assert table["liked"].tolist() == [0, 1]
