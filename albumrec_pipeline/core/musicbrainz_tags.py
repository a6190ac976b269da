"""MusicBrainz genres and tags with their vote counts: parsing, storing, and the catalog's tag tables.

Where they are. With `inc=genres+tags`, WS/2 gives an entity two lists (the JSON serializer,
`WebService/Serializer/JSON/2/Utils.pm`, `serialize_tags`), both sorted by name and holding only
entries with a positive count:

    "tags":   [{"count": 3, "name": "folk rock"}, ...]
    "genres": [{"count": 3, "disambiguation": "", "id": "<genre mbid>", "name": "folk rock"}, ...]

A genre is a tag whose name is in MusicBrainz's genre list, with the same votes (the genre query
joins `tag.name = genre.name`), so one name counts once: an entity's (name, votes) pairs are the
union of both lists, a name in both keeping its votes once.

The JSON dump writes every entity through the same serializer (`Script/JSONDump/Constants.pm`
asks `tags genres` for every entity type). A line of `mbdump/release` therefore carries the
release's own lists, the release group's (`release-group`), each track's recording's
(`media[].tracks[].recording`), and the artists' in the artist credits; an artist's lists appear
once per document, at its first credit (the release's, else the track's, else the recording's):
the serializer leaves them out of later credits of the same artist. `mbdump/release-group`
(`release-group.tar.xz`) and `mbdump/artist` (`artist.tar.xz`) hold one release group or artist
per line with its own lists. A WS/2 release lookup with `inc=recordings+artist-credits+
release-groups+genres+tags` is a dump line in the same shape.

How albumrec keeps them. Names are lower-cased, stripped, their inner whitespace collapsed, and
`;`, `=` and `|` removed (the separators below); counts must be whole numbers of at least 0 (0,
no votes left, is skipped). A tag string is `name=votes;name=votes`, most votes first, then by
name; an entity without tags has none (None). A release row keeps `release_tags`,
`release_group_tags` and `artist_tags` (the credited artists' tags found in the document, one
block per artist: `<artist mbid>:name=votes;...|<artist mbid>:...`), a track row
`recording_tags`. The two archives become long tables, one row per entity and tag:
`musicbrainz_release_group_tags` (release_group_id, tag, votes) and `musicbrainz_artist_tags`
(artist_id, tag, votes). How they combine into a recording's `musicbrainz_tags` is
`core.catalog.recording_tags_sql`.

A malformed list (not a list, an entry without a name, a count missing, negative or not a whole
number) raises `TagDocumentError`. Reading a release document, that drops the tags of that entity
only and counts a problem; in a release-group or artist archive the line is about its tags, so
the line is counted unusable and skipped, like a bad line of `mbdump/release`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa

from albumrec_pipeline.core.archives import ArchiveMember, DumpReadCounts, dump_member_lines

TAG_SEPARATOR = ";"
VOTES_SEPARATOR = "="
ARTIST_SEPARATOR = "|"
ARTIST_ID_SEPARATOR = ":"
_REMOVED = str.maketrans("", "", TAG_SEPARATOR + VOTES_SEPARATOR + ARTIST_SEPARATOR)

RELEASE_GROUP, ARTIST = "release-group", "artist"


class TagDocumentError(ValueError):
    """An entity's `genres` or `tags` are not the lists of (name, count) objects WS/2 writes."""


def tag_name(raw: str) -> str:
    """A tag name as albumrec keeps it: lower case, stripped, one space between words, no separators."""
    return " ".join(raw.translate(_REMOVED).lower().split())


def _entries(entity: Mapping[str, Any], key: str) -> dict[str, int]:
    """Normalized name -> votes of one of the entity's lists; distinct names that normalize alike add up."""
    entries = entity.get(key)
    if entries is None:
        return {}
    if not isinstance(entries, list):
        raise TagDocumentError(f"'{key}' is not a list but {type(entries).__name__}")
    votes: dict[str, int] = {}
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise TagDocumentError(f"an entry of '{key}' is not an object: {str(entry)[:60]}")
        name = entry.get("name")
        if not isinstance(name, str):
            raise TagDocumentError(f"an entry of '{key}' has no name: {str(entry)[:60]}")
        count = entry.get("count")
        if count is None:
            raise TagDocumentError(f"{key} {name!r} has no vote count")
        if isinstance(count, bool) or not isinstance(count, int):
            raise TagDocumentError(f"{key} {name!r} has a vote count that is not a whole number: {count!r}")
        if count < 0:
            raise TagDocumentError(f"{key} {name!r} has a negative vote count: {count}")
        normalized = tag_name(name)
        if count and normalized:
            votes[normalized] = votes.get(normalized, 0) + count
    return votes


def entity_tags(entity: Any) -> list[tuple[str, int]]:
    """An entity's (name, votes) pairs from its `tags` and `genres`, most votes first, then by name.

    Missing lists mean no tags. A name in both lists (a genre is a tag) counts once.
    """
    if not isinstance(entity, Mapping):
        raise TagDocumentError(f"not a JSON object: {str(entity)[:60]}")
    votes = _entries(entity, "tags")
    for name, count in _entries(entity, "genres").items():
        votes[name] = max(votes.get(name, 0), count)
    return sorted(votes.items(), key=lambda item: (-item[1], item[0]))


def format_tags(pairs: Iterable[tuple[str, int]]) -> str | None:
    """`name=votes;name=votes`, most votes first, then by name; None when there are none."""
    ordered = sorted(((name, int(votes)) for name, votes in pairs if name and votes > 0), key=lambda p: (-p[1], p[0]))
    return TAG_SEPARATOR.join(f"{name}{VOTES_SEPARATOR}{votes}" for name, votes in ordered) or None


def parse_tags(text: str | None) -> list[tuple[str, int]]:
    """The pairs of a tag string (the inverse of `format_tags`); None or "" is no tags."""
    if not text:
        return []
    pairs = []
    for entry in text.split(TAG_SEPARATOR):
        name, _, votes = entry.rpartition(VOTES_SEPARATOR)
        pairs.append((name, int(votes)))
    return pairs


def parse_artist_tags(text: str | None) -> dict[str, list[tuple[str, int]]]:
    """Artist mbid -> pairs, from a release row's `artist_tags`."""
    if not text:
        return {}
    blocks = (block.partition(ARTIST_ID_SEPARATOR) for block in text.split(ARTIST_SEPARATOR))
    return {artist_id: parse_tags(tags) for artist_id, _, tags in blocks}


def tags_text(entity: Any, where: str, problems: list[str]) -> str | None:
    """The tag string of an entity; None when it has none, or when its lists are malformed (noted in `problems`)."""
    if entity is None:
        return None
    try:
        return format_tags(entity_tags(entity))
    except TagDocumentError as error:
        problems.append(f"{where}: {error}")
        return None


def _credited_artists(holder: Any) -> Iterator[Mapping[str, Any]]:
    credit = holder.get("artist-credit") if isinstance(holder, Mapping) else None
    for name in credit if isinstance(credit, list) else ():
        if isinstance(name, Mapping) and isinstance(name.get("artist"), Mapping):
            yield name["artist"]


def _document_credits(release: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every artist object credited in a release document: release, release group, tracks, recordings."""
    yield from _credited_artists(release)
    yield from _credited_artists(release.get("release-group"))
    media = release.get("media")
    for medium in media if isinstance(media, list) else ():
        if not isinstance(medium, Mapping):
            continue
        tracks = [medium.get("pregap")]
        for key in ("tracks", "data-tracks"):
            tracks += medium.get(key) if isinstance(medium.get(key), list) else []
        for track in tracks:
            yield from _credited_artists(track)
            yield from _credited_artists(track.get("recording") if isinstance(track, Mapping) else None)


def artist_tags_text(release: Mapping[str, Any], where: str, problems: list[str]) -> str | None:
    """The tags of the artists a release document credits, where it carries them (see the module doc):
    `<artist mbid>:name=votes;...|...`, artists in id order; None when no credited artist has tags."""
    found: dict[str, dict[str, int]] = {}
    for artist in _document_credits(release):
        artist_id = artist.get("id")
        if not isinstance(artist_id, str) or ("tags" not in artist and "genres" not in artist):
            continue
        try:
            pairs = entity_tags(artist)
        except TagDocumentError as error:
            problems.append(f"{where}: artist {artist_id}: {error}")
            continue
        merged = found.setdefault(artist_id, {})
        for name, votes in pairs:
            merged[name] = max(merged.get(name, 0), votes)
    blocks = [
        f"{artist_id}{ARTIST_ID_SEPARATOR}{text}"
        for artist_id in sorted(found)
        if (text := format_tags(found[artist_id].items()))
    ]
    return ARTIST_SEPARATOR.join(blocks) or None


def release_tag_columns(release: Mapping[str, Any], release_id: str, problems: list[str]) -> dict[str, str | None]:
    """The tag columns of a release row: its own, its release group's, its credited artists'."""
    where = f"release {release_id}"
    group = release.get("release-group")
    return {
        "release_tags": tags_text(release, where, problems),
        "release_group_tags": tags_text(group, f"{where}: release group", problems)
        if isinstance(group, Mapping)
        else None,
        "artist_tags": artist_tags_text(release, where, problems),
    }


# --- the release-group and artist archives ------------------------------------------------------


@dataclass(frozen=True)
class TagArchive:
    """One entity's archive of the MusicBrainz JSON dump and the table its tags go to."""

    entity: str  # "release-group", "artist"
    id_column: str
    table: str

    @property
    def member(self) -> str:
        """Where the documents sit in `<entity>.tar.xz`: one JSON document per line."""
        return f"mbdump/{self.entity}"

    @property
    def schema(self) -> pa.Schema:
        return pa.schema(
            [
                pa.field(self.id_column, pa.string(), nullable=False),
                pa.field("tag", pa.string(), nullable=False),
                pa.field("votes", pa.int32(), nullable=False),
            ]
        )


TAG_ARCHIVES: dict[str, TagArchive] = {
    RELEASE_GROUP: TagArchive(RELEASE_GROUP, "release_group_id", "musicbrainz_release_group_tags"),
    ARTIST: TagArchive(ARTIST, "artist_id", "musicbrainz_artist_tags"),
}


def entity_tag_rows(document: Any, archive: TagArchive) -> list[dict[str, Any]]:
    """One row (`<entity>_id`, tag, votes) per tag of a release-group or artist document."""
    if not isinstance(document, Mapping):
        raise TagDocumentError("not a JSON object")
    entity_id = document.get("id")
    if not isinstance(entity_id, str) or not entity_id:
        raise TagDocumentError(f"{archive.entity} document without an 'id': {str(document)[:80]}")
    return [{archive.id_column: entity_id, "tag": name, "votes": votes} for name, votes in entity_tags(document)]


@dataclass
class TagIngestCounts(DumpReadCounts):
    documents: int = 0  # entities read
    tagged: int = 0  # of those, entities with at least one tag
    tags: int = 0  # rows written


def ingest_tag_archive(
    members: Iterable[ArchiveMember],
    archive: TagArchive,
    emit: Callable[[pa.Table], None],
    counts: TagIngestCounts,
    batch_rows: int = 20_000,
    on_progress: Callable[[TagIngestCounts], None] | None = None,
) -> TagIngestCounts:
    """Stream `mbdump/<entity>` (one document per line) into batches of tag rows.

    Lines that are not JSON, have no id or carry malformed tags are counted and skipped. An
    archive without the member is not this entity's dump, which is an error.
    """
    rows: list[dict[str, Any]] = []

    def flush() -> None:
        if rows:
            emit(pa.Table.from_pylist(rows, schema=archive.schema))
            rows.clear()

    try:
        for where, line in dump_member_lines(members, archive.member, counts, f"{archive.entity}.tar.xz"):
            try:
                tagged = entity_tag_rows(orjson.loads(line), archive)
            except (orjson.JSONDecodeError, TagDocumentError) as error:
                counts.note_problem(f"{where}: {error}")
                continue
            counts.documents += 1
            counts.tagged += bool(tagged)
            counts.tags += len(tagged)
            rows.extend(tagged)
            if len(rows) >= batch_rows:
                flush()
                if on_progress:
                    on_progress(counts)
    finally:
        # Also when the archive breaks off: what was read is handed out; the caller decides.
        flush()
    return counts
