"""The ranking taken out of albumrec: a playlist of the best albums, and the ranking as CSV.

The playlist is JSPF (the JSON form of XSPF), the format ListenBrainz imports ("Import",
"Upload JSPF file" on a user's playlists page, or `POST /1/playlist/create`). What ListenBrainz
checks when it creates a playlist (listenbrainz-server, `views/playlist_api.py`):

- `playlist.title` is present and not empty;
- `playlist.extension["https://musicbrainz.org/doc/jspf#playlist"].public` is a boolean;
- every `playlist.track[].identifier` holds a `https://musicbrainz.org/recording/<mbid>` URL.
  ListenBrainz still takes a bare string there, but JSPF makes `identifier` a list, its own
  exports write a list, and the string form is kept only for backward compatibility; when
  creating, it reads the first entry of the list, so the recording URL comes first.

Everything else in a track (title, creator, album, trackNum, the `#track` extension with the
release) is ignored by that import but kept for other players and for people reading the file.

Each album is played whole, as the edition the ranking judged it on (its `release_id`), in
album order: medium, then position on the medium.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from albumrec_pipeline.core.mbids import MBID_PATTERN
from albumrec_pipeline.storage.artifacts import StoredArtifact
from albumrec_pipeline.storage.atomic import atomic_write_bytes

if TYPE_CHECKING:
    from upath import UPath

RECORDING_URL = "https://musicbrainz.org/recording/"
RELEASE_URL = "https://musicbrainz.org/release/"
PLAYLIST_EXTENSION = "https://musicbrainz.org/doc/jspf#playlist"
TRACK_EXTENSION = "https://musicbrainz.org/doc/jspf#track"
CREATOR = "albumrec"
JSPF_FILE = "playlist.jspf"
DEFAULT_ALBUMS = 10

# What the playlist reads of the ranking and of the tracklists (`candidate_albums`).
RANKING_COLUMNS = ["rank", "recommended", "release_id", "release_group_id", "album_title", "album_artist", "release_year"]
TRACKLIST_COLUMNS = [
    "release_id", "medium_position", "track_position", "recording_id", "recording_title", "recording_artist",
]
PLAYLIST_COLUMNS = [
    "position",
    "album_rank",
    "release_id",
    "release_group_id",
    "album_title",
    "album_artist",
    "release_year",
    "medium_position",
    "track_position",
    "track_number",
    "recording_id",
    "recording_title",
    "recording_artist",
]
_COUNTS = {"position", "album_rank", "medium_position", "track_position", "track_number"}
_RECORDING_IDENTIFIER = re.compile(re.escape(RECORDING_URL) + f"({MBID_PATTERN})")
_RELEASE_IDENTIFIER = re.compile(re.escape(RELEASE_URL) + f"({MBID_PATTERN})")


class PlaylistError(ValueError):
    """The ranking and the tracklists cannot make a playlist; the message says what to run."""


class JSPFError(ValueError):
    """A document that is not a JSPF playlist ListenBrainz would import."""


def top_albums(ranking: pd.DataFrame, count: int | None) -> pd.DataFrame:
    """The recommended albums of a ranking, best first, at most `count` of them (None: all)."""
    recommended = ranking[ranking["recommended"].fillna(False).astype(bool)].sort_values("rank", kind="stable")
    return (recommended if count is None else recommended.head(count)).reset_index(drop=True)


def ranking_rows(ranking: pd.DataFrame, include_all: bool = False, count: int | None = None) -> pd.DataFrame:
    """The ranking's rows to export, in rank order: the recommended albums, or every album."""
    rows = ranking.sort_values("rank", kind="stable") if include_all else top_albums(ranking, None)
    return (rows if count is None else rows.head(count)).reset_index(drop=True)


def ranking_csv(rows: pd.DataFrame) -> bytes:
    """UTF-8 CSV of the rows, every column as stored, empty where a value is unknown."""
    # Floats are written in full (repr), so a reader gets back the numbers the ranking holds.
    return rows.to_csv(index=False, lineterminator="\n").encode("utf-8")


def playlist_tracks(albums: pd.DataFrame, tracklists: pd.DataFrame) -> pd.DataFrame:
    """One row per track (`PLAYLIST_COLUMNS`): the albums in the order given, each album's tracks in
    album order. `albums` are ranking rows (see `top_albums`); `tracklists` holds at least their
    releases' tracks, and may hold any others.

    `track_number` counts through the whole album (on a double album the second disc goes on
    from the first), since the playlist has no notion of discs.
    """
    wanted = albums[["rank", "release_id", "release_group_id", "album_title", "album_artist", "release_year"]]
    wanted = wanted.rename(columns={"rank": "album_rank"}).reset_index(drop=True)
    if wanted.empty:
        return pd.DataFrame(
            {column: pd.Series(dtype="int64" if column in _COUNTS else "object") for column in PLAYLIST_COLUMNS}
        )
    tracks = tracklists.loc[tracklists["release_id"].isin(wanted["release_id"]), TRACKLIST_COLUMNS]
    missing = wanted.loc[~wanted["release_id"].isin(tracks["release_id"])]
    if not missing.empty:
        named = ", ".join(
            f"#{row.album_rank} {row.album_title!r} ({row.release_id})" for row in missing.head(3).itertuples()
        )
        raise PlaylistError(
            f"the tracklists (candidate_albums) hold no tracks of {len(missing)} ranked album(s), {named}: "
            "they were written after the ranking; run album_search to rank the albums again"
        )
    table = wanted.assign(_order=range(len(wanted))).merge(tracks, on="release_id", how="inner")
    table = table.sort_values(["_order", "medium_position", "track_position"], kind="stable", na_position="last")
    table["track_number"] = table.groupby("_order").cumcount() + 1
    table["position"] = range(1, len(table) + 1)
    return table[PLAYLIST_COLUMNS].reset_index(drop=True).astype({"position": "int64", "track_number": "int64"})


def _text(value: Any) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


def playlist_title(created: dt.datetime) -> str:
    return f"albumrec: the best albums for you, {created.date().isoformat()}"


def jspf_document(tracks: pd.DataFrame, created: dt.datetime, public: bool = False) -> dict[str, Any]:
    """The JSPF playlist of a playlist table (`playlist_tracks`), made at `created` (timezone-aware).

    Private unless `public`: ListenBrainz needs the choice made, and a listener's taste is theirs to share.
    """
    albums = tracks.drop_duplicates("album_rank")
    listed = "; ".join(
        f"{row.album_rank}. {_text(row.album_title) or 'untitled'} by {_text(row.album_artist) or 'unknown artist'}"
        + ("" if pd.isna(row.release_year) else f" ({int(row.release_year)})")
        for row in albums.itertuples()
    )
    annotation = (
        f"The {len(albums)} albums albumrec ranks best for your taste, each complete and in album order: {listed}."
        if listed
        else "albumrec recommends no album for your taste yet."
    )
    entries = []
    for row in tracks.itertuples():
        entry: dict[str, Any] = {"identifier": [f"{RECORDING_URL}{row.recording_id}"]}
        for key, value in (
            ("title", _text(row.recording_title)),
            ("creator", _text(row.recording_artist) or _text(row.album_artist)),
            ("album", _text(row.album_title)),
        ):
            if value is not None:
                entry[key] = value
        entry["trackNum"] = int(row.track_number)
        entry["extension"] = {TRACK_EXTENSION: {"release_identifier": f"{RELEASE_URL}{row.release_id}"}}
        entries.append(entry)
    return {
        "playlist": {
            "title": playlist_title(created),
            "creator": CREATOR,
            "date": created.isoformat(timespec="seconds"),
            "annotation": annotation,
            "extension": {PLAYLIST_EXTENSION: {"public": bool(public)}},
            "track": entries,
        }
    }


def _problems_of_track(index: int, track: Any) -> list[str]:
    where = f"playlist.track[{index}]"
    if not isinstance(track, dict):
        return [f"{where} is not an object"]
    problems = []
    identifiers = track.get("identifier")
    if not isinstance(identifiers, list) or not identifiers or not all(isinstance(item, str) for item in identifiers):
        problems.append(f"{where}.identifier is not a non-empty list of URIs")
    elif not _RECORDING_IDENTIFIER.fullmatch(identifiers[0]):
        problems.append(
            f"{where}.identifier[0] is not a MusicBrainz recording URL ({RECORDING_URL}<mbid>): {identifiers[0]!r}"
        )
    for key in ("title", "creator", "album", "annotation"):
        if key in track and not isinstance(track[key], str):
            problems.append(f"{where}.{key} is not a string")
    for key, least in (("trackNum", 1), ("duration", 0)):
        value = track.get(key)
        if key in track and (isinstance(value, bool) or not isinstance(value, int) or value < least):
            problems.append(f"{where}.{key} is not an integer of at least {least}")
    extension = track.get("extension", {})
    if not isinstance(extension, dict):
        problems.append(f"{where}.extension is not an object")
    elif TRACK_EXTENSION in extension:
        ours = extension[TRACK_EXTENSION]
        release = ours.get("release_identifier") if isinstance(ours, dict) else None
        if release is not None and not (isinstance(release, str) and _RELEASE_IDENTIFIER.fullmatch(release)):
            problems.append(f"{where}.extension's release_identifier is not a MusicBrainz release URL: {release!r}")
    return problems


def jspf_problems(document: Any) -> list[str]:
    """Everything about `document` that makes it not a JSPF playlist ListenBrainz imports (empty: none)."""
    if not isinstance(document, dict) or not isinstance(document.get("playlist"), dict):
        return ["the document is not an object with a 'playlist' object"]
    playlist = document["playlist"]
    problems = []
    if not isinstance(playlist.get("title"), str) or not playlist["title"].strip():
        problems.append("playlist.title is missing or empty")
    for key in ("creator", "annotation", "date"):
        if key in playlist and not isinstance(playlist[key], str):
            problems.append(f"playlist.{key} is not a string")
    if isinstance(playlist.get("date"), str):
        try:
            dt.datetime.fromisoformat(playlist["date"])
        except ValueError:
            problems.append(f"playlist.date is not an ISO 8601 time: {playlist['date']!r}")
    extension = playlist.get("extension")
    ours = extension.get(PLAYLIST_EXTENSION) if isinstance(extension, dict) else None
    if not isinstance(ours, dict) or not isinstance(ours.get("public"), bool):
        problems.append(f"playlist.extension[{PLAYLIST_EXTENSION!r}].public is not a boolean")
    tracks = playlist.get("track", [])
    if not isinstance(tracks, list):
        return [*problems, "playlist.track is not a list"]
    for index, track in enumerate(tracks):
        problems.extend(_problems_of_track(index, track))
    try:
        json.dumps(document, allow_nan=False)
    except (TypeError, ValueError) as error:
        problems.append(f"the document is not plain JSON: {error}")
    return problems


def validate_jspf(document: Any) -> dict[str, Any]:
    """`document`, once `jspf_problems` finds nothing; otherwise a JSPFError naming the first few problems."""
    problems = jspf_problems(document)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise JSPFError("not an importable JSPF playlist: " + "; ".join(problems[:3]) + more)
    return document


def jspf_bytes(document: dict[str, Any]) -> bytes:
    return (json.dumps(validate_jspf(document), ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def rows_where(
    batches: Iterable[pa.RecordBatch], mask: Callable[[pa.RecordBatch], pa.Array], columns: list[str]
) -> pd.DataFrame:
    """`columns` of the rows of a table read batch by batch for which `mask` is true: memory holds a
    batch and the rows kept, never the whole table (the tracklists are as large as the catalog)."""
    kept = [batch.filter(mask(batch)) for batch in batches]
    kept = [batch for batch in kept if batch.num_rows]
    if not kept:
        return pd.DataFrame(columns=columns)
    return pa.Table.from_batches(kept).select(columns).to_pandas()


def is_recommended(batch: pa.RecordBatch) -> pa.Array:
    return pc.fill_null(batch.column("recommended"), False)


def in_releases(release_ids: Iterable[str]) -> Callable[[pa.RecordBatch], pa.Array]:
    wanted = pa.array(sorted(set(release_ids)), pa.string())
    return lambda batch: pc.fill_null(pc.is_in(batch.column("release_id"), value_set=wanted), False)


def best_albums_playlist(
    ranking_batches: Iterable[pa.RecordBatch],
    tracklist_batches: Callable[[], Iterable[pa.RecordBatch]],
    count: int | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the top `count` recommended albums, their tracks in album order), from the ranking and the
    candidate tracklists read batch by batch (`RANKING_COLUMNS`, `TRACKLIST_COLUMNS`). The
    tracklists are read only when some album is recommended."""
    albums = top_albums(rows_where(ranking_batches, is_recommended, RANKING_COLUMNS), count)
    if albums.empty:
        return albums, playlist_tracks(albums, pd.DataFrame(columns=TRACKLIST_COLUMNS))
    wanted = in_releases(albums["release_id"])
    return albums, playlist_tracks(albums, rows_where(tracklist_batches(), wanted, TRACKLIST_COLUMNS))


@dataclass
class AlbumPlaylist(StoredArtifact):
    """The playlist table (the summary, `<base>/album_playlist.parquet`) and its JSPF file
    (`<base>/album_playlist/playlist.jspf`), committed together so they always describe the same playlist."""

    tracks: pd.DataFrame
    document: dict[str, Any]
    native_files: ClassVar[tuple[str, ...]] = (JSPF_FILE,)

    def summary_table(self) -> pd.DataFrame:
        return self.tracks

    def save_native(self, folder: UPath) -> None:
        atomic_write_bytes(folder / JSPF_FILE, jspf_bytes(self.document))

    @classmethod
    def load(cls, summary: pd.DataFrame, folder: UPath) -> AlbumPlaylist:
        document = json.loads((folder / JSPF_FILE).read_bytes())
        return cls(summary, validate_jspf(document))
