"""The listener's input list: recording MBIDs labelled liked (1) or disliked (0)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd

REQUIRED_COLUMNS = ("mbid", "liked")


class LikedTracksError(ValueError):
    """The liked/disliked list cannot be used as it is; the message says where and why."""


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36


def validate_liked_tracks(frame: pd.DataFrame, source: str = "liked list") -> pd.DataFrame:
    """Check and normalise a liked list; return columns `mbid` (lower-case str) and `liked` (int8).

    Rows are numbered as a spreadsheet shows them: the header is row 1, the first entry row 2.
    A recording listed twice with the same label is kept once; with two labels it is an error,
    because albumrec cannot guess which one the listener meant.
    """
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise LikedTracksError(
            f"{source}: missing column(s) {missing}; expected a header 'mbid,liked', found {list(frame.columns)}"
        )
    if frame.empty:
        raise LikedTracksError(f"{source}: has a header but no rows")
    mbids = frame["mbid"].astype("str").str.strip().str.lower()
    bad_ids = [index + 2 for index, value in enumerate(mbids) if not _is_uuid(value)]
    if bad_ids:
        raise LikedTracksError(f"{source}: rows {_row_list(bad_ids)} do not hold a MusicBrainz recording id (UUID)")
    labels = frame["liked"].astype("str").str.strip()
    bad_labels = [index + 2 for index, value in enumerate(labels) if value not in ("0", "1")]
    if bad_labels:
        raise LikedTracksError(f"{source}: rows {_row_list(bad_labels)} have a 'liked' value other than 0 or 1")
    table = pd.DataFrame({"mbid": mbids, "liked": labels.astype("int8")})
    label_counts = table.groupby("mbid")["liked"].nunique()
    conflicting = label_counts[label_counts > 1].index.tolist()
    if conflicting:
        raise LikedTracksError(f"{source}: recordings labelled both liked and disliked: {conflicting[:10]}")
    table = table.drop_duplicates("mbid").reset_index(drop=True)
    if table["liked"].nunique() < 2:
        raise LikedTracksError(f"{source}: every row has liked={table['liked'].iloc[0]}; a taste needs both 1s and 0s")
    return table


def read_liked_tracks(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise LikedTracksError(f"{path}: no such file; point the liked_tracks asset's config at your 'mbid,liked' CSV")
    try:
        # utf-8-sig accepts a byte-order mark from spreadsheet exports.
        frame = pd.read_csv(path, dtype="str", keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError as error:
        raise LikedTracksError(f"{path}: the file is empty") from error
    frame.columns = [str(column).strip().lower() for column in frame.columns]
    return validate_liked_tracks(frame, source=str(path))


def _row_list(rows: list[int], limit: int = 10) -> str:
    shown = ", ".join(str(row) for row in rows[:limit])
    return shown + (f" and {len(rows) - limit} more" if len(rows) > limit else "")
