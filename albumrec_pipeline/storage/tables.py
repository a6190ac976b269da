"""Tables too large to hold in memory: written batch by batch, read batch by batch.

`StagedTable` is what an asset returns when its table is built from a stream (a dump archive,
a scan of the catalog): the asset appends Arrow batches to a Parquet file in local scratch
space, and the IO manager moves the finished file into the warehouse, the same atomic way it
writes every other table. Memory holds one batch, whatever the size of the table.

`TableFiles` is what an asset asks for (by annotating its input with it) when it reads such a
table: the IO manager hands over the Parquet files, one per partition for a partitioned
asset, instead of loading them, and the asset reads them in batches or lets DuckDB scan them.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from albumrec_pipeline.core.previews import PREVIEW_ROWS, arrow_table_schema, markdown_preview
from albumrec_pipeline.storage.atomic import parquet_errors_named, readable_by_all_the_umask_allows

if TYPE_CHECKING:
    from upath import UPath


class StagedTable:
    """A Parquet table being written, batch by batch, to a file in local scratch space."""

    def __init__(self, schema: pa.Schema, scratch_dir: Path | str, row_group_rows: int = 100_000):
        self.schema = schema
        self.row_group_rows = row_group_rows
        directory = Path(scratch_dir)
        directory.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=".staged-", suffix=".parquet", dir=directory)
        os.close(handle)
        readable_by_all_the_umask_allows(name)
        self.path = Path(name)
        # zstd: the feature tables are mostly floats that compress well and are read often.
        self._writer: pq.ParquetWriter | None = pq.ParquetWriter(self.path, schema, compression="zstd")
        self.rows = 0
        self._preview: list[pa.Table] = []
        self._preview_rows = 0

    @classmethod
    def from_path(cls, path: Path | str) -> StagedTable:
        """A table something else (DuckDB's COPY) already wrote, complete, into scratch space."""
        staged = cls.__new__(cls)
        staged.path = Path(path)
        metadata = pq.ParquetFile(staged.path)
        staged.schema = metadata.schema_arrow
        staged.row_group_rows = 0
        staged._writer = None
        staged.rows = metadata.metadata.num_rows
        head = metadata.read_row_group(0) if metadata.num_row_groups else staged.schema.empty_table()
        staged._preview = [head.slice(0, PREVIEW_ROWS)]
        staged._preview_rows = min(PREVIEW_ROWS, head.num_rows)
        return staged

    def write(self, batch: pa.Table | pa.RecordBatch | pd.DataFrame) -> None:
        if self._writer is None:
            raise RuntimeError(f"{self.path} is closed")
        if isinstance(batch, pd.DataFrame):
            table = pa.Table.from_pandas(batch, schema=self.schema, preserve_index=False)
        elif isinstance(batch, pa.RecordBatch):
            table = pa.Table.from_batches([batch])
        else:
            table = batch
        if table.schema != self.schema:
            table = table.select(self.schema.names).cast(self.schema)
        if table.num_rows == 0:
            return
        self._writer.write_table(table, row_group_size=self.row_group_rows)
        self.rows += table.num_rows
        if self._preview_rows < PREVIEW_ROWS:
            head = table.slice(0, PREVIEW_ROWS - self._preview_rows)
            self._preview.append(head)
            self._preview_rows += head.num_rows

    def close(self) -> StagedTable:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        return self

    def discard(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)

    def preview(self) -> pd.DataFrame:
        if not self._preview:
            return self.schema.empty_table().to_pandas()
        return pa.concat_tables(self._preview).to_pandas()

    def metadata(self) -> dict[str, Any]:
        return {
            "dagster/row_count": dg.MetadataValue.int(self.rows),
            "dagster/column_schema": arrow_table_schema(self.schema),
            "preview": dg.MetadataValue.md(markdown_preview(self.preview())),
        }


@dataclass(frozen=True)
class TableFiles:
    """The Parquet files of one table in the warehouse: one per partition, or the table's one file."""

    paths: tuple[UPath, ...]
    missing_partitions: tuple[str, ...] = ()

    def _files(self) -> Iterator[pq.ParquetFile]:
        for path in self.paths:
            with path.open("rb") as handle:
                # A damaged file fails on its footer, here: name it and what to materialize.
                with parquet_errors_named(path):
                    parquet = pq.ParquetFile(handle)
                yield parquet

    def row_count(self) -> int:
        return sum(parquet.metadata.num_rows for parquet in self._files())

    def column_names(self) -> list[str]:
        """The columns of the table's files (of all of them, in first-seen order)."""
        names: dict[str, None] = {}
        for parquet in self._files():
            names.update(dict.fromkeys(parquet.schema_arrow.names))
        return list(names)

    def iter_batches(self, batch_rows: int, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
        for parquet in self._files():
            yield from parquet.iter_batches(batch_size=batch_rows, columns=columns)

    def read(self, columns: list[str] | None = None) -> pd.DataFrame:
        """The whole table in memory: for the small ones (or small selections) only."""
        tables = [parquet.read(columns=columns) for parquet in self._files()]
        if not tables:
            raise FileNotFoundError("the table has no materialized files")
        return pa.concat_tables(tables, promote_options="default").to_pandas()

    def locations(self) -> list[str]:
        """Paths or URLs for an engine that reads Parquet itself (DuckDB)."""
        return [path.as_posix() if path.protocol in ("", "file", "local") else str(path) for path in self.paths]


@dataclass(frozen=True)
class PresentTableFiles(TableFiles):
    """The files of whichever of the requested partitions exist, possibly none: for an asset that
    reads its own earlier partitions, where the first day has no history and missed days are gaps."""

