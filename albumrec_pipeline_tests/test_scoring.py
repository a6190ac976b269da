import numpy as np
import pandas as pd
import pytest
import torch
from upath import UPath

from albumrec_pipeline.core.documents import track_row_from_documents
from albumrec_pipeline.core.feature_sets import feature_set_columns
from albumrec_pipeline.core.model_artifacts import MODEL_FILE, FeatureSchemaError, FittedScaler, TrainedPreferenceModel
from albumrec_pipeline.core.network import PreferenceNet
from albumrec_pipeline.scoring import ArtifactError, TasteModel, load_taste_model
from albumrec_pipeline.storage.artifacts import save_artifact
from albumrec_pipeline_tests.factories import highlevel_document, lowlevel_document, recording_id


def raw_rows(count: int) -> pd.DataFrame:
    rows = pd.DataFrame(
        [track_row_from_documents(recording_id(n), lowlevel_document(shift=n % 7), highlevel_document(n / 10)) for n in range(count)]
    )
    rows["release_year"] = 1990.0 + np.arange(count) % 20
    return rows


def fitted(feature_set: str, method: str, rows: int = 30) -> tuple[FittedScaler, TrainedPreferenceModel]:
    from albumrec_pipeline.core.dataset import encode_features

    scaler = FittedScaler.fit(encode_features(raw_rows(rows))[feature_set_columns(feature_set)], method)
    network = PreferenceNet(len(scaler.input_names), (8,))
    model = TrainedPreferenceModel(
        network, scaler.feature_columns, pd.DataFrame({"epoch": [1]}), input_names=scaler.input_names,
        feature_schema=scaler.feature_schema, scaler=scaler,
    )
    return scaler, model


def materialized(
    tmp_path, feature_set: str, method: str, artifacts: tuple[FittedScaler, TrainedPreferenceModel] | None = None
) -> UPath:
    """A warehouse holding a scaler and network (these, or new ones), written the way the IO manager writes them."""
    warehouse = UPath(tmp_path)
    for name, artifact in zip(("feature_scaler", "preference_model"), artifacts or fitted(feature_set, method), strict=True):
        save_artifact(artifact, warehouse / f"{name}.parquet")
    return warehouse


@pytest.mark.parametrize(("feature_set", "method"), [("audio", "piecewise:4"), ("all", "minmax")])
def test_materialized_model_scores_raw_rows(tmp_path, feature_set, method):
    from albumrec_pipeline.core.dataset import encode_features

    scaler, model = fitted(feature_set, method)
    rows = raw_rows(5)
    # What the network in memory makes of the rows, before anything is written and read back.
    network = model.network.eval()
    with torch.no_grad():
        inputs = torch.as_tensor(scaler.transform(encode_features(rows)), dtype=torch.float32)
        expected = torch.sigmoid(network(inputs)).numpy().astype("float64")
    assert len(np.unique(expected)) == 5  # the rows are told apart, so a mix-up would show

    taste = load_taste_model(materialized(tmp_path, feature_set, method, (scaler, model)))

    np.testing.assert_array_equal(taste.like_probability(rows), expected)
    # extra columns and column order do not matter
    shuffled = rows[list(reversed(rows.columns))].assign(extra="x")
    np.testing.assert_array_equal(taste.like_probability(shuffled), expected)


def test_rows_that_do_not_match_the_schema_are_refused(tmp_path):
    taste = load_taste_model(materialized(tmp_path, "all", "minmax"))
    rows = raw_rows(3)
    with pytest.raises(FeatureSchemaError, match="lack 1 feature column"):
        taste.like_probability(rows.drop(columns="bpm"))
    with pytest.raises(FeatureSchemaError, match=r"'bpm' has missing or non-numeric values at row positions \[1\]"):
        taste.like_probability(rows.assign(bpm=[120.0, np.nan, 100.0]))
    with pytest.raises(FeatureSchemaError, match="'key_key' has values outside"):
        taste.like_probability(rows.assign(key_key=["C", "H", "D"]))


def test_a_scaler_and_network_that_disagree_are_refused():
    scaler = FittedScaler.fit(pd.DataFrame({"a": [0.0, 1.0], "b": [1.0, 2.0]}))
    with pytest.raises(FeatureSchemaError, match="different feature columns"):
        TasteModel(scaler, TrainedPreferenceModel(PreferenceNet(2), ["a", "c"], pd.DataFrame()))
    with pytest.raises(FeatureSchemaError, match="produces 2 inputs"):
        TasteModel(scaler, TrainedPreferenceModel(PreferenceNet(3), ["a", "b"], pd.DataFrame()))


def test_a_missing_warehouse_says_what_to_materialize(tmp_path):
    with pytest.raises(FileNotFoundError, match="materialize preference_model first"):
        load_taste_model(tmp_path)


def test_the_scaler_unpickled_on_request_scores_like_the_rebuilt_one(tmp_path):
    warehouse = materialized(tmp_path, "audio", "piecewise:4")
    rows = raw_rows(6)
    assert np.array_equal(
        load_taste_model(warehouse, from_joblib=True).like_probability(rows), load_taste_model(warehouse).like_probability(rows)
    )


def test_a_newer_scaler_fit_leaves_the_last_good_model_whole(tmp_path):
    warehouse = materialized(tmp_path, "audio", "minmax")
    rows = raw_rows(6)
    before = load_taste_model(warehouse).like_probability(rows)
    # feature_scaler materialized again on other rows, preference_model not (its run failed):
    # same columns, other scaling. The network is still scored with the fit it was trained with.
    save_artifact(fitted("audio", "minmax", rows=40)[0], warehouse / "feature_scaler.parquet")
    assert np.array_equal(load_taste_model(warehouse).like_probability(rows), before)
    # The unpickled scaler.joblib is now another fit's, and is refused as the network's partner.
    together = "trained with another fit of the scaler.*materialize feature_scaler and preference_model together"
    with pytest.raises(FeatureSchemaError, match=together):
        load_taste_model(warehouse, from_joblib=True)


def test_a_network_file_whose_scaler_is_another_fit_is_refused(tmp_path):
    scaler, model = fitted("audio", "minmax")
    other = fitted("audio", "minmax", rows=40)[0]
    with pytest.raises(FeatureSchemaError, match="another fit of the scaler"):
        TrainedPreferenceModel(
            model.network, model.feature_columns, model.history, input_names=model.input_names,
            feature_schema=scaler.feature_schema, scaler=other,
        )


def test_a_network_stored_without_its_scaler_says_what_to_materialize(tmp_path):
    scaler, model = fitted("audio", "minmax")
    save_artifact(scaler, UPath(tmp_path) / "feature_scaler.parquet")
    save_artifact(
        TrainedPreferenceModel(model.network, model.feature_columns, model.history, input_names=model.input_names),
        UPath(tmp_path) / "preference_model.parquet",
    )
    with pytest.raises(ArtifactError, match="does not carry the scaler fit.*materialize feature_scaler and preference_model again"):
        load_taste_model(tmp_path)


def test_a_network_file_from_an_unfinished_materialization_is_refused(tmp_path):
    warehouse = materialized(tmp_path, "audio", "minmax")
    # A run killed between renaming the new .pth into place and renaming the new summary.
    _, newer = fitted("audio", "minmax")
    newer.save_native(warehouse / "preference_model")
    unfinished = r"song_pref_model_weights\.pth is not the file .*preference_model\.parquet was written with"
    with pytest.raises(ArtifactError, match=unfinished):
        load_taste_model(warehouse)
    assert (warehouse / "preference_model" / MODEL_FILE).exists()
