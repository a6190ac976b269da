"""A list that passes the size floors but teaches a junk model never replaces the last good one.

The verdict (`core.model_guard.judge_model`) is tested on made-up probabilities: a model worse
than guessing, one far behind logistic regression, a good one, and a test split too small to
judge. Then the pipeline: after a good run on the small demo world, a list whose labels teach
nothing about the held-out artists is refused at `preference_model`, in the listener's words;
the last good model and ranking stay byte for byte, and `albumrec top` says that the latest
attempt to train was refused and the ranking shown is from the previous model.

Random labels do not reliably make a junk model here: on the small world's four to nine test
artists (about 90 tracks), a network trained on coin-flip labels scores a test ROC-AUC above
0.55 in about one run in four, by luck alone. So the junk list is built to be genuinely bad
instead: it holds the good list's recordings, and of each artist's tracks it likes the longer
half, except for the test artists, of whom it likes the shorter half. Every artist keeps the
same number of liked tracks either way, so the artist split (stratified by each artist's
majority label) is the same as for the unflipped labels, and the network learns a rule on
the training artists that is reversed on the test artists (test ROC-AUC about 0.15-0.2).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from upath import UPath

from albumrec_pipeline.cli import main
from albumrec_pipeline.core.dataset import clean_dataset
from albumrec_pipeline.core.model_guard import GuardFloors, auc_difference_spread, judge_model
from albumrec_pipeline.demo.__main__ import main as write_demo_world
from albumrec_pipeline.instance_config import write_instance_config
from albumrec_pipeline.storage.freshness import CATALOG_TABLES, RANKING, RANKING_UPSTREAM, REFUSAL_FILE, ranking_status
from albumrec_pipeline_tests.pipeline_runs import build_small_warehouse, definitions_for, recommend_run_config

KEPT_FILES = ("preference_model.parquet", "preference_model/song_pref_model_weights.pth", f"{RANKING}.parquet")
REFUSED = "Your taste model does no better than guessing on artists it has not seen"
ALBUMREC = Path(sys.executable).with_name("albumrec")


# ---- the verdict -----------------------------------------------------------------------------


def _split(artists: int, tracks: int, signal: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of `artists` artists with `tracks` tracks each: 4 features, the first of which predicts
    the label with strength `signal`; labels are mixed within each artist."""
    generator = np.random.default_rng(seed)
    inputs = generator.normal(size=(artists * tracks, 4))
    labels = (signal * inputs[:, 0] + generator.normal(size=len(inputs)) > 0).astype("int64")
    names = np.repeat([f"artist {index}" for index in range(artists)], tracks)
    return inputs, labels, names


@pytest.fixture(scope="module")
def learnable():
    train_inputs, train_labels, _ = _split(40, 10, 2.0, seed=1)
    test_inputs, test_labels, test_artists = _split(12, 10, 2.0, seed=2)
    return train_inputs, train_labels, test_inputs, test_labels, test_artists


def _judge(learnable, probabilities, floors=None):
    train_inputs, train_labels, test_inputs, test_labels, test_artists = learnable
    return judge_model(
        probabilities, test_labels, test_artists, train_inputs, train_labels, test_inputs, floors or GuardFloors()
    )


def test_a_model_worse_than_guessing_is_refused_in_the_listeners_words(learnable):
    _, _, test_inputs, _, _ = learnable
    verdict = _judge(learnable, 1 / (1 + np.exp(2 * test_inputs[:, 0])))  # the rule learned backwards
    assert not verdict.passed and verdict.judged
    assert verdict.model_roc_auc < 0.3 and verdict.logistic_regression_roc_auc > 0.8
    assert verdict.message.startswith(f"{REFUSED} (ROC-AUC {verdict.model_roc_auc:.2f} on 12 held-out artists")
    assert f"logistic regression {verdict.logistic_regression_roc_auc:.2f}" in verdict.message
    assert "Add liked and disliked tracks from more artists" in verdict.message
    assert "your previous model and ranking, if you have them, stay in place" in verdict.message
    figures = verdict.metadata()
    assert figures["guard_passed"] is False and figures["guard_constant_roc_auc"] == 0.5
    assert figures["guard_test_rows"] == 120 and figures["guard_test_artists"] == 12


def test_a_model_at_the_floor_is_no_better_than_guessing(learnable):
    _, _, _, test_labels, _ = learnable
    constant = _judge(learnable, np.full(len(test_labels), 0.7))
    assert constant.model_roc_auc == 0.5 and not constant.passed and REFUSED in constant.message


def test_a_model_far_behind_logistic_regression_is_refused(learnable):
    _, _, test_inputs, _, _ = learnable
    weak = 0.5 * test_inputs[:, 0] + np.random.default_rng(3).normal(size=len(test_inputs))
    verdict = _judge(learnable, 1 / (1 + np.exp(-weak)))
    assert 0.55 < verdict.model_roc_auc < verdict.logistic_regression_roc_auc - verdict.allowed_gap
    assert not verdict.passed
    assert "clearly worse than a simple logistic regression" in verdict.message
    assert f"it may trail by {verdict.allowed_gap:.2f} at most" in verdict.message
    # The allowed gap is the measured spread (two bootstrap standard errors) unless set.
    assert verdict.allowed_gap == pytest.approx(2 * verdict.gap_spread)
    lenient = _judge(learnable, 1 / (1 + np.exp(-weak)), GuardFloors(max_auc_behind_logistic_regression=0.5))
    assert lenient.passed and lenient.allowed_gap == 0.5


def test_a_good_model_passes_with_its_figures(learnable):
    _, _, test_inputs, _, _ = learnable
    noisy = 2 * test_inputs[:, 0] + 0.3 * np.random.default_rng(4).normal(size=len(test_inputs))
    verdict = _judge(learnable, 1 / (1 + np.exp(-noisy)))
    assert verdict.passed and verdict.judged and verdict.message is None and verdict.problems == ()
    assert verdict.model_roc_auc > 0.8 and verdict.gap_spread > 0
    figures = verdict.metadata()
    assert set(figures) == {
        "guard_passed", "guard_judged", "guard_model_roc_auc", "guard_logistic_regression_roc_auc",
        "guard_constant_roc_auc", "guard_allowed_gap", "guard_gap_spread", "guard_test_rows", "guard_test_artists",
        "guard_test_liked_artists", "guard_test_disliked_artists",
    }


def test_a_test_split_too_small_to_judge_is_said_and_refused(learnable):
    train_inputs, train_labels, _, _, _ = learnable
    # Two held-out artists, each of a single label: a perfect score that says nothing.
    test_inputs = np.random.default_rng(5).normal(size=(12, 4))
    test_labels = np.array([1] * 6 + [0] * 6)
    artists = np.array(["liked artist"] * 6 + ["disliked artist"] * 6)
    verdict = judge_model(test_labels * 0.8 + 0.1, test_labels, artists, train_inputs, train_labels, test_inputs)
    assert verdict.model_roc_auc == 1.0
    assert not verdict.judged and not verdict.passed
    assert verdict.message.startswith("Your taste model cannot be judged: the artists it has not seen are too few")
    assert "(1 among your liked tracks and 1 among your disliked ones" in verdict.message
    assert "at least 2 of each are needed" in verdict.message
    assert verdict.metadata()["guard_judged"] is False
    # The floor is config: with one artist a side allowed, the same model is judged (and passes).
    assert judge_model(
        test_labels * 0.8 + 0.1, test_labels, artists, train_inputs, train_labels, test_inputs,
        GuardFloors(min_test_artists_per_label=1),
    ).judged


def test_the_spread_resamples_artists_not_rows():
    generator = np.random.default_rng(6)
    labels = np.tile([0, 1], 60)
    model = labels + generator.normal(size=120)
    baseline = labels + generator.normal(size=120)
    # Each artist's tracks move together: the model is right or wrong about an artist as a whole.
    by_artist = np.repeat(np.arange(6), 20)
    artist_effect = np.repeat(generator.normal(scale=2, size=6), 20)
    model_grouped = model + artist_effect * (labels * 2 - 1)
    few_artists = auc_difference_spread(labels, model_grouped, baseline, by_artist, 400, 0)
    every_row_an_artist = auc_difference_spread(labels, model_grouped, baseline, np.arange(120), 400, 0)
    assert few_artists > 1.5 * every_row_an_artist


# ---- the pipeline ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("model_guard")
    ranking_path = tuple(asset for asset in RANKING_UPSTREAM if asset not in CATALOG_TABLES)
    paths, _ = build_small_warehouse(root, (*ranking_path, RANKING))
    trained_on = pd.read_parquet(root / "warehouse" / "raw_track_features.parquet").drop_duplicates("mbid")
    return root, paths, trained_on


def _longer_half_liked(tracks: pd.DataFrame, reversed_for: set[str]) -> pd.Series:
    """Of each artist's tracks, the longer half liked; the shorter half for the artists in
    `reversed_for`. Either way an artist has len // 2 liked tracks."""
    liked = pd.Series(0, index=tracks.index)
    for artist, rows in tracks.groupby("artist"):
        order = rows["duration"].rank(method="first", ascending=artist in reversed_for)
        liked[rows.index] = (order > len(rows) - len(rows) // 2).astype("int64")
    return liked


def write_junk_list(trained_on: pd.DataFrame, path) -> set[str]:
    """The list described in the module docstring; returns the test artists it reverses."""
    kept = trained_on[trained_on["mbid"].isin(clean_dataset(trained_on)[0]["mbid"])]
    unflipped = kept.assign(liked=_longer_half_liked(kept, set()))
    split = clean_dataset(unflipped)[0]
    test_artists = set(split.loc[split["split"] == "test", "artist"])
    junk = kept.assign(liked=_longer_half_liked(kept, test_artists))
    # The flip leaves the artist split as it was.
    assert clean_dataset(junk)[0]["split"].tolist() == split["split"].tolist()
    junk[["mbid", "liked"]].to_csv(path, index=False)
    return test_artists


def _run(paths, warehouse, scratch, liked_list, feedback, instance, **ops):
    defs = definitions_for(paths, warehouse, scratch)
    return defs.resolve_job_def("refresh_from_liked_list").execute_in_process(
        run_config=recommend_run_config(liked_list, feedback, **ops), instance=instance, raise_on_error=False
    )


def _check(result, name):
    (evaluation,) = [check for check in result.get_asset_check_evaluations() if check.check_name == name]
    return evaluation


def test_a_junk_model_is_refused_and_the_last_good_model_and_ranking_stay(good_run, tmp_path, capsys):
    root, paths, trained_on = good_run
    warehouse = tmp_path / "warehouse"
    shutil.copytree(root / "warehouse", warehouse)
    junk_list = tmp_path / "junk.csv"
    write_junk_list(trained_on, junk_list)
    feedback = tmp_path / "no_feedback.csv"

    with dg.DagsterInstance.ephemeral() as instance:
        # A good run: the guard passes, and its figures are on the model and its check.
        good = _run(paths, warehouse, tmp_path / "scratch", paths.liked_tracks_path, feedback, instance)
        assert good.success
        figures = good.asset_materializations_for_node("preference_model")[0].metadata
        assert figures["guard_passed"].value is True
        assert figures["guard_model_roc_auc"].value > 0.55
        assert figures["guard_logistic_regression_roc_auc"].value is not None
        assert figures["guard_constant_roc_auc"].value == 0.5
        check = _check(good, "preference_model_beats_baselines")
        assert check.passed and check.metadata["model_roc_auc"].value == figures["guard_model_roc_auc"].value
        before = _kept(warehouse)
        assert "This ranking is current" in _top(warehouse, capsys)

        # The junk list passes the size floors, trains, and is refused before anything is stored.
        junk = _run(paths, warehouse, tmp_path / "scratch", junk_list, feedback, instance)
    assert not junk.success
    assert _check(junk, "raw_track_features_enough_to_learn").passed
    (failure,) = junk.get_step_failure_events()
    assert failure.step_key == "preference_model"
    refused = failure.step_failure_data.user_failure_data
    assert refused.description.startswith(REFUSED)
    assert "Add liked and disliked tracks from more artists" in refused.description
    assert refused.metadata["guard_model_roc_auc"].value <= 0.55
    assert refused.metadata["guard_passed"].value is False and refused.metadata["guard_test_artists"].value >= 2
    materialized = {event.asset_key.to_user_string() for event in junk.get_asset_materialization_events()}
    assert {"liked_tracks", "raw_track_features", "cleaned_dataset", "feature_scaler"} <= materialized
    assert materialized.isdisjoint({"preference_model", "track_scores", RANKING, "album_explanations", "album_playlist"})
    # The last good model and ranking, byte for byte and untouched.
    assert _kept(warehouse) == before

    # albumrec top shows the previous ranking and says why it is not of the new list.
    printed = _top(warehouse, capsys)
    assert "This ranking is NOT current" in printed
    assert "the latest attempt to train a model" in printed
    assert "was refused, and this ranking is from the previous model" in printed
    assert refused.description in printed
    status = ranking_status(UPath(warehouse))
    assert status is not None and status.refused is not None and status.model_behind_inputs


def _kept(warehouse) -> dict[str, tuple[bytes, int]]:
    return {name: ((warehouse / name).read_bytes(), (warehouse / name).stat().st_mtime_ns) for name in KEPT_FILES}


def _top(warehouse, capsys) -> str:
    assert main(["top", "--warehouse", str(warehouse)]) == 0
    return capsys.readouterr().out


def test_with_the_guard_disabled_a_junk_model_is_stored_and_its_check_warns(good_run, tmp_path):
    root, paths, trained_on = good_run
    warehouse = tmp_path / "warehouse"
    shutil.copytree(root / "warehouse", warehouse)
    junk_list = tmp_path / "junk.csv"
    write_junk_list(trained_on, junk_list)
    training = {"config": {"epochs": 10, "ensemble_size": 1, "evaluate_every": 5, "guard": {"enabled": False}}}
    with dg.DagsterInstance.ephemeral() as instance:
        result = _run(paths, warehouse, tmp_path / "scratch", junk_list, tmp_path / "none.csv", instance,
                      preference_model=training)
    assert result.success
    figures = result.asset_materializations_for_node("preference_model")[0].metadata
    assert figures["guard_passed"].value is False and figures["guard_enabled"].value is False
    check = _check(result, "preference_model_beats_baselines")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "stored with the model guard disabled" in check.description and REFUSED in check.description
    assert not (warehouse / REFUSAL_FILE).exists()


def test_top_says_a_refused_first_model_left_no_ranking(tmp_path, capsys):
    from albumrec_pipeline.core.model_guard import write_refusal

    verdict = judge_model(
        np.full(20, 0.5), np.tile([0, 1], 10), np.repeat(list("abcd"), 5), np.zeros((4, 2)), np.array([0, 1, 0, 1]),
        np.zeros((20, 2)),
    )
    write_refusal(UPath(tmp_path), verdict)
    assert main(["top", "--warehouse", str(tmp_path)]) == 1
    said = capsys.readouterr().err
    assert "materialize album_recommendations first" in said
    assert f"The latest attempt to train a model was refused: {verdict.message}" in said


def test_a_refusal_older_than_the_model_is_not_the_latest_attempt(tmp_path):
    from albumrec_pipeline.core.model_guard import write_refusal

    verdict = judge_model(
        np.full(20, 0.5), np.tile([0, 1], 10), np.repeat(list("abcd"), 5), np.zeros((4, 2)), np.array([0, 1, 0, 1]),
        np.zeros((20, 2)),
    )
    write_refusal(UPath(tmp_path), verdict)
    for age, name in enumerate(("album_recommendations", "preference_model", "feature_scaler")):
        table = tmp_path / f"{name}.parquet"
        table.write_bytes(b"")
        os.utime(table, (1_700_000_000 - age, 1_700_000_000 - age))
    os.utime(tmp_path / REFUSAL_FILE, (1_600_000_000, 1_600_000_000))
    status = ranking_status(UPath(tmp_path))
    assert status.refused is None and status.current
    assert "refused" not in status.describe()
    # Refused after the model that made the ranking: the ranking is from the previous model.
    os.utime(tmp_path / REFUSAL_FILE, (1_800_000_000, 1_800_000_000))
    status = ranking_status(UPath(tmp_path))
    assert status.refused is not None
    assert "was refused, and this ranking is from the previous model" in status.describe()


def test_materialize_prints_why_a_first_model_was_refused(good_run, tmp_path):
    """`albumrec materialize` as `make demo` runs it (default training), on the junk list: the run
    stops at preference_model, the command prints the refusal, and `albumrec top` says why there
    is no ranking."""
    _, _, trained_on = good_run
    data = tmp_path / "data"
    assert write_demo_world(["--root", str(data / "demo"), "--small"]) == 0
    write_instance_config(tmp_path / "dagster_home" / "dagster.yaml")
    junk_list = tmp_path / "junk.csv"
    write_junk_list(trained_on, junk_list)
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("ALBUMREC_")},
        "ALBUMREC_DATA_DIR": str(data),
        "ALBUMREC_LIKED_TRACKS": str(junk_list),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }

    def albumrec(*arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(ALBUMREC), *arguments], check=False, env=environment, cwd=tmp_path, capture_output=True, text=True, timeout=600
        )

    done = albumrec("materialize", "--workers", "1", "--executor", "in_process")
    assert done.returncode == 1
    said = [line for line in done.stdout.splitlines() if line.startswith("albumrec: preference_model stopped: ")]
    assert len(said) == 1 and REFUSED in said[0] and "Add liked and disliked tracks from more artists" in said[0]
    assert not (data / "warehouse" / "preference_model.parquet").exists()
    top = albumrec("top")
    assert top.returncode == 1
    assert "The latest attempt to train a model was refused: " + REFUSED in top.stderr


def test_the_check_warns_when_the_stored_model_recorded_no_comparison():
    from albumrec_pipeline.checks.model import preference_model_beats_baselines

    with dg.DagsterInstance.ephemeral() as instance:
        # A model stored by an albumrec without the guard.
        instance.report_runless_asset_event(dg.AssetMaterialization("preference_model", metadata={"test_roc_auc": 0.8}))
        result = preference_model_beats_baselines(dg.build_asset_check_context(instance=instance))
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert "recorded no comparison" in result.description and "materialize it again" in result.description
