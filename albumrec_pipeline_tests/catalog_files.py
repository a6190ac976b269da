"""Turn dump archives into catalog Parquet files with the core functions alone (no Dagster)."""

from __future__ import annotations

from pathlib import Path

from albumrec_pipeline.core.archives import ArchiveStream, find_archives
from albumrec_pipeline.core.catalog import parquet_source
from albumrec_pipeline.core.feature_dumps import TABLE_SCHEMAS, IngestCounts, ingest_feature_archive
from albumrec_pipeline.core.releases import (
    CATALOG_TRACK_SCHEMA,
    RELEASE_SCHEMA,
    ReleaseIngestCounts,
    ingest_release_archive,
)
from albumrec_pipeline.storage.tables import StagedTable


def ingest_feature_folder(folder: Path, out: Path, batch_rows: int = 20_000) -> dict[str, list[str]]:
    """`lowlevel` and `highlevel` Parquet files, one per archive in `folder`."""
    files: dict[str, list[str]] = {"lowlevel": [], "highlevel": []}
    for key, archive in find_archives(folder).items():
        staged = {kind: StagedTable(schema, out / "scratch") for kind, schema in TABLE_SCHEMAS.items()}
        ingest_feature_archive(ArchiveStream(archive), lambda kind, batch: staged[kind].write(batch), IngestCounts(), batch_rows)
        for kind, table in staged.items():
            target = out / kind / f"{key}.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            table.close().path.rename(target)
            files[kind].append(str(target))
    return files


def ingest_release_file(archive: Path, out: Path) -> dict[str, list[str]]:
    staged = {"releases": StagedTable(RELEASE_SCHEMA, out / "scratch"), "tracks": StagedTable(CATALOG_TRACK_SCHEMA, out / "scratch")}
    ingest_release_archive(ArchiveStream(archive), lambda table, batch: staged[table].write(batch), ReleaseIngestCounts())
    files = {}
    for name, table in staged.items():
        target = out / name / "release.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        table.close().path.rename(target)
        files[name] = [str(target)]
    return files


def sources(files: dict[str, list[str]]) -> dict[str, str]:
    return {name: parquet_source(paths) for name, paths in files.items()}
