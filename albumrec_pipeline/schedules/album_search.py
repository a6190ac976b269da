"""The scheduled album search: re-rank the catalog and record the day's recommendations.

Daily at 06:00 by default; `ALBUMREC_ALBUM_SEARCH_CRON` (any cron expression) and
`ALBUMREC_TIMEZONE` change when. Each tick materializes the partition for its own date, so a
weekly cron gives one dated partition a week.
"""

import os

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

CRON_ENV_VAR = "ALBUMREC_ALBUM_SEARCH_CRON"
TIMEZONE_ENV_VAR = "ALBUMREC_TIMEZONE"
DEFAULT_CRON = "0 6 * * *"


def build_album_search_schedule(
    job: UnresolvedAssetJobDefinition,
    cron: str | None = None,
    timezone: str | None = None,
    default_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.RUNNING,
) -> dg.ScheduleDefinition:
    cron = cron or os.environ.get(CRON_ENV_VAR, "").strip() or DEFAULT_CRON
    timezone = timezone or os.environ.get(TIMEZONE_ENV_VAR, "").strip() or "UTC"

    @dg.schedule(
        name="daily_album_search",
        cron_schedule=cron,
        execution_timezone=timezone,
        job=job,
        default_status=default_status,
        description=f"Re-runs the album search ({cron}, {timezone}) and keeps the day's recommendations as a partition.",
    )
    def daily_album_search(context: dg.ScheduleEvaluationContext):
        tick = context.scheduled_execution_time
        # The tick's time, not its day, is the run key: a cron of several runs a day runs each of them
        # (into the same day's partition, which the last one leaves).
        return dg.RunRequest(
            run_key=tick.isoformat(), partition_key=tick.strftime("%Y-%m-%d"), tags={"albumrec/trigger": "schedule"}
        )

    return daily_album_search
