"""The whole asset graph on a small demo world, judged against the world's hidden taste."""

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from albumrec_pipeline.core.feature_columns import RAW_TRACK_COLUMNS, encoded_feature_columns
from albumrec_pipeline.definitions import defs
from albumrec_pipeline.demo.world import DemoWorldSpec, build_demo_world, write_demo_world
from albumrec_pipeline.resources.feature_sources import AcousticBrainzDumpSource, MusicBrainzReleaseDump
from albumrec_pipeline.storage.parquet_io_manager import ParquetWarehouse


@pytest.fixture(scope="module")
def materialized(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    world = build_demo_world(DemoWorldSpec.small())
    paths = write_demo_world(world, root)
    warehouse = tmp_path_factory.mktemp("warehouse")
    assets = list(defs.assets)
    result = dg.materialize(
        assets,
        resources={
            "io_manager": ParquetWarehouse(base_path=str(warehouse)),
            "track_features": AcousticBrainzDumpSource(root=str(paths.acousticbrainz_root)),
            "release_catalog": MusicBrainzReleaseDump(releases_path=str(paths.releases_path)),
        },
        run_config=dg.RunConfig(
            {
                "liked_tracks": {"config": {"csv_path": str(paths.liked_tracks_path)}},
                "preference_model": {"config": {"epochs": 300, "evaluate_every": 5}},
            }
        ),
    )
    assert result.success
    tables = {path.stem: pd.read_parquet(path) for path in warehouse.glob("*.parquet")}
    return world, warehouse, tables, result


def test_every_asset_is_written(materialized):
    _, warehouse, tables, _ = materialized
    assert set(tables) == {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert (warehouse / "feature_scaler" / "scaler.joblib").is_file()
    assert (warehouse / "preference_model" / "song_pref_model_weights.pth").is_file()
    assert (warehouse / "weight_reports" / "top_features.parquet").is_file()


def test_schemas(materialized):
    world, _, tables, _ = materialized
    assert list(tables["liked_tracks"].columns) == ["mbid", "liked"]
    assert list(tables["raw_track_features"].columns) == RAW_TRACK_COLUMNS + ["liked"]
    cleaned = tables["cleaned_dataset"]
    assert set(encoded_feature_columns()) <= set(cleaned.columns)
    assert set(cleaned["split"]) == {"train", "validation", "test"}
    # every labelled recording with documents made it through
    with_documents = set(world.lowlevel_documents) & set(world.highlevel_documents)
    assert set(tables["raw_track_features"]["mbid"]) == set(world.liked_tracks["mbid"]) & with_documents
    assert set(tables["album_recommendations"].columns) >= {
        "tracks", "tracks_with_features", "liked_tracks", "liked_share", "mean_score", "recommended"
    }


def test_no_artist_is_in_two_splits(materialized):
    _, _, tables, _ = materialized
    cleaned = tables["cleaned_dataset"]
    by_split = {name: set(part["artist"]) for name, part in cleaned.groupby("split")}
    assert not by_split["train"] & by_split["test"]
    assert not by_split["train"] & by_split["validation"]
    assert not by_split["validation"] & by_split["test"]


def test_scaler_was_fitted_on_training_rows_only(materialized):
    _, _, tables, _ = materialized
    cleaned, scaler = tables["cleaned_dataset"], tables["feature_scaler"].set_index("feature")
    train = cleaned[cleaned["split"] == "train"]
    assert np.isclose(scaler.loc["bpm", "data_max"], train["bpm"].max())
    assert np.isclose(scaler.loc["bpm", "data_min"], train["bpm"].min())


def test_model_beats_chance_on_held_out_artists(materialized):
    _, _, _, result = materialized
    metadata = result.asset_materializations_for_node("preference_model")[0].metadata
    assert metadata["test_roc_auc"].value > 0.65
    assert metadata["test_accuracy"].value > 0.6


def test_recommended_albums_are_liked_more_than_random_albums(materialized):
    world, _, tables, _ = materialized
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
    _, _, tables, _ = materialized
    albums = tables["album_recommendations"]
    recommended = albums[albums["recommended"]]
    assert (recommended["liked_share"] >= 0.6).all()
    assert (recommended["tracks"] >= 5).all()
    assert (albums["tracks_with_features"] <= albums["tracks"]).all()
