"""Asset values that are more than a table: a fitted scaler, a trained network, report bundles.

Each one has a summary table, which the IO manager writes as the asset's Parquet file, and
native files that live in a folder beside it (`<asset>.parquet` + `<asset>/...`).

`save_artifact` writes the native files first and the Parquet file last, renaming them into
place back to back, so the Parquet file is the commit marker: if it is there, the native files
beside it are complete. The Parquet file also records, in its key-value metadata, the artifact
format version and the SHA-256 of every native file written with it. `load_artifact` refuses an
artifact of another major format version, and a native file whose digest is not the recorded
one: that is what a materialization killed between its last two renames leaves behind (new
native files beside the previous summary), or a file changed by hand. Either way the answer is
to materialize the asset again, and the error says so, instead of mixing two versions.

The digests guard against interrupted writes and accidents, not against someone who can write
to the warehouse: they could rewrite the summary as well. Keep the warehouse writable by
albumrec only (see `core.model_artifacts` on the pickled scaler).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Self

from albumrec_pipeline.storage.atomic import DOCUMENT_KEY, commit_together, read_parquet, write_parquet_atomic

if TYPE_CHECKING:
    import pandas as pd
    from upath import UPath

# Major.minor. A reader accepts any minor version of its own major one: minor versions only add
# to what is stored. Bump the major version when a reader of the previous one would misread.
ARTIFACT_FORMAT_VERSION = (1, 3)  # 1.1: the network file carries its scaler fit; 1.2: genre-tag vocabulary;
# 1.3: the liked-only calibration


def format_version_text() -> str:
    return ".".join(map(str, ARTIFACT_FORMAT_VERSION))


class ArtifactError(ValueError):
    """A stored artifact albumrec will not load; the message names the file and what to do."""


class ArtifactFormatError(ArtifactError):
    """The artifact was written in another (major) artifact format version, or in none."""


class ArtifactIntegrityError(ArtifactError):
    """A native file is missing, is not the one its summary was written with, or holds what albumrec never writes."""


class DamagedTableError(ArtifactError):
    """A table file is not a whole Parquet file (truncated, empty, overwritten) or lacks columns albumrec reads.

    Raised by `storage.atomic`, which this module imports and so cannot be imported by at load time.
    """


def summary_path(folder: UPath) -> str:
    """`<base>/<asset>.parquet` for the native folder `<base>/<asset>`, for messages."""
    return f"{folder}.parquet"


def asset_name(folder: UPath) -> str:
    return folder.name


def stored_document(summary: pd.DataFrame) -> dict[str, Any]:
    """The document albumrec keeps with an artifact's summary table (empty if there is none)."""
    document = summary.attrs.get(DOCUMENT_KEY)
    return document if isinstance(document, dict) else {}


def check_format(version: Any, what: str, asset: str) -> None:
    """Refuse `what` unless it was written in this albumrec's major artifact format version."""
    supported = f"{ARTIFACT_FORMAT_VERSION[0]}.x"
    if version is None:
        raise ArtifactFormatError(
            f"{what} records no albumrec artifact format version: it was written by an albumrec older than "
            f"format {supported}. Materialize {asset} again."
        )
    try:
        major = int(str(version).split(".", 1)[0])
    except ValueError:
        major = None
    if major != ARTIFACT_FORMAT_VERSION[0]:
        raise ArtifactFormatError(
            f"{what} was written in albumrec artifact format {version}; this albumrec reads format {supported} "
            f"only. Materialize {asset} again with this albumrec, or load it with the albumrec version that wrote it."
        )


def read_verified_native(summary: pd.DataFrame, folder: UPath, name: str) -> bytes:
    """The bytes of native file `name`, after checking them against the digest its summary recorded."""
    path = folder / name
    recorded = stored_document(summary).get("native_files", {})
    expected = recorded.get(name) if isinstance(recorded, dict) else None
    asset = asset_name(folder)
    if expected is None:
        raise ArtifactIntegrityError(
            f"{path} is not among the files {summary_path(folder)} was written with, so it cannot be checked. "
            f"Materialize {asset} again."
        )
    if not path.exists():
        raise ArtifactIntegrityError(f"{path} is missing although {summary_path(folder)} lists it. Materialize {asset} again.")
    payload = path.read_bytes()
    if hashlib.sha256(payload).hexdigest() != expected:
        raise ArtifactIntegrityError(
            f"{path} is not the file {summary_path(folder)} was written with (its SHA-256 differs): a later "
            f"materialization was stopped between writing the two, or the file was changed. Materialize {asset} again."
        )
    return payload


class StoredArtifact(ABC):
    # Names of the native files, shown in the asset's metadata.
    native_files: ClassVar[tuple[str, ...]] = ()
    # The native files `load` reads (None: all of them). Each is checked against its recorded
    # digest before `load` runs; a file `load` does not read need not hold `load` back.
    files_read_on_load: ClassVar[tuple[str, ...] | None] = None

    @abstractmethod
    def summary_table(self) -> pd.DataFrame:
        """The summary; a JSON document the artifact needs to load may ride in `attrs[DOCUMENT_KEY]`."""

    @abstractmethod
    def save_native(self, folder: UPath) -> None: ...

    @classmethod
    @abstractmethod
    def load(cls, summary: pd.DataFrame, folder: UPath) -> Self: ...


def save_artifact(artifact: StoredArtifact, path: UPath) -> None:
    """Write the native files into `path` without its suffix, then the summary at `path`, as one commit."""
    folder = path.with_suffix("")
    with commit_together() as group:
        artifact.save_native(folder)
        table = artifact.summary_table()
        document = {
            **stored_document(table),
            "format_version": format_version_text(),
            "native_files": group.digests_under(folder),
        }
        write_parquet_atomic(table, path, document)


def load_artifact(cls: type[StoredArtifact], path: UPath) -> StoredArtifact:
    """The artifact saved at `path`, once its format version and the native files it reads are checked."""
    folder = path.with_suffix("")
    summary = read_parquet(path)
    check_format(stored_document(summary).get("format_version"), str(path), asset_name(folder))
    names = cls.native_files if cls.files_read_on_load is None else cls.files_read_on_load
    for name in names:
        read_verified_native(summary, folder, name)
    return cls.load(summary, folder)
