"""Group `ingest`: the compacted feature table, one chosen AcousticBrainz submission per recording.

The JSON dumps are written in submission order, so a recording's submissions (about four on
average, many more for popular ones) are spread over every archive of a kind, and the
per-archive catalog tables hold nearly all of them. `recording_features` chooses once, after
ingest, what `core.catalog` would otherwise choose again in every query: the lowest-offset
submission with the low-level columns, joined with the recording's lowest-offset high-level
document. The candidates and the listener's lookups read it instead of the raw tables.

It is rebuilt whole whenever an archive partition changes. A recording's submissions may sit in
any archive, so a re-ingested archive can change the choice for recordings whose other rows
are elsewhere: an incremental update would scan every archive for those recordings anyway.
The full rebuild chooses on ids and offsets, then sorts the chosen rows, all of which DuckDB
runs out of core in a bounded memory; `benchmarks/catalog.py` measures it at 1M to 10M
submissions.
"""

import time

import dagster as dg

from albumrec_pipeline.automation import UPDATE_WHEN_UPSTREAM_CHANGES
from albumrec_pipeline.core.catalog import (
    RECORDING_FEATURES_TABLE,
    compact_recording_features,
    parquet_source,
)
from albumrec_pipeline.core.feature_columns import HIGHLEVEL_COLUMNS
from albumrec_pipeline.core.previews import rounded
from albumrec_pipeline.resources.dumps import CatalogEngine
from albumrec_pipeline.storage.tables import StagedTable, TableFiles

GROUP = "ingest"


@dg.asset(
    name=RECORDING_FEATURES_TABLE,
    group_name=GROUP,
    kinds={"duckdb", "parquet"},
    code_version="1",
    automation_condition=UPDATE_WHEN_UPSTREAM_CHANGES,
)
def recording_features(
    context: dg.AssetExecutionContext,
    acousticbrainz_lowlevel: TableFiles,
    acousticbrainz_highlevel: TableFiles,
    catalog_engine: CatalogEngine,
) -> StagedTable:
    """One row per recording with low-level features, sorted by recording id: its chosen low-level
    submission (lowest offset with every column; failing that, the compact CSV columns) and its
    lowest-offset high-level document, whose columns stay empty when it has none."""
    started = time.perf_counter()
    connection = catalog_engine.connect(acousticbrainz_lowlevel, acousticbrainz_highlevel)
    try:
        destination = catalog_engine.staged_file()
        recordings = compact_recording_features(
            connection, acousticbrainz_lowlevel.locations(), acousticbrainz_highlevel.locations(), destination
        )
        with_highlevel = connection.execute(
            f"SELECT count(*) FROM {parquet_source([destination.as_posix()])} "
            f"WHERE {HIGHLEVEL_COLUMNS[0]} IS NOT NULL"
        ).fetchone()[0]
    finally:
        connection.close()
    submissions = acousticbrainz_lowlevel.row_count()
    seconds = time.perf_counter() - started
    context.log.info(
        f"{recordings:,} recordings chosen from {submissions:,} low-level rows "
        f"and {acousticbrainz_highlevel.row_count():,} high-level rows in {seconds:.1f} s"
    )
    context.add_output_metadata(
        {
            "recordings": recordings,
            "recordings_with_highlevel": int(with_highlevel),
            "lowlevel_rows_read": submissions,
            "highlevel_rows_read": acousticbrainz_highlevel.row_count(),
            "lowlevel_rows_per_recording": rounded(submissions / max(recordings, 1)),
            "seconds": rounded(seconds),
        }
    )
    return StagedTable.from_path(destination)
