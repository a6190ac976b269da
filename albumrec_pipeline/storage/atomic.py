"""Atomic writes for local paths and fsspec URLs alike.

A reader (or a crash) must never see half a file: each write goes to a temporary name in the
same directory (`.<name>.<random>.partial`, which no reader looks for) and is renamed over the
target only once complete. On a local filesystem the rename is atomic and the data is flushed to
disk before it, so a power cut cannot leave a renamed but empty file either; on object stores
(s3://, gs://) a single PUT is atomic already and the rename is a server-side copy of a
complete object.

`commit_together()` holds the renames back until a group of files is written, then performs them
back to back in the order the files were written: an artifact's native files first, its summary
last, with no serialisation in between.

A writer killed before its rename leaves its temporary file behind; the next write of the same
target removes such files once nobody has touched them for an hour (so that a writer still busy
with a large file is left alone).
"""

from __future__ import annotations

import contextvars
import glob
import hashlib
import io
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from upath import UPath

PARTIAL_SUFFIX = ".partial"
# A live writer rewrites its temporary file continuously; one untouched this long was abandoned.
ABANDONED_AFTER_SECONDS = 3600.0
# The key, in a Parquet file's key-value metadata and in a DataFrame's `attrs`, of the JSON
# document albumrec keeps with a table (an artifact's format, parameters and file digests).
DOCUMENT_KEY = "albumrec"


def is_local(path: UPath) -> bool:
    return path.protocol in ("", "file", "local")


def is_partial(path: Path | UPath) -> bool:
    """Whether `path` is one of the temporary files an atomic write renames into place."""
    return path.name.startswith(".") and path.name.endswith(PARTIAL_SUFFIX)


def _temporary_for(path: UPath) -> UPath:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}{PARTIAL_SUFFIX}")


def remove_abandoned_partials(path: UPath, older_than_seconds: float = ABANDONED_AFTER_SECONDS) -> list[Path]:
    """Delete the temporary files of `path` that writers killed before their rename left behind.

    Local folders only: on an object store a killed upload leaves no object behind.
    """
    if not is_local(path):
        return []
    folder = Path(path.path).parent
    if not folder.is_dir():
        return []
    removed = []
    now = time.time()
    for candidate in folder.glob(f".{glob.escape(path.name)}.*{PARTIAL_SUFFIX}"):
        try:
            if now - candidate.stat().st_mtime > older_than_seconds:
                candidate.unlink()
                removed.append(candidate)
        except FileNotFoundError:
            pass  # its writer (or another cleaner) got there first
    return removed


def _fsync_directory(folder: Path) -> None:
    # Makes the rename itself survive a power cut; not every platform can open a directory.
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def _write_local(temporary: Path, payload: bytes) -> None:
    with open(temporary, "wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())


def _rename_into_place(temporary: UPath, path: UPath) -> None:
    if is_local(path):
        # os.replace overwrites the target in one step on every platform (os.rename does not on Windows).
        os.replace(temporary.path, path.path)
        _fsync_directory(Path(path.path).parent)
    else:
        temporary.rename(path)


def _discard(temporary: UPath) -> None:
    try:
        if temporary.exists():
            temporary.unlink()
    except OSError:
        pass  # the original error matters more than a leftover temporary file


@dataclass
class CommitGroup:
    """Files written inside `commit_together()`: complete under temporary names, not yet renamed."""

    pending: list[tuple[UPath, UPath]] = field(default_factory=list)
    # SHA-256 (hex) of every file written in the group, by target path.
    digests: dict[str, str] = field(default_factory=dict)

    def digests_under(self, folder: UPath) -> dict[str, str]:
        """The digests of the group's files inside `folder`, by path relative to it."""
        prefix = str(folder).rstrip("/") + "/"
        return {target[len(prefix):]: digest for target, digest in self.digests.items() if target.startswith(prefix)}

    def _commit(self) -> None:
        for index, (temporary, path) in enumerate(self.pending):
            try:
                _rename_into_place(temporary, path)
            except BaseException:
                for later, _ in self.pending[index:]:
                    _discard(later)
                raise

    def _discard_all(self) -> None:
        for temporary, _ in self.pending:
            _discard(temporary)


_group: contextvars.ContextVar[CommitGroup | None] = contextvars.ContextVar("albumrec_commit_group", default=None)


@contextmanager
def commit_together() -> Iterator[CommitGroup]:
    """Write files inside the block; rename them all into place, in order, once it ends without error.

    If the block fails, none of its files replaces anything and their temporary files are removed.
    """
    group = CommitGroup()
    token = _group.set(group)
    try:
        yield group
    except BaseException:
        group._discard_all()
        raise
    finally:
        _group.reset(token)
    group._commit()


def atomic_write_bytes(path: UPath, payload: bytes) -> str:
    """Write `payload` to `path` so that it appears complete or not at all; returns its SHA-256 (hex)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned_partials(path)
    digest = hashlib.sha256(payload).hexdigest()
    temporary = _temporary_for(path)
    group = _group.get()
    try:
        if is_local(path):
            _write_local(Path(temporary.path), payload)
        else:
            temporary.write_bytes(payload)
        if group is not None:
            group.pending.append((temporary, path))
            group.digests[str(path)] = digest
            return digest
        _rename_into_place(temporary, path)
    except BaseException:
        _discard(temporary)
        raise
    return digest


def atomic_move_file(source: Path, path: UPath) -> None:
    """Move a finished local file to `path` (local or remote) so that it appears complete or not at all.

    On the same local filesystem this is two renames and copies nothing, which matters for
    tables of gigabytes; to an object store it is one upload to a temporary key and a rename.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned_partials(path)
    temporary = _temporary_for(path)
    try:
        if is_local(path):
            # The staged file was written without a flush to disk: do it before it takes the name.
            with open(source, "rb+") as handle:
                os.fsync(handle.fileno())
            shutil.move(source, Path(temporary.path))
        else:
            path.fs.put_file(str(source), temporary.path)
            source.unlink()
        _rename_into_place(temporary, path)
    finally:
        _discard(temporary)
        source.unlink(missing_ok=True)


def dataframe_to_parquet_bytes(frame: pd.DataFrame, document: dict[str, Any] | None = None) -> bytes:
    """Parquet bytes of `frame`; `document` (JSON) goes into the file's key-value metadata under DOCUMENT_KEY."""
    if DOCUMENT_KEY in frame.attrs:
        # The document has its own key; left in attrs, pandas would store a second copy of it.
        frame = frame.copy(deep=False)
        frame.attrs = {key: value for key, value in frame.attrs.items() if key != DOCUMENT_KEY}
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if document is not None:
        table = table.replace_schema_metadata(
            {**(table.schema.metadata or {}), DOCUMENT_KEY.encode(): json.dumps(document).encode()}
        )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def write_parquet_atomic(frame: pd.DataFrame, path: UPath, document: dict[str, Any] | None = None) -> str:
    return atomic_write_bytes(path, dataframe_to_parquet_bytes(frame, document))


def materialize_again(path: UPath, asset: str | None = None, partition: str | None = None) -> str:
    """What replaces the table at `path`; without `asset`, it is worked out from the warehouse layout."""
    if asset is None:
        folder = path.parent
        try:
            # An artifact keeps its detail tables in `<base>/<asset>/` beside `<base>/<asset>.parquet`.
            beside_summary = (folder.parent / f"{folder.name}.parquet").exists()
        except OSError:
            beside_summary = False
        asset = folder.name if beside_summary else path.stem
    if partition is not None:
        return f"materialize partition {partition} of {asset} again"
    return f"materialize {asset} again"


def _damaged_table_error(message: str) -> Exception:
    # storage.artifacts imports this module, so its error class can only be imported here, late.
    from albumrec_pipeline.storage.artifacts import DamagedTableError

    return DamagedTableError(message)


def _is_about_the_bytes(error: BaseException) -> bool:
    # Arrow reports a missing or malformed footer or page as an ArrowException (ArrowInvalid...)
    # or as a plain OSError. OSError's subclasses (FileNotFoundError, PermissionError,
    # ConnectionError) come from the file system or the network and keep their own meaning.
    return isinstance(error, pa.ArrowException) or type(error) is OSError


@contextmanager
def parquet_errors_named(path: UPath, asset: str | None = None, partition: str | None = None) -> Iterator[None]:
    """Raise Arrow's complaints about the bytes of `path`, read in the block, as a DamagedTableError
    that names the file and what to materialize, instead of "Could not open Parquet input source '<Buffer>'"."""
    try:
        yield
    except Exception as error:
        if not _is_about_the_bytes(error):
            raise
        raise _damaged_table_error(
            f"{path}: is not a readable Parquet file (truncated, empty or overwritten); "
            f"{materialize_again(path, asset, partition)}"
        ) from error


def parquet_columns(path: UPath, asset: str | None = None) -> list[str]:
    """The column names of the table at `path`, from its footer: the table itself is not read."""
    with path.open("rb") as handle, parquet_errors_named(path, asset):
        return pq.read_schema(handle).names


def require_columns(path: UPath, present: Iterable[str], needed: Iterable[str], asset: str | None = None) -> None:
    """Refuse the table at `path` unless it has every column in `needed`, naming the ones it lacks."""
    have = set(present)
    missing = [column for column in needed if column not in have]
    if missing:
        raise _damaged_table_error(
            f"{path}: lacks the column(s) {', '.join(missing)} (written by another albumrec version, or "
            f"overwritten); {materialize_again(path, asset)}"
        )


def require_table_columns(path: UPath, needed: Iterable[str], asset: str | None = None) -> None:
    """`require_columns` against the columns the file at `path` holds, read from its footer only."""
    require_columns(path, parquet_columns(path, asset), needed, asset)


def read_parquet(path: UPath, asset: str | None = None, partition: str | None = None) -> pd.DataFrame:
    """The table at `path`; a document stored with it is in `frame.attrs[DOCUMENT_KEY]`.

    A file that is not a whole Parquet file raises DamagedTableError naming it and `asset`
    (default: worked out from `path`) as what to materialize again.
    """
    payload = path.read_bytes()
    with parquet_errors_named(path, asset, partition):
        table = pq.read_table(io.BytesIO(payload))
        frame = table.to_pandas()
    document = (table.schema.metadata or {}).get(DOCUMENT_KEY.encode())
    if document is not None:
        frame.attrs[DOCUMENT_KEY] = json.loads(document)
    return frame


def readable_by_all_the_umask_allows(path: Path | str) -> None:
    """Give a file made by `tempfile.mkstemp` (mode 0600) the mode an ordinary new file gets, so
    a webserver or daemon running as another user can read the table it becomes."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)
