"""Whether the ranking in the warehouse is current: made after everything it is made from.

A run that fails (or is still going) part way leaves the tables before the failing step newer
than the ranking, and the ranking and model as the last good run left them. So the ranking is
current exactly when no table it derives from was written after it: the rule `make` applies to
files. The time of a table is that of its Parquet file (for an artifact, the summary, which is
written last), or of its newest partition file.

A model the guard refuses (`core.model_guard`) is never stored: the ranking stays that of the
previous model, and the refusal, with the listener's message, is recorded beside it
(`preference_model.refused.json`). When that refusal is the latest attempt to train (no model,
and none of the tables a model is trained from, written since), the status says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from upath import UPath

RANKING = "album_recommendations"
MODEL = "preference_model"
# The catalog tables the ingest jobs write.
CATALOG_TABLES = (
    "acousticbrainz_lowlevel",
    "acousticbrainz_highlevel",
    "musicbrainz_releases",
    "musicbrainz_tracks",
    "musicbrainz_release_group_tags",
    "musicbrainz_artist_tags",
)
# Made from the catalog tables alone (one chosen submission per recording), by the album search too.
COMPACTED_FEATURES = "recording_features"
# The assets the ranking is made from: its ancestors in the asset graph (a test holds this list
# to the graph). Kept here so that `albumrec top` answers without loading the code location.
RANKING_UPSTREAM = (
    "liked_tracks",
    "raw_track_features",
    "background_tracks",
    "cleaned_dataset",
    "feature_scaler",
    "preference_model",
    *CATALOG_TABLES,
    COMPACTED_FEATURES,
    "candidate_albums",
    "candidate_track_features",
    "track_scores",
)
# What preference_model is trained from.
MODEL_INPUTS = ("liked_tracks", "raw_track_features", "background_tracks", "cleaned_dataset", "feature_scaler")
# A model the guard refused (core.model_guard), recorded beside the last good one: its message and figures.
REFUSAL_FILE = "preference_model.refused.json"


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
    # The latest attempt to train, when the guard refused it: (when, the listener's message).
    refused: tuple[float, str] | None = None
    # Whether a table the model is trained from was written after the model.
    model_behind_inputs: bool = False

    @property
    def current(self) -> bool:
        return not self.newer

    def describe(self) -> str:
        made = _when(self.ranking_written)
        if self.current:
            refused = (
                ""
                if self.refused is None
                else f" The latest attempt to train a model, at {_when(self.refused[0])}, was refused, and this ranking "
                f"is from the previous model. {self.refused[1]}"
            )
            return f"This ranking is current: made {made}, after every table it is made from.{refused}"
        names = [name for name, _ in self.newer]
        catalog_only = all(name in (*CATALOG_TABLES, COMPACTED_FEATURES) for name in names)
        model = "" if self.model_written is None else f", by the model trained {_when(self.model_written)}"
        reason = (
            "new catalog data has been ingested since; run album_search to rank it"
            if catalog_only
            else "a later run wrote them and did not get as far as the ranking (it failed, or is still running); "
            "see the run in the Dagster UI, then materialize refresh_from_liked_list again"
        )
        if self.refused is not None:
            reason = (
                f"the latest attempt to train a model, at {_when(self.refused[0])}, was refused, and this ranking is "
                f"from the previous model. {self.refused[1]}"
            )
        behind = (
            " This ranking is from the previous model: no model has been trained on the newer tables."
            if self.model_behind_inputs and self.refused is None
            else ""
        )
        return (
            f"This ranking is NOT current: it was made {made}{model}, before {', '.join(names)} "
            f"(written {_when(self.newer[-1][1])}): {reason.rstrip('.')}.{behind}"
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
    inputs = max((times[asset] for asset in MODEL_INPUTS if times[asset] is not None), default=None)
    behind = inputs is not None and (times[MODEL] is None or inputs > times[MODEL])
    return RankingStatus(ranking, times[MODEL], tuple(newer), latest_refusal(warehouse, times), behind)


def read_refusal(warehouse: UPath) -> Mapping[str, object] | None:
    """The recorded refusal of a model (its message and figures), None when there is none or it is unreadable."""
    try:
        record = json.loads((warehouse / REFUSAL_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def latest_refusal(warehouse: UPath, times: Mapping[str, float | None] | None = None) -> tuple[float, str] | None:
    """When the guard refused a model and what it said, if that was the latest attempt to train: no
    model, and none of the tables a model is trained from, written since."""
    path = warehouse / REFUSAL_FILE
    if not path.exists():
        return None
    refused = path.stat().st_mtime
    times = times if times is not None else {asset: last_written(warehouse, asset) for asset in (*MODEL_INPUTS, MODEL)}
    if any(times.get(asset) is not None and times[asset] > refused for asset in (*MODEL_INPUTS, MODEL)):
        return None
    record = read_refusal(warehouse)
    message = record.get("message") if record else None
    return refused, str(message or "The model did not pass the model guard; see preference_model's run in the Dagster UI.")
