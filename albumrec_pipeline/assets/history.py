"""The album search's dated record: one partition per day the search ran.

`album_recommendations` always holds the latest ranking; `recommendation_history` keeps each
day's recommended albums as that day's partition, so users can see what was new on which day.
An album recommended on an earlier day is flagged (`is_new` false, with the day it was first
recommended and how many days it was recommended before), not presented as new again.
"""

import warnings

import dagster as dg
import pandas as pd

from albumrec_pipeline.core.history import dated_recommendations
from albumrec_pipeline.core.previews import markdown_preview
from albumrec_pipeline.settings import TIMEZONE
from albumrec_pipeline.storage.tables import PresentTableFiles, TableFiles

GROUP = "recommend"
# The first day a partition exists; the schedule fills today's partition on each tick.
HISTORY_START = "2026-01-01"
# How far back "recommended before" looks: a year of daily partitions. Reading every earlier day
# keeps each partition a plain record of its own day, and a missed day is only a gap.
LOOKBACK_DAYS = 366


def daily_partitions_def(timezone: str) -> dg.DailyPartitionsDefinition:
    """Days in the listener's time zone, so that a partition's date is their day and the schedule's
    ticks (in the same zone, `ALBUMREC_TIMEZONE`) always land in an existing partition. In UTC, a
    06:00 tick in Tokyo would name a day that in UTC has not begun yet.

    end_offset=1: today is a partition already (by default a day becomes one when it has ended),
    so a search run in the morning is recorded under its own date.
    """
    return dg.DailyPartitionsDefinition(start_date=HISTORY_START, end_offset=1, timezone=timezone)


daily_partitions = daily_partitions_def(TIMEZONE)

with warnings.catch_warnings():
    # Marked beta in 1.13; without it the first day's partition would have no valid upstream.
    warnings.simplefilter("ignore", dg.BetaWarning)
    EARLIER_DAYS = dg.TimeWindowPartitionMapping(
        start_offset=-LOOKBACK_DAYS, end_offset=-1, allow_nonexistent_upstream_partitions=True
    )


@dg.asset(
    group_name=GROUP,
    kinds={"pandas", "parquet"},
    code_version="1",
    partitions_def=daily_partitions,
    ins={
        "earlier_days": dg.AssetIn("recommendation_history", partition_mapping=EARLIER_DAYS)
    },
)
def recommendation_history(
    context: dg.AssetExecutionContext, album_recommendations: TableFiles, earlier_days: PresentTableFiles
) -> pd.DataFrame:
    """The day's recommended albums (the partition is the day), each flagged new or recommended
    before: `is_new`, `first_recommended_on`, `times_recommended_before`."""
    day = context.partition_key
    ranking = album_recommendations.read()
    earlier = earlier_days.read() if earlier_days.paths else pd.DataFrame()
    table = dated_recommendations(ranking, day, earlier)
    new = table[table["is_new"]]
    context.add_output_metadata(
        {
            "albums_recommended": len(table),
            "new_albums": len(new),
            "recommended_before": int((~table["is_new"]).sum()),
            "earlier_days_read": len(earlier_days.paths),
            "new_today": dg.MetadataValue.md(
                markdown_preview(new[["rank", "album_title", "album_artist", "release_year", "predicted_liked_share"]].head(10))
            ),
        }
    )
    return table
