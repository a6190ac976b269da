import os
from dataclasses import dataclass
from typing import ClassVar

import dagster as dg
import pandas as pd
import pytest
from upath import UPath

from albumrec_pipeline.core.model_artifacts import FittedScaler
from albumrec_pipeline.storage import atomic
from albumrec_pipeline.storage.artifacts import (
    ArtifactFormatError,
    ArtifactIntegrityError,
    StoredArtifact,
    format_version_text,
    load_artifact,
    save_artifact,
)
from albumrec_pipeline.storage.atomic import (
    DOCUMENT_KEY,
    atomic_write_bytes,
    commit_together,
    read_parquet,
    remove_abandoned_partials,
    write_parquet_atomic,
)
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


@dataclass
class Notes(StoredArtifact):
    """The smallest artifact: a summary table and one native text file."""

    text: str
    native_files: ClassVar[tuple[str, ...]] = ("notes.txt",)

    def summary_table(self) -> pd.DataFrame:
        return pd.DataFrame({"characters": [len(self.text)]})

    def save_native(self, folder: UPath) -> None:
        atomic_write_bytes(folder / "notes.txt", self.text.encode())

    @classmethod
    def load(cls, summary: pd.DataFrame, folder: UPath) -> "Notes":
        return cls((folder / "notes.txt").read_text())


@dg.asset
def notes() -> Notes:
    return Notes("first version")


@dg.asset
def note_length(notes: Notes) -> pd.DataFrame:
    return pd.DataFrame({"length": [len(notes.text)]})


def warehouse(path) -> dict:
    return {"io_manager": ParquetWarehouse(base_path=str(path))}


def test_tables_and_artifacts_round_trip_as_parquet_with_native_files(tmp_path):
    result = dg.materialize([numbers, scaler_of_numbers, scaled], resources=warehouse(tmp_path))
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
    assert dg.materialize([numbers], resources=warehouse(tmp_path)).success
    before = (tmp_path / "numbers.parquet").read_bytes()

    def broken_write(temporary, payload):
        # write half the bytes, then die, as a full disk would
        with open(temporary, "wb") as handle:
            handle.write(payload[: len(payload) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(atomic, "_write_local", broken_write)
    with pytest.raises(OSError, match="disk full"):
        dg.materialize([numbers], resources=warehouse(tmp_path))
    assert (tmp_path / "numbers.parquet").read_bytes() == before
    assert not list(tmp_path.rglob("*.partial"))


def test_an_artifact_is_committed_native_files_first_summary_last_after_every_write(tmp_path, monkeypatch):
    events = []
    write, replace = atomic._write_local, os.replace

    def recording_write(temporary, payload):
        events.append(("write", temporary.name[1:].rsplit(".", 2)[0]))  # .<target>.<random>.partial
        write(temporary, payload)

    def recording_replace(source, target):
        events.append(("rename", os.path.basename(target)))
        replace(source, target)

    monkeypatch.setattr(atomic, "_write_local", recording_write)
    monkeypatch.setattr(os, "replace", recording_replace)
    save_artifact(FittedScaler.fit(pd.DataFrame({"n": [1.0, 2.0, 4.0]})), UPath(tmp_path) / "scaler.parquet")

    # No rename happens before everything is written, so a failure while writing replaces nothing.
    assert events == [
        ("write", "scaler.joblib"), ("write", "scaler.parquet"), ("rename", "scaler.joblib"), ("rename", "scaler.parquet")
    ]


def test_a_failure_before_the_commit_replaces_nothing(tmp_path):
    base = UPath(tmp_path)
    save_artifact(Notes("first version"), base / "notes.parquet")
    before = {path.name: path.read_bytes() for path in (tmp_path / "notes.parquet", tmp_path / "notes" / "notes.txt")}

    class Broken(Notes):
        def summary_table(self) -> pd.DataFrame:
            raise RuntimeError("summary failed")

    with pytest.raises(RuntimeError, match="summary failed"):
        save_artifact(Broken("second version"), base / "notes.parquet")
    # the native file was complete under its temporary name but never took the real one
    assert {path.name: path.read_bytes() for path in (tmp_path / "notes.parquet", tmp_path / "notes" / "notes.txt")} == before
    assert not list(tmp_path.rglob("*.partial"))


def test_a_native_file_that_is_not_the_one_its_summary_was_written_with_is_refused(tmp_path):
    assert dg.materialize([notes, note_length], resources=warehouse(tmp_path)).success
    # What a run killed between its last two renames leaves: a new native file beside the old summary.
    (tmp_path / "notes" / "notes.txt").write_text("second version, never committed")

    result = dg.materialize([notes, note_length], resources=warehouse(tmp_path), selection=[note_length], raise_on_error=False)

    assert not result.success
    error = result.get_step_failure_events()[0].step_failure_data.error.to_string()
    assert "ArtifactIntegrityError" in error
    assert "notes.txt is not the file" in error and "Materialize notes again" in error


def test_an_artifact_of_another_major_format_version_is_refused(tmp_path):
    base = UPath(tmp_path)
    save_artifact(Notes("text"), base / "notes.parquet")
    summary = read_parquet(base / "notes.parquet")
    assert load_artifact(Notes, base / "notes.parquet").text == "text"

    write_parquet_atomic(summary, base / "notes.parquet", {**summary.attrs[DOCUMENT_KEY], "format_version": "2.0"})
    with pytest.raises(ArtifactFormatError, match=r"format 2\.0; this albumrec reads format 1\.x only"):
        load_artifact(Notes, base / "notes.parquet")

    # a summary from before formats were recorded
    write_parquet_atomic(summary, base / "notes.parquet")
    with pytest.raises(ArtifactFormatError, match="records no albumrec artifact format version.*Materialize notes again"):
        load_artifact(Notes, base / "notes.parquet")


def test_a_missing_native_file_is_refused(tmp_path):
    base = UPath(tmp_path)
    save_artifact(Notes("text"), base / "notes.parquet")
    (tmp_path / "notes" / "notes.txt").unlink()
    with pytest.raises(ArtifactIntegrityError, match="notes.txt is missing"):
        load_artifact(Notes, base / "notes.parquet")


def test_the_document_travels_in_the_parquet_metadata_and_plain_tables_have_none(tmp_path):
    base = UPath(tmp_path)
    save_artifact(Notes("text"), base / "notes.parquet")
    document = read_parquet(base / "notes.parquet").attrs[DOCUMENT_KEY]
    assert document["format_version"] == format_version_text()
    assert list(document["native_files"]) == ["notes.txt"] and len(document["native_files"]["notes.txt"]) == 64

    write_parquet_atomic(pd.DataFrame({"n": [1]}), base / "plain.parquet")
    assert DOCUMENT_KEY not in read_parquet(base / "plain.parquet").attrs


def test_temporary_files_abandoned_by_killed_writers_are_removed_on_the_next_write(tmp_path):
    target = UPath(tmp_path) / "numbers.parquet"
    abandoned = tmp_path / ".numbers.parquet.0123abcd.partial"
    in_progress = tmp_path / ".numbers.parquet.4567cdef.partial"
    someone_elses = tmp_path / ".other.parquet.89abcdef.partial"
    for path in (abandoned, in_progress, someone_elses):
        path.write_bytes(b"PAR1 half a table")
    os.utime(abandoned, (0, 0))
    os.utime(someone_elses, (0, 0))

    write_parquet_atomic(pd.DataFrame({"n": [1]}), target)

    assert not abandoned.exists()
    # a writer may still be busy with a recent one, and other targets' files are their writers' business
    assert in_progress.exists() and someone_elses.exists()
    assert remove_abandoned_partials(UPath(tmp_path) / "other.parquet") == [someone_elses]


def test_files_written_together_are_renamed_in_the_order_written(tmp_path):
    base = UPath(tmp_path)
    with commit_together() as group:
        atomic_write_bytes(base / "folder" / "a.bin", b"a")
        atomic_write_bytes(base / "folder" / "b.bin", b"b")
        atomic_write_bytes(base / "outside.bin", b"c")
        assert not (tmp_path / "folder" / "a.bin").exists()
    assert (tmp_path / "folder" / "a.bin").read_bytes() == b"a" and (tmp_path / "outside.bin").read_bytes() == b"c"
    assert sorted(group.digests_under(base / "folder")) == ["a.bin", "b.bin"]


def test_loading_an_unmaterialized_asset_says_what_to_do(tmp_path):
    result = dg.materialize(
        [numbers, scaler_of_numbers, scaled],
        resources=warehouse(tmp_path),
        selection=[scaled],
        raise_on_error=False,
    )
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "materialize" in str(failure.to_string()) and "first" in str(failure.to_string())
