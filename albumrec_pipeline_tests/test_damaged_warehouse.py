"""A damaged table in the warehouse names its file and the asset that replaces it.

A disk that filled up, a copy or sync stopped half-way, a file overwritten by hand: pyarrow
reports each as "Could not open Parquet input source '<Buffer>'", and a table of another shape
surfaced as a KeyError. Whoever reads the warehouse (the CLI, `load_taste_model`, the IO manager
loading an input) has to learn which file it is and what to materialize again.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from upath import UPath

from albumrec_pipeline.cli import main
from albumrec_pipeline.core.model_artifacts import FittedScaler, TrainedPreferenceModel
from albumrec_pipeline.scoring import load_taste_model
from albumrec_pipeline.storage.artifacts import ArtifactError
from albumrec_pipeline.storage.atomic import read_parquet, write_parquet_atomic
from albumrec_pipeline.storage.parquet_io_manager import ParquetUPathIOManager
from albumrec_pipeline_tests.pipeline_runs import build_small_warehouse

# What `albumrec top` and `albumrec feedback` read, and the model they were ranked with.
RANKING_ASSETS = (
    "liked_tracks", "raw_track_features", "cleaned_dataset", "feature_scaler", "preference_model",
    "background_tracks", "recording_features", "candidate_albums", "candidate_track_features", "track_scores", "album_recommendations",
)
DAMAGES = {
    "truncated": lambda payload: payload[: len(payload) // 2],
    "garbage": lambda payload: (b"not parquet " * len(payload))[: len(payload)],
    "empty": lambda payload: b"",
}
FILES = ("album_recommendations.parquet", "preference_model.parquet", "feature_scaler.parquet")
MODEL_FILES = ("preference_model.parquet", "feature_scaler.parquet")
# The type each file is loaded as by the assets downstream of it.
LOADED_AS = {"album_recommendations": pd.DataFrame, "feature_scaler": FittedScaler, "preference_model": TrainedPreferenceModel}


@pytest.fixture(scope="module")
def built_warehouse(tmp_path_factory) -> Path:
    """A small demo world's model and ranking, trained only briefly: the files matter here, not the taste."""
    root = tmp_path_factory.mktemp("damaged")
    build_small_warehouse(root, RANKING_ASSETS)
    return root / "warehouse"


@pytest.fixture
def warehouse(built_warehouse, tmp_path) -> Path:
    copy = tmp_path / "warehouse"
    shutil.copytree(built_warehouse, copy)
    return copy


def damage(warehouse: Path, name: str, how: str) -> Path:
    path = warehouse / name
    path.write_bytes(DAMAGES[how](path.read_bytes()))
    return path


def run_cli(capsys, *arguments: str) -> tuple[int, str, str]:
    code = main(list(arguments))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_naming(err: str, path: Path, asset: str) -> None:
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and "<Buffer>" not in err
    assert str(path) in err and f"materialize {asset} again" in err


def unreadable(path: Path, asset: str) -> str:
    return re.escape(f"{path}: is not a readable Parquet file") + ".*" + re.escape(f"materialize {asset} again")


@pytest.mark.parametrize("how", list(DAMAGES))
@pytest.mark.parametrize("name", FILES)
def test_albumrec_top_names_a_damaged_ranking_and_reads_no_model(warehouse, capsys, name, how):
    path = damage(warehouse, name, how)
    code, out, err = run_cli(capsys, "top", "--warehouse", str(warehouse))
    if name == "album_recommendations.parquet":
        assert code != 0 and out == ""
        assert_one_line_naming(err, path, "album_recommendations")
        assert "is not a readable Parquet file" in err
    else:
        # The ranking is complete in itself: a damaged model does not stop anyone reading it.
        assert code == 0 and err == ""
        assert "candidate albums recommended" in out


@pytest.mark.parametrize("how", list(DAMAGES))
@pytest.mark.parametrize("name", MODEL_FILES)
def test_load_taste_model_names_a_damaged_model_file(warehouse, name, how):
    path = damage(warehouse, name, how)
    # The scaler's summary is what locates and checks scaler.joblib, so that way it is always read.
    with pytest.raises(ArtifactError, match=unreadable(path, path.stem)):
        load_taste_model(warehouse, from_joblib=name == "feature_scaler.parquet")


@pytest.mark.parametrize("how", list(DAMAGES))
@pytest.mark.parametrize("name", FILES)
def test_the_io_manager_names_a_damaged_upstream_file(warehouse, name, how):
    path = damage(warehouse, name, how)
    asset = path.stem
    context = dg.build_input_context(asset_key=dg.AssetKey(asset), dagster_type=dg.PythonObjectDagsterType(LOADED_AS[asset]))
    with pytest.raises(ArtifactError, match=unreadable(path, asset)):
        ParquetUPathIOManager(base_path=UPath(warehouse)).load_input(context)


@pytest.mark.parametrize("how", list(DAMAGES))
@pytest.mark.parametrize("name", ["album_recommendations.parquet", "candidate_albums.parquet"])
def test_albumrec_feedback_names_a_damaged_table_it_reads(warehouse, tmp_path, capsys, name, how):
    path = damage(warehouse, name, how)
    feedback = tmp_path / "feedback.csv"
    code, out, err = run_cli(capsys, "feedback", "any-id", "--liked", "--warehouse", str(warehouse), "--file", str(feedback))
    assert code != 0 and out == ""
    assert_one_line_naming(err, path, path.stem)
    assert not feedback.exists()


def test_a_damaged_partition_names_the_asset_and_the_partition(warehouse):
    path = next((warehouse / "musicbrainz_tracks").glob("*.parquet"))
    damage(warehouse, str(path.relative_to(warehouse)), "truncated")
    partition = path.stem
    context = dg.build_input_context(
        asset_key=dg.AssetKey("musicbrainz_tracks"),
        partition_key=partition,
        asset_partitions_def=dg.StaticPartitionsDefinition([partition]),
        dagster_type=dg.PythonObjectDagsterType(pd.DataFrame),
    )
    expected = re.escape(f"{path}: is not a readable Parquet file") + ".*" + re.escape(
        f"materialize partition {partition} of musicbrainz_tracks again"
    )
    with pytest.raises(ArtifactError, match=expected):
        ParquetUPathIOManager(base_path=UPath(warehouse)).load_input(context)


def test_a_damaged_table_among_an_artifacts_native_files_names_the_artifact(tmp_path):
    # `<base>/<asset>/<name>.parquet` beside `<base>/<asset>.parquet`: the artifact's detail tables.
    base = UPath(tmp_path)
    write_parquet_atomic(pd.DataFrame({"rows": [1]}), base / "weight_reports.parquet")
    detail = tmp_path / "weight_reports" / "top_features.parquet"
    detail.parent.mkdir()
    detail.write_bytes(b"")
    with pytest.raises(ArtifactError, match=unreadable(detail, "weight_reports")):
        read_parquet(base / "weight_reports" / "top_features.parquet")


def test_a_ranking_without_the_recommended_column_is_refused_by_top_and_enough_for_feedback(warehouse, tmp_path, capsys):
    path = warehouse / "album_recommendations.parquet"
    ranking = pd.read_parquet(path)
    ranking.drop(columns="recommended").to_parquet(path)
    code, out, err = run_cli(capsys, "top", "--warehouse", str(warehouse))
    assert code != 0 and out == ""
    assert_one_line_naming(err, path, "album_recommendations")
    assert "lacks the column(s) recommended" in err
    # Marking an album reads the ranking's two id columns only, which are there.
    group = ranking["release_group_id"].dropna().iloc[0]
    feedback = tmp_path / "feedback.csv"
    code, out, err = run_cli(capsys, "feedback", group, "--liked", "--warehouse", str(warehouse), "--file", str(feedback))
    assert code == 0 and err == "" and feedback.exists()


def test_a_ranking_overwritten_by_another_table_is_refused_by_top_and_feedback(warehouse, tmp_path, capsys):
    path = warehouse / "album_recommendations.parquet"
    shutil.copyfile(warehouse / "track_scores.parquet", path)
    code, out, err = run_cli(capsys, "top", "--warehouse", str(warehouse))
    assert code != 0 and out == ""
    assert_one_line_naming(err, path, "album_recommendations")
    assert re.search(r"lacks the column\(s\) recommended, rank, album_title", err)
    feedback = tmp_path / "feedback.csv"
    code, out, err = run_cli(capsys, "feedback", "any-id", "--liked", "--warehouse", str(warehouse), "--file", str(feedback))
    assert code != 0 and out == ""
    assert_one_line_naming(err, path, "album_recommendations")
    assert "lacks the column(s) release_group_id, release_id" in err
    assert not feedback.exists()
