"""Atomic writes for local paths and fsspec URLs alike.

A reader (or a crash) must never see half a file: each write goes to a temporary name in the
same directory and is renamed over the target only once complete. On a local filesystem the
rename is atomic; on object stores (s3://, gs://) a single PUT is atomic already and the
rename is a server-side copy of a complete object.
"""

from __future__ import annotations

import io
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from upath import UPath


def atomic_write_bytes(path: UPath, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
    try:
        temporary.write_bytes(payload)
        temporary.rename(path)
    finally:
        if temporary.exists():
            temporary.unlink()


def is_local(path: UPath) -> bool:
    return path.protocol in ("", "file", "local")


def atomic_move_file(source: Path, path: UPath) -> None:
    """Move a finished local file to `path` (local or remote) so that it appears complete or not at all.

    On the same local filesystem this is two renames and copies nothing, which matters for
    tables of gigabytes; to an object store it is one upload to a temporary key and a rename.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
    try:
        if is_local(path):
            shutil.move(source, Path(temporary.path))
        else:
            path.fs.put_file(str(source), temporary.path)
            source.unlink()
        temporary.rename(path)
    finally:
        if temporary.exists():
            temporary.unlink()
        source.unlink(missing_ok=True)


def dataframe_to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
    return buffer.getvalue()


def write_parquet_atomic(frame: pd.DataFrame, path: UPath) -> None:
    atomic_write_bytes(path, dataframe_to_parquet_bytes(frame))


def read_parquet(path: UPath) -> pd.DataFrame:
    return pq.read_table(io.BytesIO(path.read_bytes())).to_pandas()
