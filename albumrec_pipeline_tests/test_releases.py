from pathlib import Path

import orjson
import pytest

from albumrec_pipeline.core.archives import ArchiveStream
from albumrec_pipeline.core.releases import (
    CATALOG_TRACK_COLUMNS,
    ReleaseDocumentError,
    ReleaseIngestCounts,
    credited_name,
    ingest_release_archive,
    recording_metadata,
    release_track_rows,
    release_tracks,
    tracklist_table,
    year_of,
)
from albumrec_pipeline.demo.dump_writer import write_tar_xz
from albumrec_pipeline_tests.conftest import load_json
from albumrec_pipeline_tests.factories import recording_id, release_document


def test_year_of_partial_dates():
    assert year_of("1973-03-24") == 1973
    assert year_of("1973") == 1973
    assert year_of("") is None and year_of(None) is None and year_of("unknown") is None


def test_credited_name_joins_credits_with_their_phrases():
    credit = [{"name": "Simon", "joinphrase": " & "}, {"name": "Garfunkel", "joinphrase": ""}]
    assert credited_name(credit) == "Simon & Garfunkel"
    assert credited_name([]) is None


def test_release_rows_follow_media_and_tracks():
    ids = [recording_id(n) for n in range(3)]
    rows = release_track_rows(release_document("r1", ids, artist="Band", date="1999-02"))
    assert [row["recording_id"] for row in rows] == ids
    assert {row["release_year"] for row in rows} == {1999}
    assert rows[0]["album_artist"] == "Band" and rows[0]["primary_type"] == "Album"


_CREDIT = [
    {
        "name": "Band",
        "joinphrase": "",
        "artist": {"id": recording_id(999), "name": "Band", "sort-name": "Band", "disambiguation": ""},
    }
]


def _serialized_track(number: int, position: int, title: str) -> dict:
    """A track object as musicbrainz-server's JSON serializer writes it with inc=recordings+artist-credits."""
    return {
        "id": f"track-{number}",
        "position": position,
        "number": str(position),
        "title": title,
        "length": 200_000,
        "artist-credit": _CREDIT,
        "recording": {
            "id": recording_id(number),
            "title": title,
            "length": 200_000,
            "video": False,
            "disambiguation": "",
            "first-release-date": "2004-06-01",
            "artist-credit": _CREDIT,
        },
    }


def _medium(position: int, title: str = "", fmt: str = "CD", **lists) -> dict:
    # `track-count` counts only the audio tracks; `tracks` and `track-offset` are left out when
    # there are none.
    medium = {"position": position, "title": title, "format": fmt, "format-id": f"format-{fmt}", "track-count": 0}
    if lists.get("tracks"):
        medium.update({"track-count": len(lists["tracks"]), "track-offset": 0, "tracks": lists["tracks"]})
    if lists.get("pregap"):
        medium["pregap"] = lists["pregap"]
    if lists.get("data_tracks"):
        medium["data-tracks"] = lists["data_tracks"]
    return medium


def _serialized_release() -> dict:
    """A dump line's release: an empty DVD, an enhanced CD with a hidden pregap track and a video
    data track, and a plain CD."""
    document = release_document("r1", [], artist="Band", date="2004-06-01")
    document["media"] = [
        _medium(1, "Bonus DVD", "DVD-Video"),
        _medium(
            2,
            pregap=_serialized_track(10, 0, "Hidden Intro"),
            tracks=[_serialized_track(11, 1, "Opener"), _serialized_track(12, 2, "Closer")],
            data_tracks=[_serialized_track(13, 3, "Opener (video)")],
        ),
        _medium(3, tracks=[_serialized_track(20, 1, "Side B"), _serialized_track(21, 2, "Outro")]),
    ]
    return document


def test_serialized_release_keeps_pregap_audio_and_data_tracks():
    rows = release_tracks(_serialized_release())
    assert [(r["medium_position"], r["track_position"], r["recording_id"], r["track_kind"]) for r in rows] == [
        (2, 0, recording_id(10), "pregap"),
        (2, 1, recording_id(11), "audio"),
        (2, 2, recording_id(12), "audio"),
        (2, 3, recording_id(13), "data"),
        (3, 1, recording_id(20), "audio"),
        (3, 2, recording_id(21), "audio"),
    ]
    assert rows[0]["recording_title"] == "Hidden Intro" and rows[0]["recording_artist"] == "Band"
    tracklist = release_track_rows(_serialized_release())
    assert [row["recording_id"] for row in tracklist] == [row["recording_id"] for row in rows]


def test_a_medium_without_tracks_no_longer_drops_the_release(tmp_path: Path):
    line = orjson.dumps(_serialized_release()) + b"\n"
    archive = write_tar_xz(tmp_path / "release.tar.xz", [("mbdump/release", line)])
    batches: dict[str, list] = {"releases": [], "tracks": []}
    counts = ingest_release_archive(ArchiveStream(archive), lambda name, batch: batches[name].append(batch), ReleaseIngestCounts())
    assert (counts.releases, counts.tracks, counts.unusable, counts.problems) == (1, 6, 0, [])
    tracks = batches["tracks"][0].to_pandas()
    assert list(tracks.columns) == CATALOG_TRACK_COLUMNS
    assert 1 not in set(tracks["medium_position"])
    # Only trackless media: the release stays, with no tracks to rank.
    empty = release_document("r2", [])
    empty["media"] = [_medium(1)]
    assert release_track_rows(empty) == []


def test_search_hits_that_only_count_tracks_are_refused():
    document = release_document("r1", [recording_id(1)])
    document["media"] = [{"format": "CD", "disc-count": 1, "track-count": 12}]
    with pytest.raises(ReleaseDocumentError, match="r1.*not a tracklist"):
        release_track_rows(document)


def test_real_release_lookups_parse(shared_dir):
    documents = [load_json(path) for path in sorted((shared_dir / "fixtures" / "musicbrainz").glob("release_lookup_*.json"))]
    table = tracklist_table(documents)
    dark_side = table[table["release_id"] == "b84ee12a-09ef-421b-82de-0441a926375b"]
    assert len(dark_side) == 10
    assert dark_side["album_artist"].iloc[0] == "Pink Floyd"
    assert dark_side["release_year"].iloc[0] == 1973
    assert dark_side["recording_title"].iloc[0] == "Speak to Me"
    # the multi-disc lookup yields every medium's tracks
    assert table.groupby("release_id").size().min() >= 7


def test_recording_metadata_uses_the_earliest_release():
    rid = recording_id(7)
    table = tracklist_table(
        [
            release_document("late", [rid], date="2010-01-01", title="Best Of", primary_type="Compilation"),
            release_document("early", [rid], date="1980-06-01", title="Debut"),
        ]
    )
    metadata = recording_metadata(table, [rid])
    assert metadata.loc[0, "release_title"] == "Debut" and metadata.loc[0, "release_year"] == 1980
