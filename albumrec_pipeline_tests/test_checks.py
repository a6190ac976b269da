"""Each asset check passes on good data and fails (with the right severity) on the fault it guards against."""

import dagster as dg
import pandas as pd
import pytest

from albumrec_pipeline.assets.ingest import INPUT_FINGERPRINT_KEY
from albumrec_pipeline.assets.model import EVALUATED_LIST_KEY
from albumrec_pipeline.checks.dataset import (
    REQUIRED_COLUMNS,
    cleaned_dataset_artists_split_apart,
    cleaned_dataset_complete,
)
from albumrec_pipeline.checks.liked_list import ClassBalanceConfig, liked_tracks_class_balance, liked_tracks_well_formed
from albumrec_pipeline.checks.model import (
    AccuracyFloorConfig,
    model_evaluation_of_current_list,
    preference_model_accuracy_floor,
)
from albumrec_pipeline.core.albums import AlbumThresholds, threshold_violations
from albumrec_pipeline.core.model_artifacts import TrainedPreferenceModel
from albumrec_pipeline.core.network import PreferenceNet
from albumrec_pipeline_tests.factories import recording_id


def _list(labels, ids=None):
    ids = ids or [recording_id(index) for index in range(len(labels))]
    return pd.DataFrame({"mbid": ids, "liked": pd.Series(labels, dtype="int8")})


def test_well_formed_list_passes():
    result = liked_tracks_well_formed(liked_tracks=_list([0, 1, 1, 0]))
    assert result.passed


@pytest.mark.parametrize(
    "table, metadata_key",
    [
        (_list([0, 1], ids=[recording_id(0), "not-a-uuid"]), "invalid_ids"),
        (_list([0, 1], ids=[recording_id(0), "ABCDEF01-2345-6789-ABCD-EF0123456789"]), "invalid_ids"),
        (_list([0, 2]), "labels_not_0_or_1"),
        (_list([0, 1], ids=[recording_id(0), recording_id(0)]), "duplicated_recordings"),
    ],
)
def test_malformed_list_fails_and_says_how(table, metadata_key):
    result = liked_tracks_well_formed(liked_tracks=table)
    assert not result.passed
    assert result.metadata[metadata_key].value == 1


def test_class_balance_warns_below_the_floor_only():
    balanced = liked_tracks_class_balance(config=ClassBalanceConfig(), liked_tracks=_list([0, 1] * 10))
    assert balanced.passed
    lopsided = liked_tracks_class_balance(config=ClassBalanceConfig(), liked_tracks=_list([1] * 19 + [0]))
    assert not lopsided.passed and lopsided.severity == dg.AssetCheckSeverity.WARN
    assert "disliked" in lopsided.description
    lenient = liked_tracks_class_balance(config=ClassBalanceConfig(min_minority_share=0.05), liked_tracks=_list([1] * 19 + [0]))
    assert lenient.passed


def _dataset(**overrides):
    table = pd.DataFrame({column: [0.5, 0.6, 0.7, 0.8] for column in REQUIRED_COLUMNS})
    table["artist"] = ["a", "a", "b", "c"]
    table["split"] = ["train", "train", "validation", "test"]
    table["liked"] = [1, 0, 1, 0]
    for column, values in overrides.items():
        table[column] = values
    return table


def test_dataset_checks_pass_on_a_clean_split():
    assert cleaned_dataset_complete(cleaned_dataset=_dataset()).passed
    assert cleaned_dataset_artists_split_apart(cleaned_dataset=_dataset()).passed


def test_missing_critical_value_fails():
    column = REQUIRED_COLUMNS[0]
    result = cleaned_dataset_complete(cleaned_dataset=_dataset(**{column: [0.1, None, 0.3, 0.4]}))
    assert not result.passed
    assert result.metadata["missing_values"].value == {column: 1}


def test_a_dataset_without_a_feature_column_fails():
    result = cleaned_dataset_complete(cleaned_dataset=_dataset().drop(columns=[REQUIRED_COLUMNS[1]]))
    assert not result.passed and result.metadata["absent_columns"].value == REQUIRED_COLUMNS[1]


def test_artist_in_train_and_test_fails():
    result = cleaned_dataset_artists_split_apart(cleaned_dataset=_dataset(split=["train", "test", "validation", "test"]))
    assert not result.passed
    assert result.metadata["examples"].value == "a"


def _model(accuracy):
    metrics = {} if accuracy is None else {"test_accuracy": accuracy, "test_roc_auc": 0.7}
    return TrainedPreferenceModel(PreferenceNet(3, (4,)), ["a", "b", "c"], pd.DataFrame(), metrics=metrics)


@pytest.mark.parametrize("accuracy, passed", [(0.72, True), (0.6, True), (0.55, False), (None, False)])
def test_accuracy_floor_warns_not_blocks(accuracy, passed):
    result = preference_model_accuracy_floor(config=AccuracyFloorConfig(), preference_model=_model(accuracy))
    assert result.passed is passed
    assert result.severity == dg.AssetCheckSeverity.WARN
    assert not any(spec.blocking for spec in preference_model_accuracy_floor.check_specs)


def _ranking(**overrides):
    table = pd.DataFrame(
        {
            "tracks": [10, 8, 3],
            "tracks_with_features": [10, 6, 3],
            "feature_coverage": [1.0, 0.75, 1.0],
            "predicted_liked_tracks": [7, 4, 3],
            "recommended": [True, True, False],
        }
    )
    for column, values in overrides.items():
        table[column] = values
    return table


def test_threshold_violations_find_what_should_not_have_been_recommended():
    thresholds = AlbumThresholds()
    assert threshold_violations(_ranking(), thresholds).empty
    too_short = _ranking(recommended=[True, True, True])
    assert threshold_violations(too_short, thresholds).index.tolist() == [2]
    few_liked = _ranking(predicted_liked_tracks=[5, 4, 3])
    assert threshold_violations(few_liked, thresholds).index.tolist() == [0]
    stricter = AlbumThresholds(min_feature_coverage=0.8)
    assert threshold_violations(_ranking(), stricter).index.tolist() == [1]


def _record(instance, asset, **metadata):
    instance.report_runless_asset_event(dg.AssetMaterialization(asset, metadata=metadata))


def _evaluation_of_current_list(instance):
    return model_evaluation_of_current_list(dg.build_asset_check_context(instance=instance))


def test_evaluation_of_the_current_list_passes_and_a_changed_list_warns():
    with dg.DagsterInstance.ephemeral() as instance:
        _record(instance, "liked_tracks", **{INPUT_FINGERPRINT_KEY: "a" * 64})
        _record(instance, "model_evaluation", **{EVALUATED_LIST_KEY: "a" * 64})
        current = _evaluation_of_current_list(instance)
        assert current.passed and current.severity == dg.AssetCheckSeverity.WARN
        # A retrain on another list: liked_tracks is materialized again, model_evaluation is not.
        _record(instance, "liked_tracks", **{INPUT_FINGERPRINT_KEY: "b" * 64})
        stale = _evaluation_of_current_list(instance)
        assert not stale.passed and stale.severity == dg.AssetCheckSeverity.WARN
        assert "materialize model_evaluation again" in stale.description
        assert stale.metadata["evaluated_list_sha256"].value == "a" * 64
        assert stale.metadata["current_list_sha256"].value == "b" * 64
        _record(instance, "model_evaluation", **{EVALUATED_LIST_KEY: "b" * 64})
        assert _evaluation_of_current_list(instance).passed


def test_the_evaluation_names_the_list_its_dataset_came_from():
    """A refresh that read a new list and stopped before cleaned_dataset leaves a dataset of the
    earlier list: an evaluation of it must not claim the new list."""
    from albumrec_pipeline.assets.model import list_behind_the_dataset

    with dg.DagsterInstance.ephemeral() as instance:
        assert list_behind_the_dataset(instance) is None
        _record(instance, "liked_tracks", **{INPUT_FINGERPRINT_KEY: "a" * 64})
        _record(instance, "cleaned_dataset")
        assert list_behind_the_dataset(instance) == "a" * 64
        _record(instance, "liked_tracks", **{INPUT_FINGERPRINT_KEY: "b" * 64})
        assert list_behind_the_dataset(instance) is None
        _record(instance, "cleaned_dataset")
        assert list_behind_the_dataset(instance) == "b" * 64


def test_an_evaluation_that_recorded_no_list_warns():
    with dg.DagsterInstance.ephemeral() as instance:
        _record(instance, "liked_tracks", **{INPUT_FINGERPRINT_KEY: "a" * 64})
        assert not _evaluation_of_current_list(instance).passed  # never evaluated
        _record(instance, "model_evaluation")
        assert not _evaluation_of_current_list(instance).passed
    with dg.DagsterInstance.ephemeral() as instance:
        assert _evaluation_of_current_list(instance).passed  # no list yet: nothing to be stale against


def test_the_stale_evaluation_check_warns_without_blocking_and_follows_the_list(tmp_path):
    from albumrec_pipeline.definitions import build_definitions

    assert not any(spec.blocking for spec in model_evaluation_of_current_list.check_specs)
    (tmp_path / "ab").mkdir()
    (tmp_path / "mb").mkdir()
    defs = build_definitions(tmp_path / "ab", tmp_path / "mb", str(tmp_path / "warehouse"), tmp_path / "scratch")
    check = dg.AssetCheckKey(dg.AssetKey("model_evaluation"), "model_evaluation_of_current_list")

    def requested_checks(tick) -> set[dg.AssetCheckKey]:
        return {result.key for result in tick.results if isinstance(result.key, dg.AssetCheckKey) and result.true_subset.size}

    # The refresh job leaves cross-validation out, so the check runs on the list's updates itself.
    with dg.DagsterInstance.ephemeral() as instance:
        quiet = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert check not in requested_checks(quiet)
        _record(instance, "liked_tracks", **{INPUT_FINGERPRINT_KEY: "b" * 64})
        changed = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=quiet.cursor)
        assert check in requested_checks(changed)
        again = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=changed.cursor)
        assert check not in requested_checks(again)
