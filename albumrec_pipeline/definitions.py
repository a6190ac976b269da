"""The one Definitions object of the albumrec code location."""

from __future__ import annotations

import dagster as dg

from albumrec_pipeline.assets import ingest, model, recommend
from albumrec_pipeline.resources.source_selection import source_kind, source_resources
from albumrec_pipeline.storage.parquet_io_manager import ParquetWarehouse

all_assets = dg.load_assets_from_modules([ingest, model, recommend])

recommend_albums_job = dg.define_asset_job(
    "recommend_albums",
    selection=dg.AssetSelection.all(),
    description="Materialize the whole graph: features, model, reports and album recommendations.",
    # The console shows albumrec's own progress lines; every event is still in the run's log.
    config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
)

defs = dg.Definitions(
    assets=all_assets,
    jobs=[recommend_albums_job],
    # ALBUMREC_SOURCE picks where features and tracklists come from: demo (default), dump or live.
    resources={"io_manager": ParquetWarehouse(), **source_resources(source_kind())},
)
