"""MusicBrainz release documents -> tracklist rows, recording metadata and album candidates.

A release document is what WS/2 returns for `release/<id>?inc=recordings+artist-credits+
release-groups` and what each line of the MusicBrainz JSON dump's `mbdump/release` holds:
`media[].tracks[].recording`, `artist-credit`, `release-group`, `date`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

TRACK_COLUMNS: list[str] = [
    "release_id",
    "release_group_id",
    "album_title",
    "album_artist",
    "release_date",
    "release_year",
    "primary_type",
    "status",
    "medium_position",
    "track_position",
    "recording_id",
    "recording_title",
    "recording_artist",
    "recording_year",
]

_YEAR = re.compile(r"^(\d{4})")


class ReleaseDocumentError(ValueError):
    """A release document lacks the structure a tracklist needs."""


def year_of(date: Any) -> int | None:
    """The year of a MusicBrainz partial date ("1973", "1973-03", "1973-03-24"); None when unknown."""
    if not isinstance(date, str):
        return None
    match = _YEAR.match(date)
    return int(match.group(1)) if match else None


def credited_name(artist_credit: Any) -> str | None:
    """The display name of an artist credit: each credited name followed by its join phrase."""
    if not isinstance(artist_credit, list) or not artist_credit:
        return None
    parts = []
    for credit in artist_credit:
        if not isinstance(credit, Mapping):
            return None
        name = credit.get("name") or (credit.get("artist") or {}).get("name")
        if not isinstance(name, str):
            return None
        parts.append(name + (credit.get("joinphrase") or ""))
    return "".join(parts).strip() or None


def release_track_rows(release: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per track of a release, in medium and track order."""
    release_id = release.get("id")
    media = release.get("media")
    if not isinstance(release_id, str) or not isinstance(media, list):
        raise ReleaseDocumentError(f"release {release_id!r}: needs an 'id' and a 'media' list")
    group = release.get("release-group") or {}
    album_artist = credited_name(release.get("artist-credit")) or credited_name(group.get("artist-credit"))
    release_date = release.get("date") if isinstance(release.get("date"), str) else None
    release_year = year_of(release_date) or year_of(group.get("first-release-date"))
    rows = []
    for medium in media:
        tracks = medium.get("tracks") if isinstance(medium, Mapping) else None
        if tracks is None:
            # Search results carry "track" (singular) and no recordings: not a tracklist.
            raise ReleaseDocumentError(f"release {release_id}: medium without 'tracks'")
        for track in tracks:
            recording = track.get("recording") or {}
            recording_id = recording.get("id")
            if not isinstance(recording_id, str):
                raise ReleaseDocumentError(f"release {release_id}: track {track.get('id')} has no recording id")
            rows.append(
                {
                    "release_id": release_id,
                    "release_group_id": group.get("id"),
                    "album_title": release.get("title"),
                    "album_artist": album_artist,
                    "release_date": release_date,
                    "release_year": release_year,
                    "primary_type": group.get("primary-type"),
                    "status": release.get("status"),
                    "medium_position": medium.get("position"),
                    "track_position": track.get("position"),
                    "recording_id": recording_id,
                    "recording_title": recording.get("title") or track.get("title"),
                    "recording_artist": credited_name(recording.get("artist-credit"))
                    or credited_name(track.get("artist-credit"))
                    or album_artist,
                    "recording_year": year_of(recording.get("first-release-date")) or release_year,
                }
            )
    return rows


def tracklist_table(releases: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    rows = [row for release in releases for row in release_track_rows(release)]
    table = pd.DataFrame(rows, columns=TRACK_COLUMNS)
    for column in ("release_year", "recording_year", "medium_position", "track_position"):
        table[column] = table[column].astype("Int64")
    return table


def recording_metadata(tracklists: pd.DataFrame, recording_ids: Iterable[str]) -> pd.DataFrame:
    """Release year, titles and artist for each recording, from its earliest release.

    A recording often sits on an album, singles and compilations; the earliest release (ties
    broken by release id, so the choice is deterministic) is the one its listener knows.
    """
    wanted = tracklists[tracklists["recording_id"].isin(set(recording_ids))]
    earliest = wanted.sort_values(
        ["recording_id", "release_date", "release_id"], na_position="last"
    ).drop_duplicates("recording_id")
    return pd.DataFrame(
        {
            "mbid": earliest["recording_id"],
            "artist": earliest["recording_artist"],
            "release_year": earliest["recording_year"],
            "release_title": earliest["album_title"],
            "recording_title": earliest["recording_title"],
        }
    ).reset_index(drop=True)


def candidate_tracklists(
    tracklists: pd.DataFrame, labelled_recordings: Iterable[str], primary_types: tuple[str, ...] = ("Album",)
) -> pd.DataFrame:
    """Tracklists of releases of the wanted type that hold none of the listener's labelled recordings."""
    labelled = set(labelled_recordings)
    touched = tracklists.loc[tracklists["recording_id"].isin(labelled), "release_id"].unique()
    keep = ~tracklists["release_id"].isin(touched) & tracklists["primary_type"].isin(primary_types)
    return tracklists[keep].reset_index(drop=True)
