"""Day-by-day record of recommended albums: what is new today, what was recommended before.

An album is identified by its release group (the edition-independent album), falling back to
the release for the rare release without one, the same identity the ranking uses.
"""

from __future__ import annotations

import pandas as pd

HISTORY_COLUMNS = [
    "recommended_on",
    "album_id",
    "rank",
    "album_title",
    "album_artist",
    "release_year",
    "predicted_liked_share",
    "mean_score",
    "first_recommended_on",
    "times_recommended_before",
    "is_new",
]


def album_ids(albums: pd.DataFrame) -> pd.Series:
    """The album identity of each ranking row: release group id, else release id."""
    return albums["release_group_id"].fillna(albums["release_id"]).astype("str")


def dated_recommendations(ranking: pd.DataFrame, day: str, earlier: pd.DataFrame) -> pd.DataFrame:
    """Today's recommended albums with how often and since when each was recommended on earlier days.

    `ranking`: the album_recommendations table (all candidates, a `recommended` column).
    `earlier`: rows of earlier days' tables (HISTORY_COLUMNS; may be empty). Days on or after `day`
    are ignored, so re-running a past day gives the answer that day would have given.
    """
    today = ranking[ranking["recommended"]].copy()
    today["album_id"] = album_ids(today)
    today = today.sort_values("rank").drop_duplicates("album_id")
    if earlier.empty:
        before = pd.DataFrame({"album_id": pd.Series(dtype="str"), "first": pd.Series(dtype="str"), "times": pd.Series(dtype="int64")})
    else:
        past = earlier[earlier["recommended_on"].astype("str") < day]
        before = (
            past.groupby("album_id", as_index=False)
            .agg(first=("recommended_on", "min"), times=("recommended_on", "nunique"))
            .astype({"album_id": "str", "first": "str", "times": "int64"})
        )
    table = today.merge(before, on="album_id", how="left")
    table["recommended_on"] = day
    table["is_new"] = table["first"].isna()
    table["first_recommended_on"] = table["first"].fillna(day).astype("str")
    table["times_recommended_before"] = table["times"].fillna(0).astype("int64")
    return table[HISTORY_COLUMNS].reset_index(drop=True)
