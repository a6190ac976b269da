"""The scheduled album search: re-rank the catalog and record the day's recommendations.

Daily at 06:00 by default; `ALBUMREC_ALBUM_SEARCH_CRON` (any cron expression that fires) and
`ALBUMREC_TIMEZONE` change when, both checked in `settings`. Each tick materializes the partition
of its own local date, so a weekly cron gives one dated partition a week.
"""

import datetime as dt
from typing import Any

import dagster as dg

from albumrec_pipeline.assets.history import daily_partitions
from albumrec_pipeline.settings import ALBUM_SEARCH_CRON

# What `dg.define_asset_job` returns: a job the Definitions resolve, of a class Dagster does not export.
AssetJob = Any


def build_album_search_schedule(
    job: AssetJob,
    cron: str | None = None,
    partitions_def: dg.TimeWindowPartitionsDefinition = daily_partitions,
    default_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.RUNNING,
) -> dg.ScheduleDefinition:
    """The schedule of the job whose dated partitions are `partitions_def`'s.

    The ticks keep the partitions' time zone rather than one of their own: a tick in another zone
    can fall on a date the partitions do not have yet (06:00 in Tokyo is the day before in UTC).
    """
    cron = cron or ALBUM_SEARCH_CRON
    timezone = partitions_def.timezone

    @dg.schedule(
        name="daily_album_search",
        cron_schedule=cron,
        execution_timezone=timezone,
        job=job,
        default_status=default_status,
        description=f"Re-runs the album search ({cron}, {timezone}) and keeps the day's recommendations as a partition.",
    )
    def daily_album_search(context: dg.ScheduleEvaluationContext):
        tick = context.scheduled_execution_time or dt.datetime.now(dt.timezone.utc)
        if tick < partitions_def.start:
            return dg.SkipReason(f"{tick.isoformat()} is before the history's first day, {partitions_def.start.date()}")
        # The tick's time, not its day, is the run key: a cron of several runs a day runs each of them
        # (into the same day's partition, which the last one leaves).
        return dg.RunRequest(
            run_key=tick.isoformat(),
            partition_key=partitions_def.get_partition_key_for_timestamp(tick.timestamp()),
            tags={"albumrec/trigger": "schedule"},
        )

    return daily_album_search
