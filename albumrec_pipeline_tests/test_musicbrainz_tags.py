"""MusicBrainz genres and tags: parsed from documents in the serializer's shapes, ingested from the
dump's `release-group.tar.xz` and `artist.tar.xz`, combined into a recording's `musicbrainz_tags`,
asked of WS/2 with `inc=genres+tags`, and written by the demo world."""

from __future__ import annotations

import io
import json
import lzma
import tarfile
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from pytest_httpserver import HTTPServer

from albumrec_pipeline.core.archives import ArchiveStream, DumpFormatError
from albumrec_pipeline.core.catalog import recording_tags_from_documents
from albumrec_pipeline.core.musicbrainz_tags import (
    ARTIST,
    RELEASE_GROUP,
    TAG_ARCHIVES,
    TagDocumentError,
    TagIngestCounts,
    entity_tags,
    format_tags,
    ingest_tag_archive,
    parse_artist_tags,
    parse_tags,
    tag_name,
)
from albumrec_pipeline.core.releases import (
    ReleaseIngestCounts,
    ReleaseRows,
    release_record,
    release_tracks,
)
from albumrec_pipeline.definitions import (
    INGEST_JOBS,
    TAG_INGEST_JOBS,
    build_definitions,
)
from albumrec_pipeline.demo.world import (
    DemoWorld,
    DemoWorldSpec,
    build_demo_world,
    write_demo_world,
)
from albumrec_pipeline.resources.acousticbrainz_api import AcousticBrainzApiSource
from albumrec_pipeline.resources.dumps import (
    musicbrainz_archives,
    musicbrainz_tag_archives,
)
from albumrec_pipeline.resources.feature_sources import IngestedReleaseCatalog
from albumrec_pipeline.resources.musicbrainz_api import MusicBrainzApiCatalog
from albumrec_pipeline_tests.pipeline_runs import (
    definitions_for,
    ingest_every_partition,
)

CONTACT = "tests@albumrec.invalid"
FAST_CLIENT = {
    "requests_per_window": 1000,
    "window_seconds": 1.0,
    "timeout_seconds": 2.0,
    "max_attempts": 2,
    "backoff_seconds": 0.02,
    "max_backoff_seconds": 0.1,
}

ARTIST_A = "a1f2c3d4-0000-4000-8000-00000000000a"
ARTIST_B = "b1f2c3d4-0000-4000-8000-00000000000b"
ARTIST_C = "c1f2c3d4-0000-4000-8000-00000000000c"
GROUP = "9e0f0000-0000-4000-8000-000000000001"
COMPILATION_GROUP = "9e0f0000-0000-4000-8000-000000000002"
ALBUM = "7a000000-0000-4000-8000-000000000001"
COMPILATION = "7a000000-0000-4000-8000-000000000002"
SONG = "5c000000-0000-4000-8000-000000000001"
DUET = "5c000000-0000-4000-8000-000000000002"
UNTAGGED = "5c000000-0000-4000-8000-000000000003"


def genre(name: str, count: int) -> dict:
    """A genre entry exactly as the WS/2 JSON serializer writes it."""
    return {"count": count, "disambiguation": "", "id": "0b0b0b0b-0000-4000-8000-000000000000", "name": name}


def tag(name: str, count: int) -> dict:
    return {"count": count, "name": name}


def artist(artist_id: str, name: str, tags: list[dict] | None = None, genres: list[dict] | None = None) -> dict:
    body = {"id": artist_id, "name": name, "sort-name": name, "disambiguation": "", "type": "Group", "type-id": None}
    if tags is not None:
        body |= {"tags": tags, "genres": genres or []}
    return body


def credit(*artists: dict) -> list[dict]:
    return [
        {"name": a["name"], "joinphrase": " & " if index < len(artists) - 1 else "", "artist": a}
        for index, a in enumerate(artists)
    ]


def album_document() -> dict:
    """A release in the shape of a line of `mbdump/release` (and of a WS/2 lookup with
    `inc=recordings+artist-credits+release-groups+genres+tags`): tags on the release, its release
    group, its recordings and its artists, each artist's only at its first credit."""
    return {
        "id": ALBUM,
        "title": "Harvest Lines",
        "status": "Official",
        "date": "1975-04-01",
        "genres": [genre("folk rock", 2)],
        "tags": [tag("folk rock", 2), tag("seen live", 1)],
        "artist-credit": credit(artist(ARTIST_A, "Avenue", [tag("folk", 7), tag("Folk Rock", 3)], [genre("folk", 7)])),
        "release-group": {
            "id": GROUP,
            "title": "Harvest Lines",
            "primary-type": "Album",
            "secondary-types": [],
            "first-release-date": "1975-04-01",
            "genres": [genre("folk", 4)],
            "tags": [tag("folk", 4), tag("70s", 2)],
            "artist-credit": credit(artist(ARTIST_A, "Avenue")),
        },
        "media": [
            {
                "position": 1,
                "format": "CD",
                "track-count": 2,
                "track-offset": 0,
                "tracks": [
                    {
                        "id": "77000000-0000-4000-8000-000000000001",
                        "position": 1,
                        "number": "1",
                        "title": "Song",
                        "artist-credit": credit(artist(ARTIST_A, "Avenue")),
                        "recording": {
                            "id": SONG,
                            "title": "Song",
                            "first-release-date": "1975-04-01",
                            "genres": [],
                            "tags": [tag("ballad", 5)],
                            "artist-credit": credit(artist(ARTIST_A, "Avenue")),
                        },
                    },
                    {
                        "id": "77000000-0000-4000-8000-000000000002",
                        "position": 2,
                        "number": "2",
                        "title": "Duet",
                        # Avenue's tags are on the release's credit already; Bea's first credit is here.
                        "artist-credit": credit(
                            artist(ARTIST_A, "Avenue"), artist(ARTIST_B, "Bea", [tag("jazz", 2), tag("folk", 1)], [])
                        ),
                        "recording": {
                            "id": DUET,
                            "title": "Duet",
                            "first-release-date": "1975-04-01",
                            "genres": [],
                            "tags": [],
                            "artist-credit": credit(artist(ARTIST_A, "Avenue"), artist(ARTIST_B, "Bea")),
                        },
                    },
                ],
            }
        ],
    }


def compilation_document() -> dict:
    """A later compilation holding the song and a recording by an untagged artist."""
    return {
        "id": COMPILATION,
        "title": "Best of the Seventies",
        "status": "Official",
        "date": "1990",
        "genres": [],
        "tags": [tag("compilation", 3)],
        "artist-credit": credit(artist(ARTIST_C, "Various", [], [])),
        "release-group": {
            "id": COMPILATION_GROUP,
            "title": "Best of the Seventies",
            "primary-type": "Album",
            "secondary-types": ["Compilation"],
            "first-release-date": "1990",
            "genres": [],
            "tags": [],
            "artist-credit": credit(artist(ARTIST_C, "Various")),
        },
        "media": [
            {
                "position": 1,
                "tracks": [
                    {
                        "id": "77000000-0000-4000-8000-000000000011",
                        "position": 1,
                        "recording": {
                            "id": SONG,
                            "title": "Song",
                            "artist-credit": credit(artist(ARTIST_A, "Avenue", [tag("folk", 7)], [genre("folk", 7)])),
                        },
                    },
                    {
                        "id": "77000000-0000-4000-8000-000000000012",
                        "position": 2,
                        "recording": {"id": UNTAGGED, "title": "Filler", "artist-credit": credit(artist(ARTIST_C, "Various"))},
                    },
                ],
            }
        ],
    }


# --- parsing --------------------------------------------------------------------------------------


def test_an_entitys_genres_and_tags_become_name_vote_pairs():
    document = album_document()
    # A genre is a tag: "folk rock" counts once, with its votes; names are normalised.
    assert entity_tags(document) == [("folk rock", 2), ("seen live", 1)]
    assert entity_tags(document["artist-credit"][0]["artist"]) == [("folk", 7), ("folk rock", 3)]
    # Genres alone (inc=genres) are read too; missing or null lists are no tags.
    assert entity_tags({"genres": [genre("Hip Hop", 3)]}) == [("hip hop", 3)]
    assert entity_tags({"id": "x"}) == []
    assert entity_tags({"tags": None, "genres": None}) == []
    # Zero votes (retracted) are skipped; distinct spellings of one name add up; separators go.
    assert entity_tags({"tags": [tag("rock", 0), tag("Indie  Rock ", 2), tag("indie rock", 1)]}) == [("indie rock", 3)]
    assert tag_name("  R;n=B | Soul\t") == "rnb soul"


@pytest.mark.parametrize(
    ("entity", "message"),
    [
        ({"tags": {"name": "rock", "count": 1}}, "'tags' is not a list"),
        ({"genres": "rock"}, "'genres' is not a list"),
        ({"tags": ["rock"]}, "not an object"),
        ({"tags": [{"count": 2}]}, "has no name"),
        ({"tags": [{"name": "rock"}]}, "'rock' has no vote count"),
        ({"tags": [{"name": "rock", "count": None}]}, "'rock' has no vote count"),
        ({"tags": [{"name": "rock", "count": -1}]}, "negative vote count"),
        ({"genres": [{"name": "rock", "count": "3"}]}, "not a whole number"),
        ({"tags": [{"name": "rock", "count": True}]}, "not a whole number"),
        ({"tags": [{"name": "rock", "count": 2.5}]}, "not a whole number"),
        (["not", "an", "object"], "not a JSON object"),
    ],
)
def test_malformed_lists_are_refused_with_a_clear_message(entity, message):
    with pytest.raises(TagDocumentError, match=message):
        entity_tags(entity)


def test_tag_strings_round_trip():
    assert format_tags([("rock", 2), ("folk", 5), ("americana", 2)]) == "folk=5;americana=2;rock=2"
    assert format_tags([]) is None and format_tags([("x", 0)]) is None
    assert parse_tags("folk=5;americana=2;rock=2") == [("folk", 5), ("americana", 2), ("rock", 2)]
    assert parse_tags(None) == [] and parse_tags("") == []


def test_release_lines_keep_their_tags_as_raw_strings():
    document = album_document()
    record = release_record(document)
    assert record["release_tags"] == "folk rock=2;seen live=1"
    assert record["release_group_tags"] == "folk=4;70s=2"
    assert parse_artist_tags(record["artist_tags"]) == {
        ARTIST_A: [("folk", 7), ("folk rock", 3)],
        ARTIST_B: [("jazz", 2), ("folk", 1)],
    }
    tracks = release_tracks(document, record)
    assert [row["recording_tags"] for row in tracks] == ["ballad=5", None]
    # A document without any tag lists (a lookup without inc=tags) has no tags, and is no problem.
    bare = json.loads(json.dumps(document).replace('"tags"', '"x-tags"').replace('"genres"', '"x-genres"'))
    problems: list[str] = []
    assert {release_record(bare, problems)[c] for c in ("release_tags", "release_group_tags", "artist_tags")} == {None}
    assert problems == []


def test_a_malformed_tag_list_costs_the_tags_of_that_entity_not_the_release():
    document = album_document()
    document["release-group"]["tags"] = [{"name": "folk", "count": -4}]
    document["media"][0]["tracks"][1]["artist-credit"][1]["artist"]["tags"] = "jazz"
    counts = ReleaseIngestCounts()
    rows = ReleaseRows(counts)
    rows.add(document, "mbdump/release line 1")
    tables = rows.take()
    release = tables["releases"].to_pylist()[0]
    assert counts.releases == 1 and counts.unusable == 0 and counts.tag_problems == 2
    assert release["release_group_tags"] is None
    assert release["release_tags"] == "folk rock=2;seen live=1"
    assert parse_artist_tags(release["artist_tags"]) == {ARTIST_A: [("folk", 7), ("folk rock", 3)]}
    assert counts.problems == []
    assert any("release group" in p and "negative vote count" in p for p in counts.tag_problem_notes)
    assert any(ARTIST_B in p and "not a list" in p for p in counts.tag_problem_notes)
    assert tables["tracks"].num_rows == 2


# --- the release-group and artist archives --------------------------------------------------------


def write_mbdump(path: Path, entity: str, lines: list[bytes]) -> Path:
    """An archive in the JSON dump's layout: `mbdump/<entity>`, one document a line, beside TIMESTAMP."""
    with lzma.open(path, "wb") as compressed, tarfile.open(fileobj=compressed, mode="w|") as tar:
        for name, data in (("TIMESTAMP", b"2026-11-25 00:00:00+00\n"), (f"mbdump/{entity}", b"".join(lines))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def line(document: dict) -> bytes:
    return json.dumps(document).encode() + b"\n"


def release_group_lines() -> list[bytes]:
    return [
        line(
            {
                "id": GROUP, "title": "Harvest Lines", "primary-type": "Album", "secondary-types": [],
                "genres": [genre("folk", 6), genre("folk rock", 2)],
                "tags": [tag("70s", 2), tag("folk", 6), tag("folk rock", 2)],
                "artist-credit": credit(artist(ARTIST_A, "Avenue", [tag("folk", 7)], [genre("folk", 7)])),
            }
        ),
        b"{this is not json\n",
        line({"id": COMPILATION_GROUP, "title": "Best of the Seventies", "genres": [], "tags": []}),
        line({"id": "9e0f0000-0000-4000-8000-000000000009", "tags": [{"name": "rock"}]}),
        line({"title": "no id", "tags": [tag("rock", 1)]}),
        b"\n",
    ]


def artist_lines() -> list[bytes]:
    return [
        line(artist(ARTIST_A, "Avenue", [tag("americana", 1), tag("folk", 9)], [genre("americana", 1), genre("folk", 9)])),
        line(artist(ARTIST_B, "Bea", [tag("jazz", 2), tag("folk", 1)], [genre("jazz", 2), genre("folk", 1)])),
        line(artist(ARTIST_C, "Various", [], [])),
        b'{"id": "d1f2c3d4-0000-4000-8000-00000000000d", "tags": [{"name": "x", "count": 1}],\n',
    ]


def test_a_tag_archive_in_the_dumps_layout_becomes_tag_rows(tmp_path):
    archive = write_mbdump(tmp_path / "release-group.tar.xz", RELEASE_GROUP, release_group_lines())
    batches = []
    counts = ingest_tag_archive(ArchiveStream(archive), TAG_ARCHIVES[RELEASE_GROUP], batches.append, TagIngestCounts(), 2)
    rows = pd.concat([batch.to_pandas() for batch in batches], ignore_index=True)
    assert list(rows.columns) == ["release_group_id", "tag", "votes"]
    assert rows.values.tolist() == [[GROUP, "folk", 6], [GROUP, "70s", 2], [GROUP, "folk rock", 2]]
    assert (counts.documents, counts.tagged, counts.tags, counts.unusable) == (2, 1, 3, 3)
    assert "line 2" in counts.problems[0]
    assert "'rock' has no vote count" in counts.problems[1] and "line 4" in counts.problems[1]
    assert "without an 'id'" in counts.problems[2]

    wrong = write_mbdump(tmp_path / "artist.tar.xz", "release", artist_lines())
    with pytest.raises(DumpFormatError, match="no mbdump/artist member"):
        ingest_tag_archive(ArchiveStream(wrong), TAG_ARCHIVES[ARTIST], batches.append, TagIngestCounts())


def write_release_dump(path: Path, releases: list[dict]) -> Path:
    return write_mbdump(path, "release", [line(release) for release in releases])


def ingest(musicbrainz: Path, root: Path) -> tuple[dg.Definitions, list[dg.ExecuteInProcessResult]]:
    (root / "ab").mkdir(exist_ok=True)
    defs = build_definitions(root / "ab", musicbrainz, str(root / "warehouse"), root / "scratch")
    with dg.DagsterInstance.ephemeral() as instance:
        return defs, ingest_every_partition(defs, instance)


def test_the_archives_are_partitions_of_their_tables_and_their_tags_reach_the_recordings(tmp_path):
    musicbrainz = tmp_path / "mb"
    musicbrainz.mkdir()
    write_release_dump(musicbrainz / "release.tar.xz", [album_document(), compilation_document()])
    write_mbdump(musicbrainz / "release-group.tar.xz", RELEASE_GROUP, release_group_lines())
    write_mbdump(musicbrainz / "artist.tar.xz", ARTIST, artist_lines())
    assert list(musicbrainz_archives(musicbrainz)) == ["release"]
    assert list(musicbrainz_tag_archives(musicbrainz, RELEASE_GROUP)) == ["release-group"]
    assert list(musicbrainz_tag_archives(musicbrainz, ARTIST)) == ["artist"]

    defs, runs = ingest(musicbrainz, tmp_path)
    assert [run.success for run in runs] == [True, True, True]
    for entity, job in TAG_INGEST_JOBS.items():
        assert job in INGEST_JOBS
        assert defs.resolve_job_def(job).partitions_def.get_partition_keys() == [entity]
    warehouse = tmp_path / "warehouse"
    groups = pd.read_parquet(warehouse / "musicbrainz_release_group_tags" / "release-group.parquet")
    assert set(map(tuple, groups.values.tolist())) == {(GROUP, "folk", 6), (GROUP, "folk rock", 2), (GROUP, "70s", 2)}
    artists = pd.read_parquet(warehouse / "musicbrainz_artist_tags" / "artist.parquet")
    assert sorted(map(tuple, artists.values.tolist())) == sorted(
        [(ARTIST_A, "folk", 9), (ARTIST_A, "americana", 1), (ARTIST_B, "jazz", 2), (ARTIST_B, "folk", 1)]
    )
    (artist_run,) = [run for run in runs if run.dagster_run.job_name == TAG_INGEST_JOBS[ARTIST]]
    (materialization,) = artist_run.asset_materializations_for_node("musicbrainz_artist_tags")
    assert materialization.metadata["unusable_artists"].value == 1
    assert materialization.metadata["tagged_artists"].value == 2
    releases = pd.read_parquet(warehouse / "musicbrainz_releases" / "release.parquet").set_index("release_id")
    assert releases.loc[ALBUM, "release_group_tags"] == "folk=4;70s=2"

    tags = IngestedReleaseCatalog(warehouse=str(warehouse)).recording_tags([SONG, DUET, UNTAGGED, "unknown"])
    assert tags["mbid"].tolist() == [SONG, DUET, UNTAGGED, "unknown"]
    found = dict(zip(tags["mbid"], tags["musicbrainz_tags"]))
    # SONG is on the album and the compilation: both releases (folk rock 2, seen live 1; compilation 3),
    # both release groups (the album's: folk 6 from the archive over 4 in the release line, folk rock 2,
    # 70s 2; the compilation's none) and its artist Avenue (folk 9 from the archive over 7, americana 1,
    # folk rock 3 from the release line). Each entity once; its own recording tags are not counted.
    assert found[SONG] == "folk=15;folk rock=7;compilation=3;70s=2;americana=1;seen live=1"
    # DUET: the album, its release group, Avenue and Bea (jazz 2, folk 1).
    assert found[DUET] == "folk=16;folk rock=7;70s=2;jazz=2;americana=1;seen live=1"
    # Only on the compilation, by an artist without tags: the compilation's tag alone.
    assert found[UNTAGGED] == "compilation=3"
    assert found["unknown"] is None


def test_without_the_optional_archives_releases_still_work_with_the_tags_they_carry(tmp_path):
    musicbrainz = tmp_path / "mb"
    musicbrainz.mkdir()
    write_release_dump(musicbrainz / "release.tar.xz", [album_document(), compilation_document()])
    defs, runs = ingest(musicbrainz, tmp_path)
    assert [run.success for run in runs] == [True]
    for job in TAG_INGEST_JOBS.values():
        assert defs.resolve_job_def(job).partitions_def.get_partition_keys() == []
    tags = IngestedReleaseCatalog(warehouse=str(tmp_path / "warehouse")).recording_tags([SONG, DUET])
    # From the release lines alone: the release group's tags as the release carries them, the
    # artists' as their credits do.
    assert tags["musicbrainz_tags"].tolist() == [
        "folk=11;folk rock=5;compilation=3;70s=2;seen live=1",
        "folk=12;folk rock=5;70s=2;jazz=2;seen live=1",
    ]


def test_the_same_documents_give_the_same_tags_in_memory_as_from_the_catalog():
    tags, counts = recording_tags_from_documents([album_document(), compilation_document()], [SONG, DUET, UNTAGGED])
    assert tags == {
        SONG: "folk=11;folk rock=5;compilation=3;70s=2;seen live=1",
        DUET: "folk=12;folk rock=5;70s=2;jazz=2;seen live=1",
        UNTAGGED: "compilation=3",
    }
    assert counts.releases == 2 and counts.tag_problems == 0


def test_a_new_tag_archive_partition_brings_the_tagged_tables_up_to_date(tmp_path):
    (tmp_path / "ab").mkdir()
    (tmp_path / "mb").mkdir()
    (tmp_path / "ab" / "acousticbrainz-lowlevel-json-20220623-0.tar.zst").write_bytes(b"")
    for name in ("release.tar.xz", "artist.tar.xz"):
        (tmp_path / "mb" / name).write_bytes(b"")
    defs = build_definitions(tmp_path / "ab", tmp_path / "mb", str(tmp_path / "warehouse"), tmp_path / "scratch")
    graph = defs.resolve_asset_graph()
    with dg.DagsterInstance.ephemeral() as instance:

        def materialized(*keys: str, partition: str | None = None) -> None:
            for key in keys:
                instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=partition))

        def requested(cursor):
            result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
            names = {key.to_user_string() for key in graph.get_all_asset_keys() if result.get_num_requested(key)}
            return names, result.cursor

        materialized("acousticbrainz_lowlevel", "acousticbrainz_highlevel", partition="acousticbrainz-lowlevel-json-20220623-0")
        materialized("musicbrainz_releases", "musicbrainz_tracks", partition="release")
        materialized("musicbrainz_artist_tags", partition="artist")
        everything = [key.to_user_string() for key in graph.get_all_asset_keys() if not graph.get(key).is_partitioned]
        materialized(*everything)
        names, cursor = requested(None)
        assert names == set()
        materialized("musicbrainz_artist_tags", partition="artist")
        names, _ = requested(cursor)
        assert {"raw_track_features", "candidate_track_features"} <= names


# --- the live service -----------------------------------------------------------------------------


def recording_search_answer() -> dict:
    """A `/ws/2/recording?query=rid:(...)` answer: hits list their releases, with no tags."""
    hit = {
        "id": DUET,
        "score": 100,
        "title": "Duet",
        "length": 200000,
        "video": None,
        "artist-credit": credit(artist(ARTIST_A, "Avenue"), artist(ARTIST_B, "Bea")),
        "first-release-date": "1975-04-01",
        "releases": [
            {
                "id": ALBUM,
                "count": 1,
                "title": "Harvest Lines",
                "status": "Official",
                "date": "1975-04-01",
                "artist-credit": credit(artist(ARTIST_A, "Avenue")),
                "release-group": {"id": GROUP, "title": "Harvest Lines", "primary-type": "Album", "secondary-types": []},
                "track-count": 2,
                "media": [{"position": 1, "format": "CD", "track": [{"id": "t", "number": "2", "title": "Duet"}],
                           "track-count": 2, "track-offset": 1}],
            }
        ],
    }
    return {"created": "2026-11-25T00:00:00.000Z", "count": 1, "offset": 0, "recordings": [hit]}


def test_the_live_catalog_asks_for_genres_and_tags_and_combines_them_like_the_dump(tmp_path):
    server = HTTPServer(host="127.0.0.1", port=0)
    server.expect_request("/ws/2/recording").respond_with_json(recording_search_answer())
    server.expect_request(
        f"/ws/2/release/{ALBUM}", query_string={"inc": "recordings artist-credits release-groups genres tags", "fmt": "json"}
    ).respond_with_json(album_document())
    server.start()
    try:
        catalog = MusicBrainzApiCatalog(
            acousticbrainz=AcousticBrainzApiSource(state_dir=str(tmp_path)),
            base_url=server.url_for("/ws/2"),
            contact=CONTACT,
            state_dir=str(tmp_path),
            **FAST_CLIENT,
        )
        tags = catalog.recording_tags([DUET, UNTAGGED])
        lookups = [request for request, _ in server.log if request.path.startswith("/ws/2/release/")]
        statuses = [response.status_code for _, response in server.log]
        # One search found each recording's release; the metadata and a second asking are kept.
        metadata = catalog.recording_metadata([DUET])
        again = catalog.recording_tags([DUET, UNTAGGED])
        sent = len(server.log)
    finally:
        server.stop()
    assert statuses == [200, 200] and len(lookups) == 1
    assert "inc=recordings+artist-credits+release-groups+genres+tags" in lookups[0].query_string.decode()
    assert metadata["release_title"].tolist() == ["Harvest Lines"]
    # The album, its release group, Avenue and Bea: what the dump's release line gives.
    expected = recording_tags_from_documents([album_document()], [DUET])[0][DUET]
    assert expected == "folk=12;folk rock=5;70s=2;jazz=2;seen live=1"
    assert tags["musicbrainz_tags"].tolist() == [expected, None]
    # Kept: asked again, nothing is sent.
    assert sent == 2 and again.equals(tags)


def test_found_albums_carry_their_tags_into_the_live_partition(tmp_path):
    from albumrec_pipeline_tests.fake_services import FakeServices, FakeWorld, serve

    world = FakeWorld()
    found = world.add_album("Found", "Band", "2001", tracks=3)
    found |= {"genres": [genre("shoegaze", 4)], "tags": [tag("shoegaze", 4), tag("loud", 1)]}
    found["release-group"] |= {"genres": [], "tags": [tag("dream pop", 2)]}
    found["artist-credit"][0]["artist"] |= {"tags": [tag("indie", 3)], "genres": []}
    services = FakeServices(world)
    with serve(services) as url:
        acousticbrainz = AcousticBrainzApiSource(base_url=url, state_dir=str(tmp_path), **FAST_CLIENT)
        catalog = MusicBrainzApiCatalog(
            acousticbrainz=acousticbrainz, base_url=f"{url}/ws/2", contact=CONTACT, state_dir=str(tmp_path), **FAST_CLIENT
        )
        from albumrec_pipeline.resources.feature_sources import AlbumSearch

        discovered = catalog.discover_releases(AlbumSearch(), log=lambda _: None)
    (lookup,) = services.requests_to("/ws/2/release/")
    assert lookup.args["inc"] == "recordings artist-credits release-groups genres tags"
    counts = ReleaseIngestCounts()
    rows = ReleaseRows(counts)
    for document in discovered.releases:
        rows.add(document, "live")
    (release,) = rows.take()["releases"].to_pylist()
    assert release["release_tags"] == "shoegaze=4;loud=1"
    assert release["release_group_tags"] == "dream pop=2"
    assert release["artist_tags"].endswith(":indie=3")


# --- the demo world -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_world() -> DemoWorld:
    return build_demo_world(DemoWorldSpec.small())


def members(path: Path) -> dict[str, bytes]:
    return {member.name: member.read() for member in ArchiveStream(path)}


def test_the_demo_world_writes_both_archives_in_the_dumps_format(small_world, tmp_path):
    paths = write_demo_world(small_world, tmp_path / "demo")
    assert sorted(p.name for p in paths.musicbrainz_dumps.iterdir()) == ["artist.tar.xz", "release-group.tar.xz", "release.tar.xz"]
    for archive, entity, documents in (
        (paths.release_group_archive, "release-group", small_world.release_groups),
        (paths.artist_archive, "artist", small_world.artists),
    ):
        found = members(archive)
        assert set(found) == {"TIMESTAMP", "COPYING", f"mbdump/{entity}"}
        lines = [json.loads(text) for text in found[f"mbdump/{entity}"].decode().splitlines()]
        assert lines == documents
        tagged = [document for document in lines if document["tags"]]
        assert 0 < len(tagged) < len(lines)  # some are untagged
        for document in lines:
            tags = {t["name"]: t["count"] for t in document["tags"]}
            assert [t["name"] for t in document["tags"]] == sorted(tags)
            assert all(isinstance(count, int) and count >= 1 for count in tags.values())
            for entry in document["genres"]:
                # A genre is a tag with the same votes, in the serializer's shape.
                assert set(entry) == {"count", "disambiguation", "id", "name"} and tags[entry["name"]] == entry["count"]
    assert len(small_world.artists) == small_world.spec.artists
    assert {g["id"] for g in small_world.release_groups} == {r["release-group"]["id"] for r in small_world.releases}
    # Release lines carry the release's lists and, at the release's credit, its artist's tags.
    artists = {a["id"]: a["tags"] for a in small_world.artists}
    for release in small_world.releases:
        assert isinstance(release["genres"], list) and isinstance(release["tags"], list)
        credited = release["artist-credit"][0]["artist"]
        assert credited["tags"] == artists[credited["id"]]
        assert "tags" not in release["release-group"]["artist-credit"][0]["artist"]
    assert build_demo_world(DemoWorldSpec.small()).artists == small_world.artists


def test_demo_tags_carry_the_listeners_taste_across_artists():
    """Tags learnt on half of the labelled artists say something of the other half's tracks, as real
    genre tags do: the tags follow the style, like the hidden taste. Each test track is scored by
    the vote-weighted liked share of its artist's tags among the training artists' tracks."""
    world = build_demo_world(DemoWorldSpec())
    tags = {a["id"]: {t["name"]: t["count"] for t in a["tags"]} for a in world.artists if a["tags"]}
    labelled = world.truth[world.truth["is_labelled"] & world.truth["artist_id"].isin(tags)]
    artists = sorted(labelled["artist_id"].unique())
    rng = np.random.default_rng(0)
    aucs = []
    for _ in range(20):
        learn = set(rng.choice(artists, len(artists) // 2, replace=False))
        train, test = labelled[labelled["artist_id"].isin(learn)], labelled[~labelled["artist_id"].isin(learn)]
        liked_share = (
            pd.DataFrame([(name, liked) for a, liked in zip(train["artist_id"], train["liked"]) for name in tags[a]])
            .groupby(0)[1]
            .mean()
        )

        def score(artist_id: str) -> float:
            known = [(votes, liked_share[name]) for name, votes in tags[artist_id].items() if name in liked_share]
            total = sum(votes for votes, _ in known)
            return sum(votes * share for votes, share in known) / total if total else train["liked"].mean()

        scores = test["artist_id"].map(score).to_numpy()
        liked, disliked = scores[test["liked"].to_numpy() == 1], scores[test["liked"].to_numpy() == 0]
        aucs.append((liked[:, None] > disliked[None, :]).mean() + 0.5 * (liked[:, None] == disliked[None, :]).mean())
    assert np.mean(aucs) > 0.62


def test_the_demo_worlds_tags_reach_the_labelled_and_the_candidate_rows(small_world, tmp_path):
    paths = write_demo_world(small_world, tmp_path / "world")
    defs = definitions_for(paths, tmp_path / "warehouse", tmp_path / "scratch")
    selected = ["liked_tracks", "recording_features", "raw_track_features", "candidate_albums", "candidate_track_features"]
    with dg.DagsterInstance.ephemeral() as instance:
        assert all(run.success for run in ingest_every_partition(defs, instance))
        result = defs.resolve_job_def("recommend_albums").execute_in_process(
            run_config=dg.RunConfig(
                {"liked_tracks": {"config": {"csv_path": str(paths.liked_tracks_path), "feedback_csv_path": str(tmp_path / "none.csv")}}}
            ),
            instance=instance,
            asset_selection=[dg.AssetKey(name) for name in selected],
        )
    assert result.success
    labelled = pd.read_parquet(tmp_path / "warehouse" / "raw_track_features.parquet")
    candidates = pd.read_parquet(tmp_path / "warehouse" / "candidate_track_features.parquet")
    assert list(labelled.columns[-2:]) == ["musicbrainz_tags", "liked"]
    assert candidates.columns[-1] == "musicbrainz_tags"

    # The same string worked out from the world's documents by hand: every release holding the
    # recording, each of their release groups, its artist; each entity's votes counted once.
    def votes(document: dict) -> dict[str, int]:
        return {t["name"]: t["count"] for t in document["tags"]}

    groups = {g["id"]: votes(g) for g in small_world.release_groups}
    artists = {a["id"]: votes(a) for a in small_world.artists}
    holding: dict[str, list[dict]] = {}
    credited: dict[str, set[str]] = {}
    for release in small_world.releases:
        for medium in release["media"]:
            for track in medium["tracks"]:
                recording = track["recording"]
                holding.setdefault(recording["id"], []).append(release)
                credited.setdefault(recording["id"], set()).update(c["artist"]["id"] for c in recording["artist-credit"])

    def expected(recording_id: str) -> str | None:
        total: dict[str, int] = {}
        releases = holding[recording_id]
        entities = [votes(r) for r in releases] + [groups[g] for g in {r["release-group"]["id"] for r in releases}]
        entities += [artists[artist_id] for artist_id in credited[recording_id]]
        for entity in entities:
            for name, count in entity.items():
                total[name] = total.get(name, 0) + count
        return format_tags(total.items())

    for table in (labelled, candidates):
        assert table["musicbrainz_tags"].notna().mean() > 0.5
        for row in table.sample(n=min(150, len(table)), random_state=1).itertuples():
            found = None if pd.isna(row.musicbrainz_tags) else row.musicbrainz_tags
            assert found == expected(row.mbid), row.mbid
