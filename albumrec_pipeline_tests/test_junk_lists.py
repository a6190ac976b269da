"""A list that cannot teach a taste never publishes a ranking.

After a good run on a small demo world, lists a new listener could well give stop at the
blocking check on `raw_track_features`: a few dozen tracks from a handful of artists, plenty of
tracks from three artists a side, a huge list of which almost nothing is in the catalog, and a
list of which nothing is. Nothing is trained,
the last good model and ranking stay byte for byte, and the check says what to do.
"""

from __future__ import annotations

import shutil
import uuid

import dagster as dg
import pandas as pd
import pytest

from albumrec_pipeline.core.learnability import LearnabilityFloors, learnability
from albumrec_pipeline.storage.freshness import CATALOG_TABLES, RANKING, RANKING_UPSTREAM
from albumrec_pipeline_tests.pipeline_runs import build_small_warehouse, definitions_for, recommend_run_config

KEPT_FILES = ("preference_model.parquet", "preference_model/song_pref_model_weights.pth", f"{RANKING}.parquet")


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("junk_lists")
    ranking_path = tuple(asset for asset in RANKING_UPSTREAM if asset not in CATALOG_TABLES)
    paths, _ = build_small_warehouse(root, (*ranking_path, RANKING))
    trained_on = pd.read_parquet(root / "warehouse" / "raw_track_features.parquet").drop_duplicates("mbid")
    return root, paths, trained_on


def _write_list(path, mbids, labels) -> None:
    pd.DataFrame({"mbid": list(mbids), "liked": list(labels)}).to_csv(path, index=False)


def _few_artists(trained_on: pd.DataFrame, path) -> None:
    liked = trained_on[trained_on["liked"] == 1]
    disliked = trained_on[trained_on["liked"] == 0]
    artists = [*liked["artist"].drop_duplicates()[:5], *disliked["artist"].drop_duplicates()[:4]]
    chosen = trained_on[trained_on["artist"].isin(artists)].head(52)
    _write_list(path, chosen["mbid"], chosen["liked"])


def _three_artists_a_side(trained_on: pd.DataFrame, path) -> None:
    per_label = []
    for label in (0, 1):
        side = trained_on[trained_on["liked"] == label]
        per_label.append(side[side["artist"].isin(side["artist"].drop_duplicates()[:3])])
    chosen = pd.concat(per_label).drop_duplicates("mbid")
    assert len(chosen) >= 60  # enough recordings: only the artists are too few
    _write_list(path, chosen["mbid"], chosen["liked"])


def _mostly_unknown(trained_on: pd.DataFrame, path) -> None:
    known = trained_on.head(50)
    unknown = [str(uuid.UUID(int=index + 1, version=4)) for index in range(50_000)]
    _write_list(path, [*known["mbid"], *unknown], [*known["liked"], *([0, 1] * 25_000)])


def _none_known(trained_on: pd.DataFrame, path) -> None:
    _write_list(path, [str(uuid.UUID(int=10**9 + index, version=4)) for index in range(200)], [0, 1] * 100)


JUNK_LISTS = {
    "52 tracks from 9 artists": (_few_artists, ["add liked and disliked tracks from more artists", "52 of your 52"]),
    "tracks of 3 artists a side": (_three_artists_a_side, ["add tracks by more artists (at least 5 on each side)"]),
    "50,050 ids, 50 in the catalog": (_mostly_unknown, ["50 of your 50,050 recordings have AcousticBrainz features"]),
    "200 ids, none in the catalog": (_none_known, ["0 of your 200 recordings have AcousticBrainz features"]),
}


@pytest.mark.parametrize("junk", list(JUNK_LISTS))
def test_a_list_that_cannot_teach_a_taste_publishes_nothing(good_run, tmp_path, junk):
    root, paths, trained_on = good_run
    warehouse = tmp_path / "warehouse"
    shutil.copytree(root / "warehouse", warehouse)
    before = {name: (warehouse / name).read_bytes() for name in KEPT_FILES}
    write, advice = JUNK_LISTS[junk]
    junk_list = tmp_path / "junk.csv"
    write(trained_on, junk_list)

    defs = definitions_for(paths, warehouse, tmp_path / "scratch")
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("refresh_from_liked_list").execute_in_process(
            run_config=recommend_run_config(junk_list, tmp_path / "no_feedback.csv"), instance=instance, raise_on_error=False
        )
    assert not result.success
    # What stopped the run is the blocking check, not a crash of some step downstream.
    (failure,) = result.get_step_failure_events()
    assert "blocking asset check failed" in failure.step_failure_data.error.to_string()
    assert "raw_track_features_enough_to_learn" in failure.step_failure_data.error.to_string()
    (evaluation,) = [
        check for check in result.get_asset_check_evaluations() if check.check_name == "raw_track_features_enough_to_learn"
    ]
    assert not evaluation.passed
    for words in advice:
        assert words in evaluation.description
    materialized = {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}
    assert {"liked_tracks", "raw_track_features"} <= materialized
    # Nothing learned from it, nothing ranked by it (the candidate tables depend on the list alone).
    assert materialized.isdisjoint(
        {"cleaned_dataset", "feature_scaler", "preference_model", "track_scores", RANKING, "album_explanations",
         "album_playlist"}
    )
    # The last good model and ranking are where they were, byte for byte.
    assert {name: (warehouse / name).read_bytes() for name in KEPT_FILES} == before


def test_the_good_list_passes_the_floors(good_run):
    _, paths, trained_on = good_run
    listed = pd.read_csv(paths.liked_tracks_path)
    judged = learnability(listed, trained_on, LearnabilityFloors())
    assert judged.problems == () and judged.found >= 60 and min(judged.liked_artists, judged.disliked_artists) >= 5


def test_the_floors_are_the_checks_config():
    judged = learnability(
        pd.DataFrame({"mbid": ["a", "b", "c"], "liked": [1, 0, 1]}),
        pd.DataFrame({"mbid": ["a", "b"], "artist": ["x", "y"], "liked": [1, 0]}),
        LearnabilityFloors(min_recordings=2, min_artists_per_label=1, min_found_share=0.6),
    )
    assert judged.problems == () and judged.found_share == pytest.approx(2 / 3)
    stricter = learnability(
        pd.DataFrame({"mbid": ["a", "b", "c"], "liked": [1, 0, 1]}),
        pd.DataFrame({"mbid": ["a", "b"], "artist": ["x", "y"], "liked": [1, 0]}),
        LearnabilityFloors(min_recordings=3, min_artists_per_label=2, min_found_share=0.7),
    )
    assert len(stricter.problems) == 3
