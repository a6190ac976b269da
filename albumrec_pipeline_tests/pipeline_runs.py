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


# A network trained briefly, one member: for tests about files and runs, not about taste.
QUICK_TRAINING = {"epochs": 10, "ensemble_size": 1, "evaluate_every": 5}


def recommend_run_config(liked_tracks: Path, feedback: Path, **ops: dict) -> dg.RunConfig:
    """Run config of recommend_albums for this list, with a quickly trained network (and `ops` on top)."""
    return dg.RunConfig(
        {
            "liked_tracks": {"config": {"csv_path": str(liked_tracks), "feedback_csv_path": str(feedback)}},
            "preference_model": {"config": dict(QUICK_TRAINING)},
            **ops,
        }
    )


def build_small_warehouse(root: Path, assets: tuple[str, ...] | None = None, **ops: dict) -> tuple[DemoWorldPaths, dg.Definitions]:
    """The small demo world under `root/world`, ingested, and recommend_albums (or these of its
    assets) materialized into `root/warehouse`."""
    from albumrec_pipeline.demo.world import DemoWorldSpec, build_demo_world, write_demo_world

    paths = write_demo_world(build_demo_world(DemoWorldSpec.small()), root / "world")
    defs = definitions_for(paths, root / "warehouse", root / "scratch")
    with dg.DagsterInstance.ephemeral() as instance:
        assert all(run.success for run in ingest_every_partition(defs, instance))
        result = defs.resolve_job_def("recommend_albums").execute_in_process(
            run_config=recommend_run_config(paths.liked_tracks_path, root / "no_feedback.csv", **ops),
            instance=instance,
            asset_selection=None if assets is None else [dg.AssetKey(name) for name in assets],
        )
    assert result.success
    return paths, defs
