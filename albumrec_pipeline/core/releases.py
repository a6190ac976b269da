"""MusicBrainz release documents -> tracklist rows, recording metadata and album candidates.

A release document is what WS/2 returns for `release/<id>?inc=recordings+artist-credits+
release-groups` and what each line of the MusicBrainz JSON dump's `mbdump/release` holds:
`media[].tracks[].recording`, `artist-credit`, `release-group`, `date`. A medium may also carry a
`pregap` (one track, position 0) and `data-tracks` (positions after the audio tracks), and it has
no `tracks` key at all when it has no audio tracks.

The dump is read into two tables: `releases` (one row per release: ids, title, credit, date,
status, types, and the MusicBrainz tags of the release, its release group and its credited
artists) and `tracks` (one row per track: release, position, recording, the recording's tags).
A tracklist row (`TRACK_COLUMNS`) is the two joined, which is what the live catalog produces
directly. The tag columns are raw tag strings (see `core.musicbrainz_tags`); a malformed tag
list costs only that entity's tags, never the release.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa

from albumrec_pipeline.core.archives import ArchiveMember, DumpReadCounts, dump_member_lines
from albumrec_pipeline.core.musicbrainz_tags import release_tag_columns, tags_text

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

# The dump's two tables. Artist ids are the credited artists' MBIDs joined by ";".
RELEASE_COLUMNS: list[str] = [
    "release_id",
    "release_group_id",
    "album_title",
    "album_artist",
    "album_artist_ids",
    "release_date",
    "release_year",
    "release_group_year",
    "status",
    "primary_type",
    "secondary_types",
    "release_tags",
    "release_group_tags",
    "artist_tags",
]
CATALOG_TRACK_COLUMNS: list[str] = [
    "release_id",
    "medium_position",
    "track_position",
    "recording_id",
    "recording_title",
    "recording_artist",
    "recording_artist_ids",
    "recording_year",
    "track_kind",
    "recording_tags",
]
# `track_kind` of a track row. Data tracks (enhanced-CD video or computer data) are catalogued
# like any other recording, but they should not count toward an album's `tracks` in the ranking:
# they are rarely music, AcousticBrainz almost never has features for them, so counting them
# would pad short albums past the track-count threshold while lowering their feature coverage.
# The pregap is a hidden audio track and counts. Excluding data tracks is left to the catalog
# queries (`track_kind IS DISTINCT FROM 'data'`, which also keeps rows of partitions written
# before the column existed); `TRACK_COLUMNS` stays as it was so those older partitions and the
# live tracklists keep the same shape.
AUDIO_TRACK, PREGAP_TRACK, DATA_TRACK = "audio", "pregap", "data"
_INTEGER_COLUMNS = {"release_year", "release_group_year", "recording_year", "medium_position", "track_position"}


def _arrow_schema(columns: list[str]) -> pa.Schema:
    return pa.schema([pa.field(column, pa.int32() if column in _INTEGER_COLUMNS else pa.string()) for column in columns])


RELEASE_SCHEMA = _arrow_schema(RELEASE_COLUMNS)
CATALOG_TRACK_SCHEMA = _arrow_schema(CATALOG_TRACK_COLUMNS)
# Where the release documents sit in the MusicBrainz JSON dump's `release.tar.xz`.
RELEASE_DUMP_MEMBER = "mbdump/release"

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


def credited_artist_ids(artist_credit: Any) -> str | None:
    """The MBIDs of the credited artists, joined by ";" in credit order; None when there are none."""
    if not isinstance(artist_credit, list):
        return None
    ids = [
        credit["artist"]["id"]
        for credit in artist_credit
        if isinstance(credit, Mapping) and isinstance(credit.get("artist"), Mapping)
        and isinstance(credit["artist"].get("id"), str)
    ]
    return ";".join(ids) or None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def release_record(release: Mapping[str, Any], tag_problems: list[str] | None = None) -> dict[str, Any]:
    """The `releases` row of a release document. Malformed tag lists are noted in `tag_problems`."""
    release_id = release.get("id")
    if not isinstance(release_id, str):
        raise ReleaseDocumentError(f"release document without an 'id': {str(release)[:80]}")
    group = release.get("release-group") if isinstance(release.get("release-group"), Mapping) else {}
    secondary = group.get("secondary-types")
    release_date = _text(release.get("date"))
    group_year = year_of(group.get("first-release-date"))
    return {
        "release_id": release_id,
        "release_group_id": _text(group.get("id")),
        "album_title": _text(release.get("title")),
        "album_artist": credited_name(release.get("artist-credit")) or credited_name(group.get("artist-credit")),
        "album_artist_ids": credited_artist_ids(release.get("artist-credit"))
        or credited_artist_ids(group.get("artist-credit")),
        "release_date": release_date,
        "release_year": year_of(release_date) or group_year,
        "release_group_year": group_year,
        "status": _text(release.get("status")),
        "primary_type": _text(group.get("primary-type")),
        "secondary_types": ";".join(t for t in secondary if isinstance(t, str)) or None
        if isinstance(secondary, list)
        else None,
        **release_tag_columns(release, release_id, [] if tag_problems is None else tag_problems),
    }


def _medium_tracks(medium: Any, release_id: str) -> list[tuple[str, Mapping[str, Any]]]:
    """A medium's track objects with their kind, in position order: pregap, audio tracks, data tracks."""
    if not isinstance(medium, Mapping):
        raise ReleaseDocumentError(f"release {release_id}: a medium is not a JSON object")
    where = f"release {release_id}: medium {medium.get('position')}"
    pregap = medium.get("pregap")
    audio = medium.get("tracks")
    data = medium.get("data-tracks")
    if pregap is not None and not isinstance(pregap, Mapping):
        raise ReleaseDocumentError(f"{where}: 'pregap' is not a track object")
    for key, value in (("tracks", audio), ("data-tracks", data)):
        if value is not None and not isinstance(value, list):
            raise ReleaseDocumentError(f"{where}: '{key}' is not a list")
    if audio is None and pregap is None and not data:
        # The serializer leaves `tracks` out of a medium without tracks, and then also says
        # `track-count` 0. A positive count with no tracks is a document that lists only how
        # many there are (a search hit, a lookup without inc=recordings): not a tracklist.
        count = medium.get("track-count")
        if isinstance(count, int) and count > 0:
            raise ReleaseDocumentError(f"{where}: {count} tracks counted but none listed: not a tracklist")
    kinds = [(PREGAP_TRACK, pregap)] if pregap is not None else []
    kinds += [(AUDIO_TRACK, track) for track in audio or []]
    kinds += [(DATA_TRACK, track) for track in data or []]
    for _, track in kinds:
        if not isinstance(track, Mapping):
            raise ReleaseDocumentError(f"{where}: a track is not a JSON object")
    return kinds


def release_tracks(
    release: Mapping[str, Any], record: Mapping[str, Any] | None = None, tag_problems: list[str] | None = None
) -> list[dict[str, Any]]:
    """The `tracks` rows of a release document, in medium and track order.

    Every recording of a medium is a row, the pregap and data tracks included (`track_kind` says
    which); a medium without tracks adds none and leaves the release and its other media alone.
    """
    tag_problems = [] if tag_problems is None else tag_problems
    record = record or release_record(release, tag_problems)
    release_id = record["release_id"]
    media = release.get("media")
    if not isinstance(media, list):
        raise ReleaseDocumentError(f"release {release_id}: needs a 'media' list")
    rows = []
    for medium in media:
        for kind, track in _medium_tracks(medium, release_id):
            recording = track.get("recording") or {}
            recording_id = recording.get("id")
            if not isinstance(recording_id, str):
                raise ReleaseDocumentError(f"release {release_id}: track {track.get('id')} has no recording id")
            credit = recording.get("artist-credit") or track.get("artist-credit")
            rows.append(
                {
                    "release_id": release_id,
                    "medium_position": medium.get("position"),
                    "track_position": track.get("position"),
                    "recording_id": recording_id,
                    "recording_title": recording.get("title") or track.get("title"),
                    "recording_artist": credited_name(credit) or record["album_artist"],
                    "recording_artist_ids": credited_artist_ids(credit) or record["album_artist_ids"],
                    "recording_year": year_of(recording.get("first-release-date")) or record["release_year"],
                    "track_kind": kind,
                    "recording_tags": tags_text(
                        recording, f"release {release_id}: recording {recording_id}", tag_problems
                    ),
                }
            )
    return rows


def release_track_rows(release: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One tracklist row (`TRACK_COLUMNS`) per track of a release, in medium and track order."""
    if not isinstance(release.get("id"), str) or not isinstance(release.get("media"), list):
        raise ReleaseDocumentError(f"release {release.get('id')!r}: needs an 'id' and a 'media' list")
    record = release_record(release)
    album = {column: record[column] for column in TRACK_COLUMNS if column in record}
    return [
        {column: {**album, **track}[column] for column in TRACK_COLUMNS}
        for track in release_tracks(release, record)
    ]


@dataclass
class ReleaseIngestCounts(DumpReadCounts):
    releases: int = 0
    tracks: int = 0
    # Malformed tag lists: the entity's tags are left out, the release is kept.
    tag_problems: int = 0
    tag_problem_notes: list[str] = field(default_factory=list)

    def note_tag_problem(self, problem: str, keep: int = 20) -> None:
        self.tag_problems += 1
        if len(self.tag_problem_notes) < keep:
            self.tag_problem_notes.append(problem)


@dataclass
class ReleaseRows:
    """Catalog rows collected from release documents (dump lines or WS/2 lookups, one format),
    counted as they come, handed out as tables a batch at a time."""

    counts: ReleaseIngestCounts
    releases: list[dict[str, Any]] = field(default_factory=list)
    tracks: list[dict[str, Any]] = field(default_factory=list)

    def add(self, document: Any, where: str) -> None:
        """One document's release record and track rows; an unusable one is counted as a problem at `where`."""
        tag_problems: list[str] = []
        try:
            if not isinstance(document, dict):
                raise ReleaseDocumentError("not a JSON object")
            record = release_record(document, tag_problems)
            rows = release_tracks(document, record, tag_problems)
        except ReleaseDocumentError as error:
            self.counts.note_problem(f"{where}: {error}")
            return
        for problem in tag_problems:
            self.counts.note_tag_problem(f"{where}: {problem}")
        self.releases.append(record)
        self.tracks.extend(rows)
        self.counts.releases += 1
        self.counts.tracks += len(rows)

    def take(self) -> dict[str, pa.Table]:
        """The rows collected since the last call, as the `releases` and `tracks` tables."""
        tables = {
            "releases": pa.Table.from_pylist(self.releases, schema=RELEASE_SCHEMA),
            "tracks": pa.Table.from_pylist(self.tracks, schema=CATALOG_TRACK_SCHEMA),
        }
        self.releases.clear()
        self.tracks.clear()
        return tables


def ingest_release_archive(
    members: Iterable[ArchiveMember],
    emit: Callable[[str, pa.Table], None],
    counts: ReleaseIngestCounts,
    batch_releases: int = 5_000,
    on_progress: Callable[[ReleaseIngestCounts], None] | None = None,
) -> ReleaseIngestCounts:
    """Stream `mbdump/release` (one release document per line) into `releases` and `tracks` batches.

    Lines that are not JSON or not a release with a tracklist are counted and skipped. An archive
    without `mbdump/release` is not the release dump, which is an error.
    """
    collected = ReleaseRows(counts)

    def flush() -> None:
        if collected.releases:
            for name, table in collected.take().items():
                emit(name, table)

    try:
        for where, line in dump_member_lines(members, RELEASE_DUMP_MEMBER, counts, "release.tar.xz"):
            try:
                document = orjson.loads(line)
            except orjson.JSONDecodeError as error:
                counts.note_problem(f"{where}: {error}")
                continue
            collected.add(document, where)
            if len(collected.releases) >= batch_releases:
                flush()
                if on_progress:
                    on_progress(counts)
    finally:
        # Also when the archive breaks off: what was read is handed out; the caller decides.
        flush()
    return counts


def tracklist_table(releases: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    rows = [row for release in releases for row in release_track_rows(release)]
    table = pd.DataFrame(rows, columns=TRACK_COLUMNS)
    for column in ("release_year", "recording_year", "medium_position", "track_position"):
        table[column] = table[column].astype("Int64")
    return table


def _earliest_rows(tracklists: pd.DataFrame, recording_ids: Iterable[str]) -> pd.DataFrame:
    wanted = tracklists[tracklists["recording_id"].isin(set(recording_ids))]
    return wanted.sort_values(["recording_id", "release_date", "release_id"], na_position="last").drop_duplicates(
        "recording_id"
    )


def earliest_release_ids(tracklists: pd.DataFrame, recording_ids: Iterable[str]) -> dict[str, str]:
    """Recording -> the release `recording_metadata` describes it by (its earliest)."""
    earliest = _earliest_rows(tracklists, recording_ids)
    return dict(zip(earliest["recording_id"], earliest["release_id"]))


def recording_metadata(tracklists: pd.DataFrame, recording_ids: Iterable[str]) -> pd.DataFrame:
    """Release year, titles and artist for each recording, from its earliest release.

    A recording often sits on an album, singles and compilations; the earliest release (ties
    broken by release id, so the choice is deterministic) is the one its listener knows.
    """
    earliest = _earliest_rows(tracklists, recording_ids)
    return pd.DataFrame(
        {
            "mbid": earliest["recording_id"],
            "artist": earliest["recording_artist"],
            "release_year": earliest["recording_year"],
            "release_title": earliest["album_title"],
            "recording_title": earliest["recording_title"],
        }
    ).reset_index(drop=True)
