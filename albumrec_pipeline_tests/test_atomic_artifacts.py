"""A materialization killed with SIGKILL while it writes leaves every artifact whole.

A first run materializes a small synthetic world (labelled tracks, the training table, the
scaler, the network) into a warehouse, in a child process. A second run, with another split and
seed so that every value differs, is started in a child process that replaces `os.replace` with
a version that stops before one chosen rename: the file is complete under its temporary name
and about to take the real one. The child reports that moment through a file and waits; the
test kills it and looks at what a reader finds.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from upath import UPath

from albumrec_pipeline.assets.model import cleaned_dataset, feature_scaler, preference_model
from albumrec_pipeline.core.dataset import assemble_raw_track_features
from albumrec_pipeline.core.documents import track_row_from_documents
from albumrec_pipeline.core.model_artifacts import (
    MODEL_FILE,
    SCALER_FILE,
    FeatureSchemaError,
    FittedScaler,
    TrainedPreferenceModel,
)
from albumrec_pipeline.scoring import load_taste_model
from albumrec_pipeline.storage.artifacts import ArtifactIntegrityError, load_artifact
from albumrec_pipeline.storage.atomic import is_partial, read_parquet
from albumrec_pipeline.storage.parquet_io_manager import ParquetWarehouse
from albumrec_pipeline_tests.factories import highlevel_document, lowlevel_document, recording_id
from albumrec_pipeline_tests.pipeline_runs import warehouse_tables

REPO_ROOT = Path(__file__).resolve().parents[1]
# Long enough for a cold start of Python, Dagster and PyTorch on a busy machine; only a failing
# run ever waits this long.
CHILD_DEADLINE_SECONDS = 300

CHILD_SCRIPT = """
import json, os, sys, threading
from pathlib import Path

warehouse, run, stop_before, signal_file = json.loads(sys.argv[1])
if stop_before:
    real_replace = os.replace

    def replace_or_stop(source, target, *args, **kwargs):
        if os.path.basename(target) == stop_before:
            # Written in full under the temporary name, not yet renamed: tell the test, wait to be killed.
            Path(signal_file + ".tmp").write_text(os.fspath(source))
            os.rename(signal_file + ".tmp", signal_file)
            threading.Event().wait()
        return real_replace(source, target, *args, **kwargs)

    os.replace = replace_or_stop

from albumrec_pipeline_tests.test_atomic_artifacts import materialize_small_world

sys.exit(0 if materialize_small_world(warehouse, run).success else 1)
"""


def small_world() -> pd.DataFrame:
    """90 labelled tracks by 15 artists; every artist has liked and disliked tracks."""
    count, artists, keys = 90, 15, ["C", "D#", "A", "F"]
    audio = pd.DataFrame(
        [
            track_row_from_documents(
                recording_id(n),
                lowlevel_document(key=keys[n % 4], shift=(n % 7) + (3 if n % 2 else 0)),
                highlevel_document(shift=(n % 5) / 10),
            )
            for n in range(count)
        ]
    )
    liked = pd.DataFrame({"mbid": audio["mbid"], "liked": [n % 2 for n in range(count)]})
    metadata = pd.DataFrame(
        {
            "mbid": audio["mbid"],
            "artist": [f"Artist {n % artists}" for n in range(count)],
            "release_year": [1980 + n % 30 for n in range(count)],
            "release_title": "Album",
            "recording_title": [f"Song {n}" for n in range(count)],
        }
    )
    return assemble_raw_track_features(liked, audio, metadata)


@dg.asset(name="raw_track_features")
def small_world_tracks() -> pd.DataFrame:
    return small_world()


@dg.asset(name="background_tracks")
def no_background() -> pd.DataFrame:
    """The supervised mode's empty background: the small world's list has likes and dislikes."""
    return small_world().iloc[0:0]


def materialize_small_world(warehouse: str, run: int) -> dg.ExecuteInProcessResult:
    """The model group on the small world; `run` changes the artist split and the seed."""
    training = {
        "epochs": 20, "evaluate_every": 5, "ensemble_size": 1, "hidden_sizes": [8], "seed": run,
        "early_stopping_patience": 0,
        # Four test artists cannot judge a model; the guard would refuse one by the luck of a seed,
        # and these runs are about how artifacts are written, not whether the model is good.
        "guard": {"enabled": False},
    }
    return dg.materialize(
        [small_world_tracks, no_background, cleaned_dataset, feature_scaler, preference_model],
        resources={"io_manager": ParquetWarehouse(base_path=warehouse)},
        run_config=dg.RunConfig(
            {
                "cleaned_dataset": {"config": {"split_salt": f"run {run}", "test_size": 0.25, "validation_size": 0.25}},
                "preference_model": {"config": training},
            }
        ),
    )


def run_child(warehouse: Path, run: int, stop_before: str = "", signal_file: Path | None = None) -> subprocess.Popen:
    script = warehouse.parent / "materialize.py"
    script.write_text(CHILD_SCRIPT)
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    arguments = json.dumps([str(warehouse), run, stop_before, str(signal_file or "")])
    return subprocess.Popen(
        [sys.executable, str(script), arguments],
        cwd=warehouse.parent,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, so the kill reaches everything it started
    )


def kill_second_run_before(warehouse: Path, stop_before: str, signal_file: Path) -> Path:
    """Start the second run, SIGKILL it just before it renames `stop_before` into place; returns
    the temporary file it was about to rename."""
    child = run_child(warehouse, run=2, stop_before=stop_before, signal_file=signal_file)
    try:
        deadline = time.monotonic() + CHILD_DEADLINE_SECONDS
        while not signal_file.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert signal_file.exists(), f"the run never reached the rename of {stop_before}: {child.stderr.read().decode()[-3000:]}"
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=60)
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    return Path(signal_file.read_text())


def partial_files(warehouse: Path) -> list[Path]:
    return sorted(path for path in warehouse.rglob("*") if is_partial(path))


def files_of(warehouse: Path) -> dict[str, bytes]:
    return {path.relative_to(warehouse).as_posix(): path.read_bytes() for path in warehouse.rglob("*") if path.is_file()}


def probe_rows() -> pd.DataFrame:
    return small_world().iloc[::9].reset_index(drop=True)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> tuple[Path, dict[str, bytes], np.ndarray]:
    warehouse = tmp_path_factory.mktemp("first") / "warehouse"
    child = run_child(warehouse, run=1)
    _, errors = child.communicate(timeout=CHILD_DEADLINE_SECONDS)
    assert child.returncode == 0, errors.decode()[-3000:]
    return warehouse, files_of(warehouse), load_taste_model(warehouse).like_probability(probe_rows())


# What the kill leaves, by the rename it came before: which files must still be the first run's
# byte for byte, and which the second run had already replaced (completely) before it died.
KILL_POINTS = {
    "a Parquet table": (
        "cleaned_dataset.parquet",
        [
            "cleaned_dataset.parquet", "feature_scaler.parquet", f"feature_scaler/{SCALER_FILE}",
            "preference_model.parquet", f"preference_model/{MODEL_FILE}",
        ],
        [],
    ),
    "the scaler's joblib": (
        SCALER_FILE,
        ["feature_scaler.parquet", f"feature_scaler/{SCALER_FILE}", "preference_model.parquet", f"preference_model/{MODEL_FILE}"],
        ["cleaned_dataset.parquet"],
    ),
    "the scaler's summary, after its joblib": (
        "feature_scaler.parquet",
        ["feature_scaler.parquet", "preference_model.parquet", f"preference_model/{MODEL_FILE}"],
        ["cleaned_dataset.parquet", f"feature_scaler/{SCALER_FILE}"],
    ),
    "the model's .pth": (
        MODEL_FILE,
        ["preference_model.parquet", f"preference_model/{MODEL_FILE}"],
        ["cleaned_dataset.parquet", "feature_scaler.parquet", f"feature_scaler/{SCALER_FILE}"],
    ),
}


@pytest.mark.parametrize("kill_point", list(KILL_POINTS))
def test_a_run_killed_while_writing_leaves_the_previous_version_of_every_artifact(first_run, tmp_path, kill_point):
    original, first_files, first_probabilities = first_run
    stop_before, unchanged, replaced = KILL_POINTS[kill_point]
    warehouse = tmp_path / "warehouse"
    shutil.copytree(original, warehouse)

    temporary = kill_second_run_before(warehouse, stop_before, tmp_path / "stopped")

    # The file being written was complete under its temporary name, beside its target.
    assert is_partial(temporary) and temporary.name.startswith(f".{stop_before}.") and temporary.stat().st_size > 0
    now = files_of(warehouse)
    for name in unchanged:
        assert now[name] == first_files[name], f"{name} changed"
    for name in replaced:
        assert now[name] != first_files[name], f"{name} should hold the second run's complete version"

    # No temporary file is taken for data: the same tables, each one readable.
    tables = warehouse_tables(warehouse)
    assert set(tables) == {"raw_track_features", "background_tracks", "cleaned_dataset", "feature_scaler", "preference_model"}
    # Every table holds rows, but the supervised mode's empty background.
    assert all(len(table) > 0 for name, table in tables.items() if name != "background_tracks")
    # Temporary files left by the kill (an artifact's summary waits under its temporary name
    # while its native files are renamed) sit beside real files that a reader uses instead.
    partials = [Path(name) for name in now if is_partial(Path(name))]
    assert temporary.relative_to(warehouse) in partials
    for partial in partials:
        target = partial.with_name(partial.name[1:].rsplit(".", 2)[0])  # .<target>.<random>.partial
        assert target.as_posix() in unchanged + replaced + ["raw_track_features.parquet"]

    base = UPath(warehouse)
    first_model = load_artifact(TrainedPreferenceModel, UPath(original) / "preference_model.parquet")
    first_scaler = load_artifact(FittedScaler, UPath(original) / "feature_scaler.parquet")
    model = load_artifact(TrainedPreferenceModel, base / "preference_model.parquet")
    scaled = first_scaler.transform(tables["cleaned_dataset"])
    assert np.array_equal(model.like_probability(scaled), first_model.like_probability(scaled))

    # Whatever the kill left of the scaler, the last good network scores with the fit it carries.
    assert np.array_equal(load_taste_model(warehouse).like_probability(probe_rows()), first_probabilities)
    if stop_before == MODEL_FILE:
        # The second run's scaler is complete, the network beside it is still the first run's:
        # unpickling that scaler as the network's partner is refused, not scored.
        with pytest.raises(FeatureSchemaError, match="materialize feature_scaler and preference_model together"):
            load_taste_model(warehouse, from_joblib=True)
        return
    scaler = load_artifact(FittedScaler, base / "feature_scaler.parquet")
    assert np.array_equal(scaler.transform(tables["cleaned_dataset"]), scaled)
    if stop_before == "feature_scaler.parquet":
        # The new joblib beside the old summary: the default load never opens it, and opening it
        # on request is refused before anything is unpickled.
        with pytest.raises(ArtifactIntegrityError, match="scaler.joblib is not the file"):
            load_taste_model(warehouse, from_joblib=True)


def test_materializing_again_after_a_kill_repairs_the_warehouse(first_run, tmp_path):
    original, _, first_probabilities = first_run
    warehouse = tmp_path / "warehouse"
    shutil.copytree(original, warehouse)
    kill_second_run_before(warehouse, MODEL_FILE, tmp_path / "stopped")
    left_by_the_kill = partial_files(warehouse)

    assert materialize_small_world(str(warehouse), run=2).success

    taste = load_taste_model(warehouse)
    assert not np.array_equal(taste.like_probability(probe_rows()), first_probabilities)
    assert read_parquet(UPath(warehouse) / "feature_scaler.parquet")["feature"].tolist() == taste.scaler.feature_columns
    # The killed run's temporary file is left alone (it is recent) and still read by nobody.
    assert set(warehouse_tables(warehouse)) == {"raw_track_features", "background_tracks", "cleaned_dataset", "feature_scaler", "preference_model"}
    assert partial_files(warehouse) == left_by_the_kill
