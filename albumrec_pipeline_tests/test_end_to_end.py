"""The whole asset graph on a small demo world, judged against the world's hidden taste.

The world is written as dump archives; every archive is ingested as its own partition run,
then `recommend_albums` materializes the rest, as `albumrec materialize` does.
"""

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from upath import UPath

from albumrec_pipeline.cli import record_feedback_text
from albumrec_pipeline.core.feature_columns import RAW_TRACK_COLUMNS, encoded_feature_columns
from albumrec_pipeline.core.feedback import read_feedback
from albumrec_pipeline.core.model_artifacts import FittedScaler
from albumrec_pipeline.demo.world import DemoWorldSpec, build_demo_world, write_demo_world
from albumrec_pipeline.storage.artifacts import load_artifact
from albumrec_pipeline_tests.pipeline_runs import definitions_for, ingest_every_partition, warehouse_tables


SEARCH_DAYS = ("2026-11-24", "2026-11-25")


@pytest.fixture(scope="module")
def materialized(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    world = build_demo_world(DemoWorldSpec.small())
    paths = write_demo_world(world, root)
    warehouse = tmp_path_factory.mktemp("warehouse")
    defs = definitions_for(paths, warehouse, tmp_path_factory.mktemp("scratch"))
    instance = dg.DagsterInstance.ephemeral()
    ingested = ingest_every_partition(defs, instance)
    assert ingested and all(run.success for run in ingested)
    feedback = root / "feedback.csv"  # absent: no feedback yet
    ops = {
        "liked_tracks": {"config": {"csv_path": str(paths.liked_tracks_path), "feedback_csv_path": str(feedback)}},
        "preference_model": {"config": {"epochs": 300, "evaluate_every": 5}},
    }
    # Cross-validation is judged by its own tests; here it only has to run, so keep it light.
    ops["model_evaluation"] = {
        "config": {"folds": 2, "include_recording_grouped": False, "include_original_network": False}
    }
    result = defs.resolve_job_def("recommend_albums").execute_in_process(
        run_config=dg.RunConfig(ops), instance=instance
    )
    assert result.success
    # Two days of the scheduled search on the same model and catalog: the second day repeats the first.
    search = defs.resolve_job_def("album_search")
    for day in SEARCH_DAYS:
        assert search.execute_in_process(partition_key=day, instance=instance).success
    return world, warehouse, warehouse_tables(warehouse), result, defs


def test_every_asset_is_written(materialized):
    _, warehouse, tables, _, defs = materialized
    assert set(tables) == {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert (warehouse / "feature_scaler" / "scaler.joblib").is_file()
    assert (warehouse / "preference_model" / "song_pref_model_weights.pth").is_file()
    assert (warehouse / "weight_reports" / "top_features.parquet").is_file()


def test_schemas(materialized):
    world, _, tables, _, _ = materialized
    assert list(tables["liked_tracks"].columns) == ["mbid", "liked"]
    assert list(tables["raw_track_features"].columns) == RAW_TRACK_COLUMNS + ["musicbrainz_tags", "liked"]
    cleaned = tables["cleaned_dataset"]
    assert set(encoded_feature_columns()) <= set(cleaned.columns)
    assert set(cleaned["split"]) == {"train", "validation", "test"}
    # every labelled recording with documents made it through
    with_documents = set(world.lowlevel_documents) & set(world.highlevel_documents)
    assert set(tables["raw_track_features"]["mbid"]) == set(world.liked_tracks["mbid"]) & with_documents
    assert set(tables["album_recommendations"].columns) >= {
        "tracks", "tracks_with_features", "predicted_liked_tracks", "predicted_liked_share", "mean_score", "recommended"
    }


def test_no_artist_is_in_two_splits(materialized):
    _, _, tables, _, _ = materialized
    cleaned = tables["cleaned_dataset"]
    by_split = {name: set(part["artist"]) for name, part in cleaned.groupby("split")}
    assert not by_split["train"] & by_split["test"]
    assert not by_split["train"] & by_split["validation"]
    assert not by_split["validation"] & by_split["test"]


def test_scaler_was_fitted_on_training_rows_only(materialized):
    _, warehouse, tables, _, _ = materialized
    scaler = load_artifact(FittedScaler, UPath(warehouse) / "feature_scaler.parquet")
    columns = scaler.feature_columns
    cleaned = tables["cleaned_dataset"]
    usable = cleaned[cleaned[columns].notna().all(axis=1)]
    train = usable.loc[usable["split"] == "train", columns].to_numpy("float64")
    every_split = usable[columns].to_numpy("float64")
    assert 0 < len(train) < len(every_split)

    # The statistics the table lists, for every feature, are the training rows'.
    listed = tables["feature_scaler"].set_index("feature").loc[columns]
    np.testing.assert_array_equal(listed["data_min"], train.min(axis=0))
    np.testing.assert_array_equal(listed["data_max"], train.max(axis=0))
    np.testing.assert_allclose(listed["data_mean"], train.mean(axis=0), rtol=1e-12)

    # The transformation itself (the default piecewise encoding in 4 bins): each feature's bin
    # edges are the quartiles of its training values.
    assert scaler.method == "piecewise:4"
    quartiles = np.linspace(0, 1, 5)
    train_edges = [np.unique(np.quantile(train[:, index], quartiles)) for index in range(len(columns))]
    for column, fitted_edges, expected in zip(columns, scaler.transformer.edges_, train_edges, strict=True):
        np.testing.assert_array_equal(fitted_edges, expected, err_msg=column)
    # Fitted on the validation and test rows too, the edges would differ: the comparison can tell.
    every_split_edges = [np.unique(np.quantile(every_split[:, index], quartiles)) for index in range(len(columns))]
    assert any(
        not np.array_equal(ours, theirs) for ours, theirs in zip(train_edges, every_split_edges, strict=True)
    )


def test_model_beats_chance_on_held_out_artists(materialized):
    _, _, _, result, _ = materialized
    metadata = result.asset_materializations_for_node("preference_model")[0].metadata
    assert metadata["test_roc_auc"].value > 0.65
    assert metadata["test_accuracy"].value > 0.6


def test_recommended_albums_are_liked_more_than_random_albums(materialized):
    world, _, tables, _, _ = materialized
    albums = tables["album_recommendations"]
    truth = world.truth.set_index("recording_id")["true_like_probability"]
    tracks = tables["candidate_albums"].assign(truth=lambda t: t["recording_id"].map(truth))
    true_share = tracks.groupby("release_id")["truth"].mean()
    top = albums.head(10)["release_id"]
    assert albums["rank"].tolist() == list(range(1, len(albums) + 1))
    assert true_share[top].mean() > true_share.mean() + 0.1
    recommended = albums.loc[albums["recommended"], "release_id"]
    assert len(recommended) > 0
    assert true_share[recommended].mean() > true_share.mean()


def test_recommendations_respect_the_thresholds(materialized):
    _, _, tables, _, _ = materialized
    albums = tables["album_recommendations"]
    recommended = albums[albums["recommended"]]
    assert (recommended["predicted_liked_share"] >= 0.6).all()
    assert (recommended["tracks"] >= 5).all()
    assert (albums["tracks_with_features"] <= albums["tracks"]).all()


def test_every_archive_is_a_partition(materialized):
    world, warehouse, tables, _, defs = materialized
    partitions = defs.resolve_job_def("ingest_acousticbrainz").partitions_def.get_partition_keys()
    assert len(partitions) == 2 * world.spec.archives_per_kind + 3  # JSON dumps of both kinds, three CSV dumps
    for table in ("acousticbrainz_lowlevel", "acousticbrainz_highlevel"):
        assert sorted(path.stem for path in (warehouse / table).glob("*.parquet")) == sorted(partitions)
    assert [path.name for path in (warehouse / "musicbrainz_tracks").glob("*.parquet")] == ["release.parquet"]
    highlevel = tables["acousticbrainz_highlevel"]
    assert set(highlevel["mbid"]) == set(world.highlevel_documents)


def test_the_first_submission_is_used(materialized):
    world, _, tables, _, _ = materialized
    resubmitted = set(world.resubmissions["lowlevel"])
    assert resubmitted, "the demo world should hold second submissions"
    rows = tables["raw_track_features"].set_index("mbid")
    checked = 0
    for mbid in resubmitted & set(rows.index):
        assert rows.loc[mbid, "bpm"] == world.lowlevel_documents[mbid]["rhythm"]["bpm"]
        assert rows.loc[mbid, "bpm"] != world.resubmissions["lowlevel"][mbid]["rhythm"]["bpm"]
        checked += 1
    candidates = tables["candidate_track_features"].set_index("mbid")
    for mbid in resubmitted & set(candidates.index):
        assert candidates.loc[mbid, "bpm"] == world.lowlevel_documents[mbid]["rhythm"]["bpm"]
        checked += 1
    assert checked > 0


def test_one_entry_per_album_not_per_reissue(materialized):
    world, _, tables, _, _ = materialized
    albums = tables["album_recommendations"]
    assert albums["release_group_id"].is_unique
    groups = {}
    for release in world.releases:
        groups.setdefault(release["release-group"]["id"], []).append(release)
    reissued = {group: releases for group, releases in groups.items() if len(releases) > 1}
    assert reissued, "the demo world should hold reissues"
    by_group = albums.set_index("release_group_id")
    for group, releases in reissued.items():
        if group in by_group.index:
            original = min(releases, key=lambda release: release["date"])
            assert by_group.loc[group, "release_id"] == original["id"]
            assert by_group.loc[group, "releases_in_group"] == len(releases)


def test_model_evaluation_compares_the_network_with_both_baselines(materialized):
    _, _, tables, *_ = materialized
    summary = tables["model_evaluation"]
    assert {"network", "logistic_regression", "hist_gradient_boosting"} <= set(summary["model"])
    artist = summary[summary["grouping"] == "artist"].set_index("model")
    assert artist.loc["network", "roc_auc"] > 0.65


def test_recommended_albums_are_explained(materialized):
    _, _, tables, *_ = materialized
    explanations, albums = tables["album_explanations"], tables["album_recommendations"]
    assert len(explanations) > 0
    assert set(explanations["release_id"]) <= set(albums.loc[albums["recommended"], "release_id"])
    assert explanations["sounds_like"].str.contains(" - ").all()
    assert (explanations["lifted_by"].str.len() > 0).mean() > 0.8


def test_every_check_passed(materialized):
    *_, result, _ = materialized
    evaluations = result.get_asset_check_evaluations()
    assert {evaluation.check_name for evaluation in evaluations} >= {
        "liked_tracks_well_formed",
        "cleaned_dataset_complete",
        "cleaned_dataset_artists_split_apart",
        "album_recommendations_respect_thresholds",
        "album_recommendations_not_empty",
    }
    failed = [evaluation.check_name for evaluation in evaluations if not evaluation.passed]
    # The accuracy floor and class balance only warn; on this small world they may or may not.
    assert set(failed) <= {"preference_model_accuracy_floor", "liked_tracks_class_balance"}


def test_each_search_day_is_a_partition_and_repeats_are_not_new(materialized):
    _, warehouse, tables, _, _ = materialized
    first, second = (pd.read_parquet(warehouse / "recommendation_history" / f"{day}.parquet") for day in SEARCH_DAYS)
    recommended = tables["album_recommendations"]
    assert len(first) == int(recommended["recommended"].sum()) > 0
    assert first["is_new"].all() and (first["first_recommended_on"] == SEARCH_DAYS[0]).all()
    assert not second["is_new"].any()
    assert (second["first_recommended_on"] == SEARCH_DAYS[0]).all()
    assert (second["times_recommended_before"] == 1).all()
    assert set(second["album_id"]) == set(first["album_id"])


def test_feedback_teaches_the_next_model(materialized, tmp_path):
    """Mark the top album disliked, run what the liked-list sensor runs, and the next model trains on
    the album's tracks with that label; the album is no longer a candidate. Last in this module:
    it rewrites the shared warehouse."""
    _, warehouse, tables, _, defs = materialized
    ranking = tables["album_recommendations"]
    top = ranking[ranking["recommended"]].sort_values("rank").iloc[0]
    liked_list, feedback = tmp_path / "liked.csv", tmp_path / "feedback.csv"
    tables["liked_tracks"].to_csv(liked_list, index=False)
    message = record_feedback_text(UPath(warehouse), feedback, top["release_group_id"], liked=False)
    assert "disliked" in message
    marked = set(read_feedback(feedback)["mbid"])
    assert marked and not marked & set(tables["liked_tracks"]["mbid"])

    ops = {
        "liked_tracks": {"config": {"csv_path": str(liked_list), "feedback_csv_path": str(feedback)}},
        "preference_model": {"config": {"epochs": 300, "evaluate_every": 5}},
    }
    result = defs.resolve_job_def("refresh_from_liked_list").execute_in_process(
        run_config=dg.RunConfig(ops), instance=dg.DagsterInstance.ephemeral()
    )
    assert result.success
    after = warehouse_tables(warehouse)
    relabelled = after["liked_tracks"].set_index("mbid")["liked"]
    assert (relabelled.loc[sorted(marked)] == 0).all()
    trained_on = after["cleaned_dataset"]
    learned = trained_on[trained_on["mbid"].isin(marked)]
    assert not learned.empty and (learned["liked"] == 0).all()
    assert top["release_group_id"] not in set(after["album_recommendations"]["release_group_id"])
