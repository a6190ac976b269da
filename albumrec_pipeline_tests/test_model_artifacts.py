import numpy as np
import pandas as pd
import pytest
import torch
from upath import UPath

from albumrec_pipeline.core.albums import AlbumThresholds, score_tracks, summarize_albums
from albumrec_pipeline.core.model_artifacts import (
    MODEL_FILE,
    FeatureSchemaError,
    FittedScaler,
    TrainedPreferenceModel,
)
from albumrec_pipeline.core.network import PreferenceNet
from albumrec_pipeline.core.weight_reports import WeightReports, weight_report_tables


def features(rows: int, columns: list[str], seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(rows, len(columns))) * 10, columns=columns)


def test_scaler_maps_its_training_rows_to_the_unit_range_and_round_trips(tmp_path):
    train = features(50, ["a", "b", "c"])
    fitted = FittedScaler.fit(train)
    scaled = fitted.transform(train)
    assert np.allclose(scaled.min(axis=0), 0) and np.allclose(scaled.max(axis=0), 1)
    folder = UPath(tmp_path) / "feature_scaler"
    fitted.save_native(folder)
    loaded = FittedScaler.load(fitted.summary_table(), folder)
    assert np.allclose(loaded.transform(train), scaled)
    assert loaded.summary_table()["feature"].tolist() == ["a", "b", "c"]
    with pytest.raises(FeatureSchemaError, match="missing"):
        fitted.transform(train.drop(columns="b"))


def test_model_round_trips_through_a_weights_only_file(tmp_path):
    columns = [f"f{n}" for n in range(6)]
    network = PreferenceNet(6, (8, 4))
    model = TrainedPreferenceModel(network, columns, pd.DataFrame({"epoch": [1]}), {"test_accuracy": 0.7})
    folder = UPath(tmp_path) / "preference_model"
    model.save_native(folder)
    payload = torch.load(folder / MODEL_FILE, weights_only=True)
    assert payload["feature_columns"] == columns
    loaded = TrainedPreferenceModel.load(model.summary_table(), folder)
    x = np.random.default_rng(1).uniform(size=(5, 6)).astype("float32")
    assert np.allclose(loaded.like_probability(x), model.like_probability(x))
    assert loaded.metrics == {"test_accuracy": 0.7}
    with pytest.raises(FeatureSchemaError, match="reads 6 features"):
        model.like_probability(x[:, :5])


def test_weight_reports_describe_every_layer(tmp_path):
    columns = ["genre_dortmund_rock", "bpm", "mood_happy", "release_year"] + [f"mfcc_{n}" for n in range(1, 9)]
    network = PreferenceNet(len(columns), (6, 3))
    tables = weight_report_tables(network, columns)
    assert len(tables["layer_weights"]) == len(columns) * 6 + 6 * 3 + 3
    assert len(tables["layer_biases"]) == 6 + 3 + 1
    sums = tables["layer_importance"].groupby("layer")["normalized_importance"].sum()
    assert np.allclose(sums, 1.0)
    top = tables["top_features"]
    assert len(top) == 10 and top["normalized_importance"].is_monotonic_decreasing
    grouped = tables["grouped_importance"].set_index("group")
    assert np.isclose(grouped["total_importance"].sum(), 1.0)
    assert grouped.loc["genre", "features"] == 1 and grouped.loc["metadata", "features"] == 1
    first = tables["feature_importance"].set_index("feature")
    expected = np.abs(network.linear_layers()[0].weight.detach().numpy()[:, 1]).mean()
    assert np.isclose(first.loc["bpm", "mean_abs_weight"], expected)
    reports = WeightReports(tables)
    reports.save_native(UPath(tmp_path) / "weight_reports")
    loaded = WeightReports.load(reports.summary_table(), UPath(tmp_path) / "weight_reports")
    assert loaded.tables["layer_weights"].equals(tables["layer_weights"])


def test_scoring_refuses_a_scaler_and_network_of_different_features():
    scaler = FittedScaler.fit(features(10, ["a", "b"]))
    model = TrainedPreferenceModel(PreferenceNet(2), ["a", "c"], pd.DataFrame())
    with pytest.raises(FeatureSchemaError, match="different feature columns"):
        score_tracks(features(3, ["a", "b"]), scaler, model)


def albums_fixture():
    rows = []
    # A: 6 tracks, 5 liked -> recommended; B: 6 tracks, 2 liked; C: 3 tracks all liked (too short);
    # D: 6 tracks, only 2 scored (coverage 1/3), both liked.
    plan = {"A": [0.9] * 5 + [0.1], "B": [0.9, 0.8, 0.2, 0.1, 0.3, 0.2], "C": [0.9] * 3, "D": [0.9, 0.9] + [None] * 4}
    scores = []
    for album, probabilities in plan.items():
        for index, probability in enumerate(probabilities):
            rid = f"{album}{index}"
            rows.append({"release_id": album, "release_group_id": f"g{album}", "album_title": album, "album_artist": "x", "release_year": 2000, "recording_id": rid})
            if probability is not None:
                scores.append({"recording_id": rid, "like_probability": probability})
    return pd.DataFrame(rows), pd.DataFrame(scores)


def test_album_decision_follows_the_thresholds_and_ranks_best_first():
    tracks, scores = albums_fixture()
    albums = summarize_albums(tracks, scores, AlbumThresholds(0.5, 0.6, 5, 0.5)).set_index("release_id")
    assert albums.loc["A", "liked_tracks"] == 5 and np.isclose(albums.loc["A", "liked_share"], 5 / 6)
    assert albums.loc["D", "tracks"] == 6 and albums.loc["D", "tracks_with_features"] == 2
    assert albums["recommended"].to_dict() == {"A": True, "B": False, "C": False, "D": False}
    assert albums.loc["A", "rank"] == 1
    # lowering the length and coverage bars admits C and D
    relaxed = summarize_albums(tracks, scores, AlbumThresholds(0.5, 0.6, 3, 0.3)).set_index("release_id")
    assert relaxed["recommended"].sum() == 3
    assert np.isclose(relaxed.loc["B", "mean_score"], np.mean([0.9, 0.8, 0.2, 0.1, 0.3, 0.2]))


def test_an_ensemble_averages_its_members_and_round_trips(tmp_path):
    members = [PreferenceNet(4, (3,)) for _ in range(3)]
    model = TrainedPreferenceModel(members[0], list("abcd"), pd.DataFrame({"epoch": [1]}), more_networks=members[1:])
    x = np.random.default_rng(2).uniform(size=(6, 4)).astype("float32")
    expected = np.mean([member.like_probability(torch.as_tensor(x)).numpy() for member in members], axis=0)
    assert np.allclose(model.like_probability(x), expected)
    folder = UPath(tmp_path) / "preference_model"
    model.save_native(folder)
    loaded = TrainedPreferenceModel.load(model.summary_table(), folder)
    assert len(loaded.networks) == 3 and np.allclose(loaded.like_probability(x), expected)
    tables = weight_report_tables(model.networks, list("abcd"))
    assert set(tables["layer_weights"]["member"]) == {0, 1, 2}
    assert np.allclose(tables["layer_importance"].groupby("layer")["normalized_importance"].sum(), 1.0)
