"""Whether the ranking in the warehouse is current: made after everything it is made from.

A run that fails (or is still going) part way leaves the tables before the failing step newer
than the ranking, and the ranking and model as the last good run left them. So the ranking is
current exactly when no table it derives from was written after it: the rule `make` applies to
files. The time of a table is that of its Parquet file (for an artifact, the summary, which is
written last), or of its newest partition file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from upath import UPath

RANKING = "album_recommendations"
MODEL = "preference_model"
# The assets the ranking is made from: its ancestors in the asset graph (a test holds this list
# to the graph). Kept here so that `albumrec top` answers without loading the code location.
RANKING_UPSTREAM = (
    "liked_tracks",
    "raw_track_features",
    "cleaned_dataset",
    "feature_scaler",
    "preference_model",
    "acousticbrainz_lowlevel",
    "acousticbrainz_highlevel",
    "musicbrainz_releases",
    "musicbrainz_tracks",
    "candidate_albums",
    "candidate_track_features",
    "track_scores",
)
CATALOG_TABLES = ("acousticbrainz_lowlevel", "acousticbrainz_highlevel", "musicbrainz_releases", "musicbrainz_tracks")


def last_written(warehouse: UPath, asset: str) -> float | None:
    """When the asset's table was last written (seconds since the epoch), None if it never was."""
    table = warehouse / f"{asset}.parquet"
    if table.exists():
        return table.stat().st_mtime
    folder = warehouse / asset
    if folder.is_dir():
        times = [part.stat().st_mtime for part in folder.glob("*.parquet")]
        return max(times, default=None)
    return None


@dataclass(frozen=True)
class RankingStatus:
    ranking_written: float
    model_written: float | None
    # Upstream assets written after the ranking, oldest first, with their times.
    newer: tuple[tuple[str, float], ...]

    @property
    def current(self) -> bool:
        return not self.newer

    def describe(self) -> str:
        made = _when(self.ranking_written)
        if self.current:
            return f"This ranking is current: made {made}, after every table it is made from."
        names = [name for name, _ in self.newer]
        catalog_only = all(name in CATALOG_TABLES for name in names)
        model = "" if self.model_written is None else f", by the model trained {_when(self.model_written)}"
        reason = (
            "new catalog data has been ingested since; run album_search to rank it"
            if catalog_only
            else "a later run wrote them and did not get as far as the ranking (it failed, or is still running); "
            "see the run in the Dagster UI, then materialize refresh_from_liked_list again"
        )
        return (
            f"This ranking is NOT current: it was made {made}{model}, before {', '.join(names)} "
            f"(written {_when(self.newer[-1][1])}): {reason}."
        )


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ranking_status(warehouse: UPath) -> RankingStatus | None:
    """The ranking's status, None when there is no ranking."""
    ranking = last_written(warehouse, RANKING)
    if ranking is None:
        return None
    times = {asset: last_written(warehouse, asset) for asset in RANKING_UPSTREAM}
    newer = sorted(((asset, time) for asset, time in times.items() if time is not None and time > ranking), key=lambda item: item[1])
    return RankingStatus(ranking, times[MODEL], tuple(newer))
