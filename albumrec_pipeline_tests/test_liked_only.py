"""Only loves: the mode switch, the catalog background, the calibrated scores, and a whole run."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from albumrec_pipeline.core.catalog import AUDIO_COLUMNS
from albumrec_pipeline.core.feature_columns import LABEL_COLUMN, RAW_TRACK_COLUMNS
from albumrec_pipeline.core.liked_only import (
    BACKGROUND,
    LIKED_ONLY,
    LISTENER,
    ROW_ROLE_COLUMN,
    SUPERVISED,
    DislikeFloor,
    background_sample_sql,
    choose_taste_mode,
    label_frequency,
    liked_probability,
    recall_at_top,
)
from albumrec_pipeline.core.model_artifacts import TrainedPreferenceModel
from albumrec_pipeline_tests.factories import recording_id
from albumrec_pipeline_tests.pipeline_runs import QUICK_TRAINING, definitions_for, ingest_every_partition


def labels(liked: int, disliked: int) -> pd.Series:
    return pd.Series([1] * liked + [0] * disliked)


@pytest.mark.parametrize(
    ("liked", "disliked", "mode"),
    [
        (200, 0, LIKED_ONLY),
        (200, 19, LIKED_ONLY),  # under 20 dislikes
        (100, 20, SUPERVISED),  # 20 dislikes, 16.7% of the list
        (170, 29, LIKED_ONLY),  # 29 dislikes but 14.6% of the list
        (170, 30, SUPERVISED),  # 30 of 200: 15%
    ],
)
def test_the_mode_switches_at_the_floor(liked, disliked, mode):
    chosen = choose_taste_mode(labels(liked, disliked))
    assert chosen.name == mode and (chosen.liked, chosen.disliked) == (liked, disliked)
    assert f"{liked} liked and {disliked} disliked" in chosen.reason


def test_the_mode_can_be_asked_for_and_refuses_what_cannot_be_trained():
    assert choose_taste_mode(labels(100, 60), LIKED_ONLY).name == LIKED_ONLY
    assert choose_taste_mode(labels(100, 3), SUPERVISED).name == SUPERVISED
    assert choose_taste_mode(labels(100, 3), floor=DislikeFloor(min_disliked_rows=2, min_disliked_share=0.0)).name == SUPERVISED
    with pytest.raises(ValueError, match="supervised mode needs disliked tracks"):
        choose_taste_mode(labels(100, 0), SUPERVISED)
    with pytest.raises(ValueError, match="no liked tracks"):
        choose_taste_mode(labels(0, 50))
    with pytest.raises(ValueError, match="unknown taste mode"):
        choose_taste_mode(labels(10, 10), "both")


# --- the background ------------------------------------------------------------------------


def synthetic_catalog() -> dict[str, pd.DataFrame]:
    """Eight artists: a, b (the listener's), c..h, with 1 to 12 recordings each; h's recordings lack
    features; one of c's recordings is a collaboration with the listener's artist a."""
    counts = {"a": 4, "b": 3, "c": 12, "d": 6, "e": 2, "f": 1, "g": 5, "h": 3}
    tracks, number = [], 0
    for artist, count in counts.items():
        for position in range(count):
            tracks.append({
                "release_id": f"release-{artist}", "medium_position": 1, "track_position": position + 1,
                "recording_id": recording_id(number), "recording_title": f"{artist} {position}",
                "recording_artist": f"Artist {artist.upper()}", "recording_artist_ids": f"artist-{artist}",
                "recording_year": 1990 + position,
            })
            number += 1
    collaboration = next(track for track in tracks if track["recording_artist"] == "Artist C")
    collaboration["recording_artist_ids"], collaboration["recording_artist"] = "artist-c;artist-a", "C & A"
    tracks = pd.DataFrame(tracks)
    releases = pd.DataFrame({"release_id": [f"release-{a}" for a in counts], "album_title": [f"Album {a}" for a in counts]})
    with_features = tracks[tracks["recording_artist"] != "Artist H"]["recording_id"]
    features = pd.DataFrame({column: 0.5 for column in AUDIO_COLUMNS if column != "mbid"}, index=range(len(with_features)))
    features.insert(0, "mbid", with_features.to_numpy())
    listener = tracks[tracks["recording_artist_ids"].isin(["artist-a", "artist-b"])]["recording_id"]
    return {"tracks": tracks, "releases": releases, "features": features, "listener": pd.DataFrame({"recording_id": listener})}


def sample(catalog: dict[str, pd.DataFrame], size: int, seed: int) -> pd.DataFrame:
    connection = duckdb.connect()
    try:
        for name, frame in catalog.items():
            connection.register(name, frame)
        query = background_sample_sql("features", "releases", "tracks", "SELECT recording_id FROM listener", size, seed)
        return connection.execute(query).df()
    finally:
        connection.close()


def test_the_background_leaves_out_the_listeners_artists_and_recordings():
    catalog = synthetic_catalog()
    drawn = sample(catalog, size=100, seed=0)
    # Every recording with features by c..g, but the collaboration with the listener's artist a.
    artist_of = dict(zip(catalog["tracks"]["recording_id"], catalog["tracks"]["recording_artist"]))
    assert set(drawn["artist"]) == {"Artist C", "Artist D", "Artist E", "Artist F", "Artist G"}
    assert len(drawn) == 11 + 6 + 2 + 1 + 5
    assert not set(drawn["mbid"]) & set(catalog["listener"]["recording_id"])
    assert "C & A" not in {artist_of[mbid] for mbid in drawn["mbid"]}
    assert list(drawn.columns) == [*RAW_TRACK_COLUMNS, LABEL_COLUMN] and set(drawn[LABEL_COLUMN]) == {0}
    # Year and titles of the recording's appearance, as for the labelled rows.
    first = drawn.iloc[0]
    track = catalog["tracks"].set_index("recording_id").loc[first["mbid"]]
    assert first["release_year"] == track["recording_year"] and first["recording_title"] == track["recording_title"]
    assert first["release_title"] == f"Album {track['recording_artist_ids'].removeprefix('artist-')}"


def test_the_background_is_drawn_by_artist_in_rounds():
    drawn = sample(synthetic_catalog(), size=12, seed=0)
    # Five artists: two full rounds (10), then two of the third; c, with 11, gets no more than the others.
    per_artist = drawn["artist"].value_counts()
    assert len(drawn) == 12 and per_artist.max() <= 3 and per_artist.min() >= 1
    assert sorted(per_artist.to_numpy())[:1] == [1]  # f has one recording


def test_the_background_is_seeded_and_reproducible():
    catalog = synthetic_catalog()
    first, again = sample(catalog, 9, seed=3), sample(catalog, 9, seed=3)
    pd.testing.assert_frame_equal(first, again)
    others = [set(sample(catalog, 9, seed=seed)["mbid"]) for seed in range(4, 10)]
    assert any(drawn != set(first["mbid"]) for drawn in others)


# --- calibrated scores ---------------------------------------------------------------------


def test_the_calibration_reads_more_likely_liked_than_not():
    c = label_frequency(np.array([0.3, 0.5, 0.7]))
    assert c == pytest.approx(0.5)
    # A track scored like the average held-out liked track is liked for certain; the mapping keeps the order.
    g = np.linspace(0.0, 0.99, 100)
    p = liked_probability(g, c)
    assert p[np.searchsorted(g, 0.5)] == pytest.approx(1.0)
    assert np.all(np.diff(p) >= 0) and p[0] == 0.0
    # With c = 0.5, odds g / (1 - g) of 1/2 (g = 1/3) are P = 0.5.
    assert liked_probability(np.array([1 / 3]), 0.5)[0] == pytest.approx(0.5)
    assert label_frequency(np.array([0.999])) == 0.95  # never the degenerate c = 1


def test_recall_at_the_top_of_the_background():
    background = np.arange(1000) / 1000  # its top 1% is above 0.989
    assert recall_at_top(np.array([0.995, 0.999, 0.5, 0.2]), background) == 0.5
    assert np.isnan(recall_at_top(np.array([]), background))


# --- whole runs on the small demo world -------------------------------------------------


@pytest.fixture(scope="module")
def small_world(tmp_path_factory):
    from albumrec_pipeline.demo.world import DemoWorldSpec, build_demo_world, write_demo_world

    root = tmp_path_factory.mktemp("liked_only")
    world = build_demo_world(DemoWorldSpec.small())
    paths = write_demo_world(world, root / "world")
    defs = definitions_for(paths, root / "warehouse", root / "scratch")
    with dg.DagsterInstance.ephemeral() as instance:
        assert all(run.success for run in ingest_every_partition(defs, instance))
    return root, paths, world


def run_list(root: Path, paths, listed: pd.DataFrame, name: str, assets: list[str] | None = None):
    """recommend_albums (or these assets) for `listed`, into a warehouse of its own beside the ingested one."""
    import shutil

    warehouse = root / f"warehouse-{name}"
    shutil.copytree(root / "warehouse", warehouse)
    listed.to_csv(root / f"{name}.csv", index=False)
    defs = definitions_for(paths, warehouse, root / "scratch")
    instance = dg.DagsterInstance.ephemeral()
    result = defs.resolve_job_def("recommend_albums").execute_in_process(
        run_config=dg.RunConfig({
            "liked_tracks": {"config": {"csv_path": str(root / f"{name}.csv"), "feedback_csv_path": str(root / "none.csv")}},
            "preference_model": {"config": {**QUICK_TRAINING, "epochs": 40}},
        }),
        instance=instance,
        asset_selection=None if assets is None else [dg.AssetKey(asset) for asset in assets],
    )
    assert result.success
    return warehouse, instance


def metadata(instance: dg.DagsterInstance, asset: str) -> dict:
    event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    return {key: getattr(value, "value", value) for key, value in event.asset_materialization.metadata.items()}


def test_a_list_of_loves_alone_is_learned_against_the_catalog(small_world):
    root, paths, world = small_world
    loves = world.liked_tracks[world.liked_tracks["liked"] == 1]
    warehouse, instance = run_list(root, paths, loves, "loves", ["liked_tracks", "recording_features", "background_tracks"])
    recorded = metadata(instance, "background_tracks")
    assert recorded["taste_mode"] == LIKED_ONLY and "0 disliked" in recorded["taste_mode_reason"]
    background = pd.read_parquet(warehouse / "background_tracks.parquet")
    assert len(background) == recorded["background_rows"] == min(3 * len(loves), len(background))
    assert len(background) > len(loves)
    assert not set(background["mbid"]) & set(loves["mbid"])
    # The world's disliked tracks are no part of this list: their artists may be in the background.
    listed_artists = set(world.truth.loc[world.truth["recording_id"].isin(loves["mbid"]), "artist"])
    assert background["artist"].nunique() > 3 and not set(background["artist"]) & listed_artists


def test_a_few_dislikes_are_used_beside_the_background(small_world):
    root, paths, world = small_world
    listed = world.liked_tracks
    few = pd.concat([listed[listed["liked"] == 1], listed[listed["liked"] == 0].head(5)], ignore_index=True)
    warehouse, instance = run_list(root, paths, few, "few-dislikes")
    assert metadata(instance, "background_tracks")["taste_mode"] == LIKED_ONLY
    dataset = pd.read_parquet(warehouse / "cleaned_dataset.parquet")
    listener = dataset[dataset[ROW_ROLE_COLUMN] == LISTENER]
    background = dataset[dataset[ROW_ROLE_COLUMN] == BACKGROUND]
    disliked = set(few.loc[few["liked"] == 0, "mbid"])
    # The dislikes that have features are training rows with label 0, as the background is.
    kept = set(listener.loc[listener[LABEL_COLUMN] == 0, "mbid"])
    assert kept and kept <= disliked and len(kept) >= len(disliked) - 1
    assert set(background[LABEL_COLUMN]) == {0} and len(background) > len(listener)
    # Background artists are none of the listener's, and the split keeps each artist whole.
    assert not set(background["artist"]) & set(listener["artist"])
    assert (dataset.groupby("artist")["split"].nunique() == 1).all()
    # The model records its calibration, and its scores read as probabilities of being liked.
    model = metadata(instance, "preference_model")
    assert model["taste_mode"] == LIKED_ONLY and 0.05 <= model["liked_only_calibration"] <= 0.95
    assert 0.0 <= model["test_recall_at_top_1pct"] <= 1.0
    from albumrec_pipeline.scoring import load_taste_model

    loaded = load_taste_model(warehouse)
    assert isinstance(loaded.model, TrainedPreferenceModel)
    assert loaded.model.liked_only_calibration == pytest.approx(model["liked_only_calibration"], abs=1e-3)
    ranking = pd.read_parquet(warehouse / "album_recommendations.parquet")
    assert len(ranking) > 0
