"""A run that fails part way never breaks the last good model or ranking.

A first run of recommend_albums leaves a model and a ranking. A second run, on another artist
split (so every table it writes differs), fails at one asset: its step raises before its output
is stored, as a step that fails does. For each asset of the job in turn:

- the last good model loads, and scores rows exactly as before when the failure came before a
  new network was stored (the network carries its own scaler fit, so the newer `feature_scaler`
  a failed run leaves behind does not touch it);
- the ranking on disk is byte for byte the last good one when the failure came at or before it;
- `albumrec top` says whether the ranking is current.
"""

from __future__ import annotations

import shutil

import dagster as dg
import numpy as np
import pytest

from albumrec_pipeline.cli import main
from albumrec_pipeline.definitions import defs as location
from albumrec_pipeline.scoring import load_taste_model
from albumrec_pipeline.storage.freshness import RANKING, RANKING_UPSTREAM
from albumrec_pipeline.storage.parquet_io_manager import ParquetUPathIOManager
from albumrec_pipeline_tests.pipeline_runs import build_small_warehouse, definitions_for, recommend_run_config
from albumrec_pipeline_tests.test_scoring import raw_rows

# A second run's CV stays quick: two folds, the network as configured only.
QUICK_EVALUATION = {"config": {"folds": 2, "include_recording_grouped": False, "include_original_network": False,
                               "network": {"epochs": 10, "ensemble_size": 1, "evaluate_every": 5}}}
JOB_ASSETS = sorted(key.to_user_string() for key in location.resolve_job_def("recommend_albums").asset_layer.selected_asset_keys)
MODEL_UPSTREAM = (
    "liked_tracks", "recording_features", "background_tracks", "raw_track_features", "cleaned_dataset", "feature_scaler", "preference_model",
)


def graph_ancestors(asset: str) -> set[str]:
    selection = dg.AssetSelection.assets(asset).upstream() - dg.AssetSelection.assets(asset)
    return {key.to_user_string() for key in selection.resolve(location.resolve_asset_graph())}


def test_the_ranking_upstream_list_is_the_asset_graphs():
    assert set(RANKING_UPSTREAM) == graph_ancestors(RANKING)
    in_the_job = graph_ancestors("preference_model") & set(JOB_ASSETS)
    assert set(MODEL_UPSTREAM) - {"preference_model"} == in_the_job


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("failed_runs")
    paths, _ = build_small_warehouse(root, model_evaluation=QUICK_EVALUATION)
    warehouse = root / "warehouse"
    files = {path.relative_to(warehouse).as_posix(): path.read_bytes() for path in warehouse.rglob("*") if path.is_file()}
    return root, paths, files, load_taste_model(warehouse).like_probability(raw_rows(12))


def fail_when_storing(monkeypatch, asset: str) -> None:
    """The asset's step raises after computing and before its output is stored."""
    store = ParquetUPathIOManager.dump_to_path

    def dump_to_path(self, context, obj, path):
        if context.asset_key.to_user_string() == asset:
            raise RuntimeError(f"injected fault in {asset}")
        return store(self, context, obj, path)

    monkeypatch.setattr(ParquetUPathIOManager, "dump_to_path", dump_to_path)


@pytest.mark.parametrize("failing", JOB_ASSETS)
def test_a_run_failing_at_any_asset_leaves_the_last_good_model_and_ranking(first_run, tmp_path, monkeypatch, capsys, failing):
    root, paths, first_files, first_scores = first_run
    warehouse = tmp_path / "warehouse"
    shutil.copytree(root / "warehouse", warehouse)
    fail_when_storing(monkeypatch, failing)
    defs = definitions_for(paths, warehouse, tmp_path / "scratch")
    other_split = {"cleaned_dataset": {"config": {"split_salt": "another split"}}, "model_evaluation": QUICK_EVALUATION}
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("recommend_albums").execute_in_process(
            run_config=recommend_run_config(paths.liked_tracks_path, root / "no_feedback.csv", **other_split),
            instance=instance,
            raise_on_error=False,
        )
    assert not result.success
    assert [event.step_key for event in result.get_step_failure_events()] == [failing]

    # The last good model loads; before a new network was stored, it is the first run's and
    # scores as it did, although the failed run may have refitted the scaler.
    scores = load_taste_model(warehouse).like_probability(raw_rows(12))
    model_file = "preference_model/song_pref_model_weights.pth"
    if failing in MODEL_UPSTREAM:
        assert (warehouse / model_file).read_bytes() == first_files[model_file]
        assert np.array_equal(scores, first_scores)
        if failing == "preference_model":
            # The case that broke loading before: a new scaler fit beside the old network.
            assert (warehouse / "feature_scaler.parquet").read_bytes() != first_files["feature_scaler.parquet"]
    else:
        assert (warehouse / model_file).read_bytes() != first_files[model_file]

    ranking_reached = failing not in RANKING_UPSTREAM and failing != RANKING
    ranking = (warehouse / f"{RANKING}.parquet").read_bytes()
    assert (ranking == first_files[f"{RANKING}.parquet"]) is not ranking_reached

    assert main(["top", "--warehouse", str(warehouse)]) == 0
    printed = capsys.readouterr().out
    if ranking_reached:
        assert "This ranking is current" in printed
    elif failing == "liked_tracks":
        # Only the compacted catalog features, which do not depend on the list, were stored again.
        assert "This ranking is NOT current" in printed and "run album_search" in printed
    else:
        assert "This ranking is NOT current" in printed and "materialize refresh_from_liked_list again" in printed


def test_explanations_refuse_a_training_table_the_network_was_not_trained_on(first_run, tmp_path):
    root, paths, _, _ = first_run
    warehouse = tmp_path / "warehouse"
    shutil.copytree(root / "warehouse", warehouse)
    defs = definitions_for(paths, warehouse, tmp_path / "scratch")
    job = defs.resolve_job_def("recommend_albums")
    run_config = recommend_run_config(
        paths.liked_tracks_path, root / "no_feedback.csv", cleaned_dataset={"config": {"split_salt": "another split"}}
    )
    with dg.DagsterInstance.ephemeral() as instance:
        # A new split of the training table, without the network that would go with it ...
        assert job.execute_in_process(
            run_config=run_config, instance=instance, asset_selection=[dg.AssetKey("cleaned_dataset")]
        ).success
        # ... and the explanations of the old network refuse to mix the two.
        result = job.execute_in_process(
            run_config=run_config, instance=instance, asset_selection=[dg.AssetKey("album_explanations")],
            raise_on_error=False,
        )
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error.to_string()
    assert "cleaned_dataset is not the table preference_model was trained on" in failure
    assert "Materialize preference_model" in failure
