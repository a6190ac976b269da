"""Materialize the whole graph on a demo world the way `albumrec materialize` does, in process."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd

from albumrec_pipeline.definitions import INGEST_JOBS, build_definitions
from albumrec_pipeline.demo.world import DemoWorldPaths


def definitions_for(paths: DemoWorldPaths, warehouse: Path, scratch: Path) -> dg.Definitions:
    return build_definitions(paths.acousticbrainz_dumps, paths.musicbrainz_dumps, str(warehouse), scratch)


def ingest_every_partition(defs: dg.Definitions, instance: dg.DagsterInstance) -> list[dg.ExecuteInProcessResult]:
    results = []
    for job_name in INGEST_JOBS:
        job = defs.resolve_job_def(job_name)
        for key in job.partitions_def.get_partition_keys():
            results.append(job.execute_in_process(partition_key=key, instance=instance))
    return results


def warehouse_tables(warehouse: Path) -> dict[str, pd.DataFrame]:
    """Every table in the warehouse; a partitioned one is its partitions' files together."""
    tables = {path.stem: pd.read_parquet(path) for path in warehouse.glob("*.parquet")}
    for folder in sorted(path for path in warehouse.iterdir() if path.is_dir() and path.name not in tables):
        parts = sorted(folder.glob("*.parquet"))
        if parts:
            tables[folder.name] = pd.concat([pd.read_parquet(part) for part in parts], ignore_index=True)
    return tables
