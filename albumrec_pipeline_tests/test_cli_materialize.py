"""`albumrec materialize` then `albumrec evaluate`, as `make demo` runs them, on a small demo world.

The ranking comes first and without cross-validation, which is most of the time on a listener's
data; `albumrec evaluate` adds it on request and prints its summary.
"""

import os
import subprocess
import sys
import uuid
from pathlib import Path

from albumrec_pipeline.demo.__main__ import main as write_demo_world
from albumrec_pipeline.instance_config import write_instance_config

ALBUMREC = Path(sys.executable).with_name("albumrec")


def test_materialize_ranks_first_and_evaluate_cross_validates_on_request(tmp_path):
    data = tmp_path / "data"
    assert write_demo_world(["--root", str(data / "demo"), "--small"]) == 0
    write_instance_config(tmp_path / "dagster_home" / "dagster.yaml")
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("ALBUMREC_")},
        "ALBUMREC_DATA_DIR": str(data),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }

    def albumrec(*arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(ALBUMREC), *arguments], env=environment, cwd=tmp_path, capture_output=True, text=True, timeout=600
        )

    materialized = albumrec("materialize", "--workers", "1", "--executor", "in_process")
    assert materialized.returncode == 0, materialized.stderr[-3000:]
    assert "`albumrec evaluate` cross-validates the model" in materialized.stdout
    warehouse = data / "warehouse"
    assert (warehouse / "album_recommendations.parquet").is_file() and (warehouse / "preference_model.parquet").is_file()
    assert not (warehouse / "model_evaluation.parquet").exists()

    top = albumrec("top", "--count", "3")
    assert top.returncode == 0 and "This ranking is current" in top.stdout

    evaluated = albumrec("evaluate")
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert (warehouse / "model_evaluation.parquet").is_file()
    assert "cross-validated in" in evaluated.stdout
    for model in ("network", "original_network", "logistic_regression", "hist_gradient_boosting"):
        assert f"| {model} " in evaluated.stdout
    # Evaluating changes nothing the ranking is made from.
    assert "This ranking is current" in albumrec("top", "--count", "1").stdout


def test_materialize_says_what_to_do_when_the_list_cannot_teach_a_taste(tmp_path):
    data = tmp_path / "data"
    assert write_demo_world(["--root", str(data / "demo"), "--small"]) == 0
    write_instance_config(tmp_path / "dagster_home" / "dagster.yaml")
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("mbid,liked\n" + "".join(f"{uuid.UUID(int=index, version=4)},{index % 2}\n" for index in range(200)))
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("ALBUMREC_")},
        "ALBUMREC_DATA_DIR": str(data),
        "ALBUMREC_LIKED_TRACKS": str(unknown),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    done = subprocess.run(
        [str(ALBUMREC), "materialize", "--workers", "1", "--executor", "in_process"],
        env=environment, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 1
    advice = [line for line in done.stdout.splitlines() if "did not pass raw_track_features_enough_to_learn" in line]
    assert len(advice) == 1 and "0 of your 200 recordings have AcousticBrainz features" in advice[0]
    assert not (data / "warehouse" / "album_recommendations.parquet").exists()
