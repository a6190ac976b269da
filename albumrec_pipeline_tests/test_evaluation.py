import numpy as np
import pandas as pd
import pytest
import torch

from albumrec_pipeline.core.evaluation import (
    NetworkRecipe,
    calibration_table,
    confusion_table,
    cross_validate_table,
    evaluation_report,
    fit_network,
    summarize_predictions,
    validation_split,
)
from albumrec_pipeline.core.model_artifacts import FeatureSchemaError, TrainedPreferenceModel
from albumrec_pipeline.core.scaling import PiecewiseLinearEncoder, make_scaler
from albumrec_pipeline.core.training import TrainingSettings, artist_weights


def taste_table(artists: int = 40, tracks: int = 8, seed: int = 0) -> pd.DataFrame:
    """Artists with a style; liking depends on the style, so held-out artists are predictable."""
    rng = np.random.default_rng(seed)
    rows = []
    for artist in range(artists):
        style = rng.normal(size=3)
        for track in range(tracks):
            features = style + 0.3 * rng.normal(size=3)
            rows.append(
                {"mbid": f"{artist}-{track}", "artist": f"artist {artist}", "liked": int(style[0] + 0.5 * style[1] > 0),
                 "a": features[0], "b": features[1], "c": features[2]}
            )
    return pd.DataFrame(rows)


def test_validation_split_holds_out_whole_artists():
    table = taste_table()
    fit, validation = validation_split(table["artist"].to_numpy(), table["liked"].to_numpy(), 0.2, seed=0)
    assert not set(table["artist"][fit]) & set(table["artist"][validation])
    assert 0.1 < validation.mean() < 0.3


def test_artist_weights_balance_prolific_artists():
    weights = artist_weights(np.array(["a"] * 9 + ["b"]), power=1.0)
    assert np.isclose(weights[:9].sum(), weights[9:].sum())
    assert np.isclose(weights.mean(), 1.0)
    assert artist_weights(np.array(["a", "b"]), power=0) is None


def test_piecewise_encoding_is_monotone_and_bounded():
    values = np.linspace(0, 10, 101)[:, None]
    encoder = PiecewiseLinearEncoder(bins=4).fit(values)
    encoded = encoder.transform(np.array([[-5.0], [0.0], [5.0], [10.0], [20.0]]))
    assert encoded.shape == (5, 4)
    assert (encoded >= 0).all() and (encoded <= 1).all()
    assert encoded.sum(axis=1).tolist() == [0.0, 0.0, 2.0, 4.0, 4.0]
    assert encoder.output_names(["bpm"]) == ["bpm[1/4]", "bpm[2/4]", "bpm[3/4]", "bpm[4/4]"]
    with pytest.raises(ValueError, match="unknown scaling"):
        make_scaler("log")


def test_cross_validation_compares_every_model_on_the_same_folds():
    table = taste_table()
    recipe = NetworkRecipe(TrainingSettings(epochs=60, evaluate_every=5, early_stopping_patience=4), scaling="standard", refit_on_all_rows=True)
    result = cross_validate_table(table, {"network": recipe}, {"network": ["a", "b", "c"]}, ["a", "b", "c"], folds=4)
    predictions = result.predictions
    assert set(predictions["model"]) == {"network", "logistic_regression", "hist_gradient_boosting"}
    # every row is predicted exactly once per model and grouping, and in the same fold for every model
    for _, part in predictions.groupby(["model", "grouping"]):
        assert sorted(part["mbid"]) == sorted(table["mbid"])
    folds = predictions.pivot_table(index=["grouping", "mbid"], columns="model", values="fold")
    assert (folds.nunique(axis=1) == 1).all()
    # artist-grouped folds never split an artist
    artist_folds = predictions[(predictions["grouping"] == "artist") & (predictions["model"] == "network")]
    artist_of = table.set_index("mbid")["artist"]
    assert (artist_folds.groupby(artist_folds["mbid"].map(artist_of))["fold"].nunique() == 1).all()
    summary = summarize_predictions(predictions).set_index(["model", "grouping"])
    assert summary.loc[("network", "artist"), "roc_auc"] > 0.8
    report = evaluation_report(result)
    assert set(report.tables) >= {"summary", "confusion", "calibration", "roc", "training_histories"}
    # the label depends on a and b, not on c: shuffling c costs the least
    importance = report.tables["permutation_importance"].set_index("feature")["auc_drop"]
    assert importance["a"] > importance["c"] and importance["b"] > importance["c"]
    assert importance["a"] > 0.05


def test_confusion_and_calibration_tables():
    predictions = pd.DataFrame(
        {"model": "m", "grouping": "artist", "fold": 0, "label": [1, 1, 0, 0], "probability": [0.9, 0.4, 0.2, 0.7]}
    )
    confusion = confusion_table(predictions).set_index(["actual", "predicted"])["count"]
    assert confusion.to_dict() == {(0, 0): 1, (0, 1): 1, (1, 0): 1, (1, 1): 1}
    calibration = calibration_table(predictions, bins=2)
    assert calibration["rows"].tolist() == [2, 2]
    assert np.isclose(calibration["observed_liked_share"].tolist(), [0.5, 0.5]).all()


def test_cross_validation_ensembles_predict_through_the_pipeline_model():
    table = taste_table(artists=30, tracks=6)
    features = table[["a", "b", "c"]].to_numpy()
    recipe = NetworkRecipe(TrainingSettings(epochs=20, evaluate_every=5, early_stopping_patience=0), scaling="standard", ensemble_size=3)
    ensemble = fit_network(features, table["liked"].to_numpy(), table["artist"].to_numpy(), recipe, feature_columns=["a", "b", "c"])
    assert isinstance(ensemble.model, TrainedPreferenceModel)
    assert len(ensemble.networks) == 3 and ensemble.model.feature_columns == ["a", "b", "c"]
    # The ensemble's probability is the mean of its members', each reading the fold's scaling.
    scaled = torch.as_tensor(ensemble.scaler.transform(table[["a", "b", "c"]]), dtype=torch.float32)
    members = [network.like_probability(scaled).numpy() for network in ensemble.networks]
    np.testing.assert_allclose(ensemble.like_probability(features), np.mean(members, axis=0), rtol=1e-6)
    assert not np.allclose(members[0], members[1])
    with pytest.raises(FeatureSchemaError):
        ensemble.model.like_probability(ensemble.scaler.transform(table[["a", "b", "c"]])[:, :2])
