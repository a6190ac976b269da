import dagster as dg
import pandas as pd
import pytest

from albumrec_pipeline.core.model_artifacts import FittedScaler
from albumrec_pipeline.storage.parquet_io_manager import ParquetWarehouse


@dg.asset
def numbers() -> pd.DataFrame:
    return pd.DataFrame({"n": [1, 2, 3], "name": ["a", "b", "c"]})


@dg.asset
def scaler_of_numbers(numbers: pd.DataFrame) -> FittedScaler:
    return FittedScaler.fit(numbers[["n"]])


@dg.asset
def scaled(scaler_of_numbers: FittedScaler, numbers: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"scaled": scaler_of_numbers.transform(numbers[["n"]])[:, 0]})


def test_tables_and_artifacts_round_trip_as_parquet_with_native_files(tmp_path):
    result = dg.materialize([numbers, scaler_of_numbers, scaled], resources={"io_manager": ParquetWarehouse(base_path=str(tmp_path))})
    assert result.success
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "numbers.parquet", "scaled.parquet", "scaler_of_numbers", "scaler_of_numbers.parquet"
    ]
    assert (tmp_path / "scaler_of_numbers" / "scaler.joblib").is_file()
    assert pd.read_parquet(tmp_path / "scaled.parquet")["scaled"].tolist() == [0.0, 0.5, 1.0]
    assert pd.read_parquet(tmp_path / "scaler_of_numbers.parquet")["feature"].tolist() == ["n"]
    # no temporary files are left behind
    assert not list(tmp_path.rglob("*.partial"))
    metadata = result.asset_materializations_for_node("numbers")[0].metadata
    assert metadata["dagster/row_count"].value == 3
    assert "| name" in metadata["preview"].value and "|   2 | b" in metadata["preview"].value


def test_a_failed_write_keeps_the_previous_version(tmp_path, monkeypatch):
    resources = {"io_manager": ParquetWarehouse(base_path=str(tmp_path))}
    assert dg.materialize([numbers], resources=resources).success
    before = (tmp_path / "numbers.parquet").read_bytes()

    def broken_write(self, data):
        # write half the bytes, then die, as a killed process would
        with open(self, "wb") as handle:
            handle.write(data[: len(data) // 2])
        raise OSError("disk full")

    from upath import UPath

    monkeypatch.setattr(type(UPath(tmp_path)), "write_bytes", broken_write)
    with pytest.raises(OSError, match="disk full"):
        dg.materialize([numbers], resources=resources)
    assert (tmp_path / "numbers.parquet").read_bytes() == before
    assert not list(tmp_path.rglob("*.partial"))


def test_loading_an_unmaterialized_asset_says_what_to_do(tmp_path):
    result = dg.materialize(
        [numbers, scaler_of_numbers, scaled],
        resources={"io_manager": ParquetWarehouse(base_path=str(tmp_path))},
        selection=[scaled],
        raise_on_error=False,
    )
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "materialize" in str(failure.to_string()) and "first" in str(failure.to_string())
