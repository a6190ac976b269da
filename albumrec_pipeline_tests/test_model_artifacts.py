import ast
import io
import os
import warnings
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from upath import UPath

from albumrec_pipeline.core.albums import AlbumThresholds, score_tracks, summarize_albums
from albumrec_pipeline.core.model_artifacts import (
    MODEL_FILE,
    SCALER_FILE,
    ArtifactVersionWarning,
    FeatureSchemaError,
    FittedScaler,
    TrainedPreferenceModel,
    check_scaler_and_model,
)
from albumrec_pipeline.core.network import PreferenceNet
from albumrec_pipeline.core.weight_reports import WeightReports, weight_report_tables
from albumrec_pipeline.storage.artifacts import (
    ArtifactFormatError,
    ArtifactIntegrityError,
    format_version_text,
    load_artifact,
    save_artifact,
)
from albumrec_pipeline.storage.atomic import DOCUMENT_KEY, read_parquet, write_parquet_atomic

REPO_ROOT = Path(__file__).resolve().parents[1]
RECORDED = {"albumrec", "python", "torch", "scikit-learn", "numpy", "pandas"}


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
    assert albums.loc["A", "predicted_liked_tracks"] == 5 and np.isclose(albums.loc["A", "predicted_liked_share"], 5 / 6)
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


# --- schema, versions and what is trusted ------------------------------------------------------


class RunsCode:
    """Unpickling this creates a folder: proof, if the folder appears, that a file's code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def saved_pair(tmp_path, method: str = "piecewise:4", seed: int = 0) -> tuple[FittedScaler, TrainedPreferenceModel, UPath]:
    columns = ["bpm", "key_key_C", "key_key_D", "mfcc_1"]
    scaler = FittedScaler.fit(features(40, columns, seed), method)
    network = PreferenceNet(len(scaler.input_names), (4,))
    model = TrainedPreferenceModel(
        network, scaler.feature_columns, pd.DataFrame({"epoch": [1]}), input_names=scaler.input_names,
        feature_schema=scaler.feature_schema,
    )
    base = UPath(tmp_path)
    save_artifact(scaler, base / "feature_scaler.parquet")
    save_artifact(model, base / "preference_model.parquet")
    return scaler, model, base


def rewrite_document(path: UPath, change) -> None:
    summary = read_parquet(path)
    document = summary.attrs[DOCUMENT_KEY]
    change(document)
    write_parquet_atomic(summary, path, document)


@pytest.mark.parametrize("method", ["minmax", "standard", "quantile", "piecewise:4"])
def test_the_scaler_is_rebuilt_from_stored_numbers_without_unpickling(tmp_path, monkeypatch, method):
    scaler, _, base = saved_pair(tmp_path, method)
    rows = features(25, scaler.feature_columns, seed=3)

    def no_unpickling(*args, **kwargs):
        raise AssertionError("the scaler was unpickled")

    monkeypatch.setattr(joblib, "load", no_unpickling)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_artifact(FittedScaler, base / "feature_scaler.parquet")
    assert np.array_equal(loaded.transform(rows), scaler.transform(rows))
    assert loaded.feature_schema == scaler.feature_schema and loaded.method == method
    # scaler.joblib is still written beside it, in scikit-learn's own format
    monkeypatch.undo()
    native = joblib.load(tmp_path / "feature_scaler" / SCALER_FILE)
    assert np.array_equal(native.transform(rows.to_numpy()), scaler.transformer.transform(rows.to_numpy()))


def test_scaler_and_model_carry_the_feature_schema_and_the_versions_that_made_them(tmp_path):
    scaler, _, base = saved_pair(tmp_path)
    stored = read_parquet(base / "feature_scaler.parquet").attrs[DOCUMENT_KEY]["artifact"]
    schema = stored["feature_schema"]
    assert schema["columns"] == ["bpm", "key_key_C", "key_key_D", "mfcc_1"]
    assert schema["inputs"][:4] == ["bpm[1/4]", "bpm[2/4]", "bpm[3/4]", "bpm[4/4]"]
    assert schema["scaling"] == "piecewise:4" and schema["column_dtype"] == "float64" and schema["input_dtype"] == "float32"
    assert schema["categorical"] == {"key_key": ["A", "A#", "B", "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#"]}
    assert set(stored["versions"]) >= RECORDED and stored["versions"]["torch"] == torch.__version__

    payload = torch.load(tmp_path / "preference_model" / MODEL_FILE, weights_only=True)
    assert payload["format_version"] == format_version_text()
    assert payload["feature_schema"] == scaler.feature_schema.to_dict()
    assert set(payload["versions"]) >= RECORDED
    loaded = load_artifact(TrainedPreferenceModel, base / "preference_model.parquet")
    assert loaded.feature_schema == scaler.feature_schema


def test_a_model_whose_features_differ_from_the_scalers_is_refused(tmp_path):
    scaler, model, _ = saved_pair(tmp_path)
    check_scaler_and_model(scaler, model)

    reordered = TrainedPreferenceModel(model.network, ["key_key_C", "bpm", "key_key_D", "mfcc_1"], model.history)
    with pytest.raises(FeatureSchemaError, match=r"another order \(position 0: scaler 'bpm', network 'key_key_C'\)"):
        check_scaler_and_model(scaler, reordered)
    other = TrainedPreferenceModel(model.network, ["bpm", "key_key_C", "key_key_D", "mfcc_2"], model.history)
    with pytest.raises(FeatureSchemaError, match=r"the network reads 1 the scaler does not, e.g. \['mfcc_2'\]"):
        check_scaler_and_model(scaler, other)


def test_a_model_trained_with_another_fit_or_method_of_the_scaler_is_refused(tmp_path):
    scaler, model, _ = saved_pair(tmp_path)
    # Same columns, same method, fitted on other rows: the inputs would be scaled differently.
    refitted = FittedScaler.fit(features(40, scaler.feature_columns, seed=9), "piecewise:4")
    with pytest.raises(FeatureSchemaError, match="trained with another fit of the scaler"):
        check_scaler_and_model(refitted, model)

    minmax = FittedScaler.fit(features(40, scaler.feature_columns), "minmax")
    trained_on_minmax = TrainedPreferenceModel(
        PreferenceNet(4), minmax.feature_columns, model.history, input_names=minmax.input_names,
        feature_schema=minmax.feature_schema,
    )
    standard = FittedScaler.fit(features(40, scaler.feature_columns), "standard")
    with pytest.raises(FeatureSchemaError, match="scaled with 'minmax', the scaler scales with 'standard'"):
        check_scaler_and_model(standard, trained_on_minmax)


def test_artifacts_of_another_major_format_version_are_refused(tmp_path):
    _, _, base = saved_pair(tmp_path)

    def next_major(document):
        document["format_version"] = "2.0"

    rewrite_document(base / "feature_scaler.parquet", next_major)
    with pytest.raises(ArtifactFormatError, match=r"format 2\.0; this albumrec reads format 1\.x only"):
        load_artifact(FittedScaler, base / "feature_scaler.parquet")

    # A later minor version of the same major format only adds to what is stored: it loads.
    def next_minor(document):
        document["format_version"] = "1.7"

    rewrite_document(base / "feature_scaler.parquet", next_minor)
    assert load_artifact(FittedScaler, base / "feature_scaler.parquet").method == "piecewise:4"

    pth = tmp_path / "preference_model" / MODEL_FILE
    payload = torch.load(pth, weights_only=True)
    torch.save({**payload, "format_version": "2.0"}, pth)
    with pytest.raises(ArtifactFormatError, match=r"song_pref_model_weights\.pth was written in albumrec artifact format 2\.0"):
        TrainedPreferenceModel.load(pd.DataFrame(), UPath(tmp_path) / "preference_model")
    torch.save({key: value for key, value in payload.items() if key != "format_version"}, pth)
    with pytest.raises(ArtifactFormatError, match="records no albumrec artifact format version"):
        TrainedPreferenceModel.load(pd.DataFrame(), UPath(tmp_path) / "preference_model")


def test_a_scaler_made_with_a_newer_scikit_learn_loads_with_a_clear_warning(tmp_path):
    scaler, _, base = saved_pair(tmp_path, "quantile")

    def newer_sklearn(document):
        document["artifact"]["versions"]["scikit-learn"] = "99.1"

    rewrite_document(base / "feature_scaler.parquet", newer_sklearn)
    with pytest.warns(ArtifactVersionWarning, match=r"made with scikit-learn 99\.1; this environment has scikit-learn .*older"):
        loaded = load_artifact(FittedScaler, base / "feature_scaler.parquet")
    rows = features(5, scaler.feature_columns, seed=4)
    assert np.array_equal(loaded.transform(rows), scaler.transform(rows))
    with pytest.warns(ArtifactVersionWarning, match="does not support unpickling its objects with an older version"):
        FittedScaler.load_joblib(read_parquet(base / "feature_scaler.parquet"), base / "feature_scaler")


def test_a_scaler_that_no_longer_computes_what_was_recorded_is_refused(tmp_path):
    _, _, base = saved_pair(tmp_path, "minmax")

    def shifted(document):
        step = document["artifact"]["parameters"]["steps"][0]
        step["min_"]["ndarray"] = [value + 0.5 for value in step["min_"]["ndarray"]]

    rewrite_document(base / "feature_scaler.parquet", shifted)
    with pytest.raises(ArtifactFormatError, match="does not reproduce the outputs recorded when it was fitted"):
        load_artifact(FittedScaler, base / "feature_scaler.parquet")


def test_stored_parameters_cannot_replace_anything_but_fitted_attributes(tmp_path):
    _, _, base = saved_pair(tmp_path, "minmax")

    def sneaky(document):
        document["artifact"]["parameters"]["steps"][0]["transform"] = "anything"

    rewrite_document(base / "feature_scaler.parquet", sneaky)
    with pytest.raises(ArtifactFormatError, match="'transform' is not a fitted scaler attribute"):
        load_artifact(FittedScaler, base / "feature_scaler.parquet")


def test_a_pth_holding_a_pickled_object_is_refused_without_running_it(tmp_path):
    _, _, base = saved_pair(tmp_path)
    pth = tmp_path / "preference_model" / MODEL_FILE
    payload = torch.load(pth, weights_only=True)
    marker = tmp_path / "code-ran"
    torch.save({**payload, "metrics": RunsCode(marker)}, pth)

    with pytest.raises(ArtifactIntegrityError, match=r"objects other than tensors and plain values \(it names posix\.mkdir\)"):
        TrainedPreferenceModel.load(pd.DataFrame(), base / "preference_model")
    assert not marker.exists()

    # The file really is dangerous: a plain unpickling runs its code.
    torch.load(pth, weights_only=False)
    assert marker.is_dir()


def test_a_swapped_scaler_joblib_is_never_unpickled(tmp_path):
    _, _, base = saved_pair(tmp_path)
    marker = tmp_path / "code-ran"
    (tmp_path / "feature_scaler" / SCALER_FILE).write_bytes(
        (lambda buffer: (joblib.dump(RunsCode(marker), buffer), buffer.getvalue())[1])(io.BytesIO())
    )
    summary = read_parquet(base / "feature_scaler.parquet")

    with pytest.raises(ArtifactIntegrityError, match="scaler.joblib is not the file .*feature_scaler.parquet was written with"):
        FittedScaler.load_joblib(summary, base / "feature_scaler")
    assert not marker.exists()
    # The default load never opens the file, so the warehouse's scaler still loads.
    assert load_artifact(FittedScaler, base / "feature_scaler.parquet").method == "piecewise:4"


def test_the_joblib_written_with_the_summary_loads_on_request(tmp_path):
    scaler, _, base = saved_pair(tmp_path, "standard")
    unpickled = FittedScaler.load_joblib(read_parquet(base / "feature_scaler.parquet"), base / "feature_scaler")
    rows = features(7, scaler.feature_columns, seed=5)
    assert np.array_equal(unpickled.transform(rows), scaler.transform(rows))


def test_every_torch_load_in_the_project_is_weights_only():
    calls = []
    for folder in ("albumrec_pipeline", "benchmarks"):
        for source in (REPO_ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and ast.unparse(node.func) == "torch.load":
                    keywords = {keyword.arg: ast.unparse(keyword.value) for keyword in node.keywords}
                    calls.append((source.name, keywords.get("weights_only")))
    assert calls and all(weights_only == "True" for _, weights_only in calls), calls
