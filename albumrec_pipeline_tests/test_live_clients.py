"""The live MusicBrainz and AcousticBrainz clients against real HTTP servers on 127.0.0.1.

Each test gets its own pair of servers (fresh ports) and its own state folder. Rate limits,
timeouts and backoffs are shrunk so the whole file runs in well under a minute, but every
claim is checked from the server's side: what arrived, when, and how often.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from pytest_httpserver import HTTPServer

from albumrec_pipeline.assets.ingest import liked_tracks, raw_track_features
from albumrec_pipeline.core.documents import track_row_from_documents
from albumrec_pipeline.core.releases import TRACK_COLUMNS, recording_metadata, tracklist_table
from albumrec_pipeline.resources.acousticbrainz_api import AcousticBrainzApiSource, lowest_offset_document
from albumrec_pipeline.resources.feature_sources import (
    AUDIO_COLUMNS,
    AlbumSearch,
    IngestedReleaseCatalog,
    IngestedTrackFeatures,
    ReleaseCatalog,
    TrackFeatureSource,
)
from albumrec_pipeline.resources.http_client import (
    CONTACT_ENV_VAR,
    MissingContactError,
    ServiceError,
    albumrec_version,
)
from albumrec_pipeline.resources.musicbrainz_api import MusicBrainzApiCatalog
from albumrec_pipeline.resources.service_client import LiveServiceClient
from albumrec_pipeline.resources.source_selection import SOURCE_ENV_VAR, source_resources
from albumrec_pipeline_tests.conftest import load_json
from albumrec_pipeline_tests.fake_services import FakeServices, FakeWorld, serve

REPO_ROOT = Path(__file__).resolve().parents[1]
CONTACT = "tests@albumrec.invalid"

# Generous enough never to slow a test down unless the test sets its own.
FAST_CLIENT = {
    "requests_per_window": 1000,
    "window_seconds": 1.0,
    "timeout_seconds": 2.0,
    "max_attempts": 4,
    "backoff_seconds": 0.02,
    "max_backoff_seconds": 0.1,
}


@dataclass
class Live:
    world: FakeWorld
    acousticbrainz_server: FakeServices
    musicbrainz_server: FakeServices
    acousticbrainz_url: str
    musicbrainz_url: str
    state_dir: Path

    def acousticbrainz(self, **settings) -> AcousticBrainzApiSource:
        options = {**FAST_CLIENT, "contact": CONTACT, **settings}
        return AcousticBrainzApiSource(base_url=self.acousticbrainz_url, state_dir=str(self.state_dir), **options)

    def musicbrainz(self, acousticbrainz: AcousticBrainzApiSource | None = None, **settings) -> MusicBrainzApiCatalog:
        options = {**FAST_CLIENT, "contact": CONTACT, **settings}
        return MusicBrainzApiCatalog(
            acousticbrainz=acousticbrainz or self.acousticbrainz(),
            base_url=self.musicbrainz_url + "/ws/2",
            state_dir=str(self.state_dir),
            **options,
        )


@pytest.fixture
def world() -> FakeWorld:
    return FakeWorld()


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[FakeServices, str, FakeServices, str]]:
    # Started once: stopping a server takes about half a second. Each test gets a fresh world and
    # state folder, and since the rate-limit budget is kept per state folder, nothing carries over.
    acousticbrainz, musicbrainz = FakeServices(FakeWorld()), FakeServices(FakeWorld())
    with serve(acousticbrainz) as acousticbrainz_url, serve(musicbrainz) as musicbrainz_url:
        yield acousticbrainz, acousticbrainz_url, musicbrainz, musicbrainz_url


@pytest.fixture
def live(servers, world: FakeWorld, tmp_path: Path) -> Live:
    acousticbrainz, acousticbrainz_url, musicbrainz, musicbrainz_url = servers
    acousticbrainz.reset(world)
    musicbrainz.reset(world)
    return Live(world, acousticbrainz, musicbrainz, acousticbrainz_url, musicbrainz_url, tmp_path / "state")


def ids_in(request) -> list[str]:
    return request.args["recording_ids"].split(";")


def drop_stored_documents(source: AcousticBrainzApiSource) -> None:
    """Forget the parsed documents (as if the state folder had only the HTTP cache)."""
    source.close()
    for suffix in ("", "-wal", "-shm"):
        Path(source.state_dir, f"acousticbrainz_documents.sqlite{suffix}").unlink(missing_ok=True)


def expected_rows(world: FakeWorld, recording_ids: list[str]) -> pd.DataFrame:
    rows = [
        track_row_from_documents(r, world.recordings[r].lowlevel[0], world.recordings[r].highlevel[0])
        for r in recording_ids
        if world.recordings[r].lowlevel
    ]
    return pd.DataFrame(rows, columns=AUDIO_COLUMNS)


# --- AcousticBrainz ---------------------------------------------------------------------------


def test_bulk_requests_give_the_rows_and_record_missing_ids(live: Live, world: FakeWorld):
    album = world.add_album("Bulk", "Band", "1999-01-01", tracks=40, with_features=34)
    ids = world.track_ids(album)
    # A recording analysed twice: its first submission (offset 0) is the one used.
    twice = world.recordings[ids[0]]
    twice.lowlevel.append({**twice.lowlevel[0], "rhythm": {"bpm": 999.0, "beats_count": 1}})
    random.Random(7).shuffle(ids)
    lines: list[str] = []

    fetched = live.acousticbrainz().fetch_track_features(ids, log=lines.append)

    covered = [r for r in ids if world.recordings[r].lowlevel]
    pd.testing.assert_frame_equal(fetched.rows, expected_rows(world, covered))
    assert fetched.without_documents == [r for r in ids if not world.recordings[r].lowlevel]
    assert fetched.unusable == {}
    lowlevel = live.acousticbrainz_server.requests_to("/api/v1/low-level")
    highlevel = live.acousticbrainz_server.requests_to("/api/v1/high-level")
    assert [len(ids_in(r)) for r in lowlevel] == [25, 15]
    assert [len(ids_in(r)) for r in highlevel] == [25, 9]  # recordings without low-level are not asked again
    assert sorted(sum((ids_in(r) for r in highlevel), [])) == sorted(covered)
    assert {r.user_agent for r in lowlevel + highlevel} == {f"albumrec/{albumrec_version()} ( {CONTACT} )"}
    progress = [line for line in lines if re.search(r": \d+/\d+ \(.+/s, about .+s left\)$", line)]
    assert any("40/40" in line for line in progress) and any("34/34" in line for line in progress)


def test_a_rerun_sends_no_request_and_missing_ids_are_not_asked_again(live: Live, world: FakeWorld):
    album = world.add_album("Cached", "Band", "2001", tracks=30, with_features=26)
    ids = world.track_ids(album)
    first = live.acousticbrainz().fetch_track_features(ids)
    sent = len(live.acousticbrainz_server.log)
    assert sent == 4

    rerun = live.acousticbrainz()  # a new resource: as in a new run
    again = rerun.fetch_track_features(ids)
    assert len(live.acousticbrainz_server.log) == sent
    pd.testing.assert_frame_equal(again.rows, first.rows)
    assert again.without_documents == first.without_documents

    # Without the stored documents, the persistent HTTP cache alone still answers every request.
    drop_stored_documents(rerun)
    cached = live.acousticbrainz().fetch_track_features(ids)
    assert len(live.acousticbrainz_server.log) == sent
    pd.testing.assert_frame_equal(cached.rows, first.rows)


def test_503_bursts_are_retried_with_backoff(live: Live, world: FakeWorld):
    ids = world.track_ids(world.add_album("Busy", "Band", "2002", tracks=5))
    live.acousticbrainz_server.inject("/api/v1/low-level", "status", times=3, status=503)
    lines: list[str] = []
    source = live.acousticbrainz(backoff_seconds=0.05, max_backoff_seconds=0.2, max_attempts=5)
    source.session.log = lines.append

    fetched = source.fetch_track_features(ids)

    assert len(fetched.rows) == 5
    attempts = live.acousticbrainz_server.requests_to("/api/v1/low-level")
    assert [r.status for r in attempts] == [503, 503, 503, 200]
    assert len({tuple(ids_in(r)) for r in attempts}) == 1
    gaps = [later.at - earlier.at for earlier, later in zip(attempts, attempts[1:], strict=False)]
    assert all(gap >= 0.045 for gap in gaps), gaps
    assert gaps[2] > gaps[0]  # the pause grows
    assert len(lines) == 3 and "503" in lines[0] and "/api/v1/low-level" in lines[0]


def test_429_retry_after_is_honoured_by_musicbrainz_requests(live: Live, world: FakeWorld):
    ids = world.track_ids(world.add_album("Later", "Band", "1990", tracks=3))
    live.musicbrainz_server.inject("/ws/2/recording", "status", status=429, headers={"Retry-After": "1"})

    table = live.musicbrainz().recording_metadata(ids)

    assert sorted(table["mbid"]) == sorted(ids)
    first, second = live.musicbrainz_server.requests_to("/ws/2/recording")
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 0.98


def test_acousticbrainz_429_waits_for_the_window_to_reset(live: Live, world: FakeWorld):
    ids = world.track_ids(world.add_album("Window", "Band", "1990", tracks=3))
    live.acousticbrainz_server.inject(
        "/api/v1/high-level",
        "status",
        status=429,
        headers={"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset-In": "0.8"},
    )

    assert len(live.acousticbrainz().fetch_track_features(ids).rows) == 3

    first, second = live.acousticbrainz_server.requests_to("/api/v1/high-level")
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 0.78


def test_a_slow_answer_past_the_timeout_is_retried(live: Live, world: FakeWorld):
    ids = world.track_ids(world.add_album("Slow", "Band", "1990", tracks=4))
    # The first low-level request gets no answer until the test lets it go, after the fetch.
    slow = live.acousticbrainz_server.inject("/api/v1/low-level", "hold")

    try:
        fetched = live.acousticbrainz(timeout_seconds=0.25).fetch_track_features(ids)
        # Still unanswered when the rows came back: they came from the second request.
        first, second = live.acousticbrainz_server.requests_to("/api/v1/low-level")
        assert slow.held.is_set() and first.status == 0
    finally:
        slow.release.set()

    pd.testing.assert_frame_equal(fetched.rows, expected_rows(world, ids))
    assert second.status == 200 and ids_in(second) == ids_in(first)
    assert second.at - first.at >= 0.25  # asked again only once the timeout had passed


def test_truncated_json_is_retried_and_never_cached(live: Live, world: FakeWorld):
    ids = world.track_ids(world.add_album("Cut", "Band", "1990", tracks=6))
    live.acousticbrainz_server.inject("/api/v1/high-level", "truncate")

    source = live.acousticbrainz()
    fetched = source.fetch_track_features(ids)
    assert len(fetched.rows) == 6
    assert [r.status for r in live.acousticbrainz_server.requests_to("/api/v1/high-level")] == [200, 200]

    # What the cache kept is the complete answer: re-reading it from the cache gives the same rows.
    drop_stored_documents(source)
    again = live.acousticbrainz().fetch_track_features(ids)
    pd.testing.assert_frame_equal(again.rows, fetched.rows)
    assert len(live.acousticbrainz_server.requests_to("/api/v1/high-level")) == 2


def test_json_that_stays_malformed_ends_in_an_error_naming_endpoint_and_recordings(live: Live, world: FakeWorld):
    ids = world.track_ids(world.add_album("Broken", "Band", "1990", tracks=2))
    live.acousticbrainz_server.inject("/api/v1/low-level", "truncate", times=-1)

    with pytest.raises(ServiceError) as raised:
        live.acousticbrainz(max_attempts=3).fetch_track_features(ids)

    message = str(raised.value)
    assert "AcousticBrainz GET /api/v1/low-level" in message
    assert ids[0] in message and ids[1] in message
    assert "not complete JSON" in message and "3 attempts" in message
    assert len(live.acousticbrainz_server.requests_to("/api/v1/low-level")) == 3


def test_an_unexpected_shape_names_the_recording_and_is_not_kept(live: Live, world: FakeWorld):
    ids = world.track_ids(world.add_album("Odd", "Band", "1990", tracks=3))
    live.acousticbrainz_server.inject("/api/v1/low-level", "garble", body={ids[1]: ["not", "a", "document"]})

    with pytest.raises(ServiceError) as raised:
        live.acousticbrainz().fetch_track_features(ids)
    assert f"AcousticBrainz GET /api/v1/low-level (recording {ids[1]})" in str(raised.value)

    # The odd answer was dropped from the cache: the next run asks again and gets real documents.
    assert len(live.acousticbrainz().fetch_track_features(ids).rows) == 3
    assert len(live.acousticbrainz_server.requests_to("/api/v1/low-level")) == 2


def test_client_errors_are_not_retried(live: Live, world: FakeWorld):
    ids = world.track_ids(world.add_album("Bad", "Band", "1990", tracks=2))
    live.acousticbrainz_server.inject("/api/v1/low-level", "status", status=400)

    with pytest.raises(ServiceError) as raised:
        live.acousticbrainz().fetch_track_features(ids)

    assert "400" in str(raised.value) and ids[0] in str(raised.value)
    assert len(live.acousticbrainz_server.requests_to("/api/v1/low-level")) == 1


def test_a_dead_service_ends_in_a_clear_error(world: FakeWorld, tmp_path: Path):
    ids = world.track_ids(world.add_album("Gone", "Band", "1990", tracks=2))
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = AcousticBrainzApiSource(
        base_url=f"http://127.0.0.1:{port}", state_dir=str(tmp_path), **{**FAST_CLIENT, "max_attempts": 3}
    )

    with pytest.raises(ServiceError) as raised:
        source.fetch_track_features(ids)

    message = str(raised.value)
    assert "GET /api/v1/low-level" in message and ids[0] in message
    assert "could not reach" in message and "3 attempts" in message


def test_a_killed_run_resumes_where_it_stopped(live: Live, world: FakeWorld):
    ids = world.track_ids(world.add_album("Long", "Band", "1990", tracks=60))
    # The third low-level batch (recordings 50..59) is held open until the run has been killed.
    held = live.acousticbrainz_server.inject("/api/v1/low-level", "hold", query=ids[50])
    settings = {**FAST_CLIENT, "base_url": live.acousticbrainz_url, "state_dir": str(live.state_dir)}
    script = (
        "import json, sys\n"
        "from albumrec_pipeline.resources.acousticbrainz_api import AcousticBrainzApiSource\n"
        "settings, ids = json.loads(sys.argv[1]), json.loads(sys.argv[2])\n"
        "AcousticBrainzApiSource(**settings).fetch_track_features(ids)\n"
    )
    run = subprocess.Popen(
        [sys.executable, "-c", script, json.dumps(settings), json.dumps(ids)],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert held.held.wait(timeout=30), "the run never reached its third batch"
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=10)
        held.release.set()
    before = len(live.acousticbrainz_server.log)
    assert before == 3

    fetched = live.acousticbrainz().fetch_track_features(ids)

    pd.testing.assert_frame_equal(fetched.rows, expected_rows(world, ids))
    resumed = live.acousticbrainz_server.log[before:]
    lowlevel = [ids_in(r) for r in resumed if r.path == "/api/v1/low-level"]
    assert lowlevel == [ids[50:60]]  # the two finished batches are not asked for again
    assert sum(len(ids_in(r)) for r in resumed if r.path == "/api/v1/high-level") == 60


def test_acousticbrainz_rate_limit_headers_adapt_the_pace(world: FakeWorld, tmp_path: Path):
    ids = world.track_ids(world.add_album("Paced", "Band", "1990", tracks=5))
    services = FakeServices(world, acousticbrainz_window=(4, 1.0))  # 429 past 4 requests per second
    with serve(services) as url:
        # Configured far above what the server allows: the headers must bring it down.
        source = AcousticBrainzApiSource(
            base_url=url, state_dir=str(tmp_path), batch_size=1, **{**FAST_CLIENT, "requests_per_window": 50}
        )
        fetched = source.fetch_track_features(ids)
    assert len(fetched.rows) == 5
    assert [r.status for r in services.log] == [200] * 10  # never once over the limit
    assert services.log[-1].at - services.log[0].at >= 1.0


def test_request_timestamps_at_the_server_keep_the_configured_rates(live: Live, world: FakeWorld):
    ids = world.track_ids(world.add_album("Metered", "Band", "1990", tracks=8))

    # MusicBrainz, one request per 0.1 s (a tenth of the real interval), enforced by the server too.
    live.musicbrainz_server.musicbrainz_interval = 0.1
    live.musicbrainz(requests_per_window=1, window_seconds=0.1, metadata_batch_size=1).recording_metadata(ids)
    searches = live.musicbrainz_server.requests_to("/ws/2/recording")
    assert [r.status for r in searches] == [200] * 8
    gaps = [later.at - earlier.at for earlier, later in zip(searches, searches[1:], strict=False)]
    assert min(gaps) >= 0.095, gaps

    # AcousticBrainz without headers: the default sliding window, here 3 requests per 0.3 s.
    live.acousticbrainz(requests_per_window=3, window_seconds=0.3, batch_size=1).fetch_track_features(ids)
    arrivals = [r.at for r in live.acousticbrainz_server.log]
    assert len(arrivals) == 16
    busiest = max(sum(1 for t in arrivals if start <= t < start + 0.29) for start in arrivals)
    assert busiest <= 3
    assert arrivals[-1] - arrivals[0] >= 1.5  # 16 requests at 3 per 0.3 s need at least 5 full windows


# --- MusicBrainz ------------------------------------------------------------------------------


def test_musicbrainz_refuses_to_run_without_a_contact(live: Live, world: FakeWorld):
    ids = world.track_ids(world.add_album("Anonymous", "Band", "1990", tracks=2))
    catalog = live.musicbrainz(contact="  ")

    with pytest.raises(MissingContactError, match=CONTACT_ENV_VAR):
        catalog.recording_metadata(ids)
    with pytest.raises(MissingContactError, match=CONTACT_ENV_VAR):
        catalog.discover_releases(AlbumSearch())
    assert live.musicbrainz_server.log == []


def test_recording_metadata_uses_batched_searches_and_the_earliest_release(live: Live, world: FakeWorld):
    album = world.add_album("Debut", "Band", "1999-05-01", tracks=120)
    ids = world.track_ids(album)
    recordings = [world.recordings[r] for r in ids]
    # The first track also appears on a later compilation and on an earlier single: the single wins.
    world.add_release("Best Of", "Various Artists", "2010", recordings[:1], primary_type="Album")
    world.add_release("Early Single", "Band", "1998-11-02", recordings[:1], primary_type="Single")
    # A recording only on a release whose date is unknown, and one nobody has heard of.
    lonely = world.add_recording("Other Band", "Lonely", None)
    world.add_release("Undated", "Other Band", None, [lonely])
    unknown = "00000000-0000-4000-8000-000000000000"
    asked = [*ids, lonely.id, unknown]

    table = live.musicbrainz().recording_metadata(asked)

    searches = live.musicbrainz_server.requests_to("/ws/2/recording")
    assert len(searches) == 2
    for search in searches:
        assert search.args["limit"] == "100" and search.args["fmt"] == "json"
        assert re.fullmatch(r"rid:\([0-9a-f-]{36}( OR [0-9a-f-]{36})*\)", search.args["query"])
    assert sum(search.args["query"].count(" OR ") + 1 for search in searches) == len(asked)
    assert {r.user_agent for r in searches} == {f"albumrec/{albumrec_version()} ( {CONTACT} )"}

    # The same answer as the dump source gives from complete release documents.
    dump = recording_metadata(tracklist_table(world.releases.values()), asked)
    key = ["mbid"]
    pd.testing.assert_frame_equal(
        table.sort_values(key).reset_index(drop=True), dump.sort_values(key).reset_index(drop=True)
    )
    first = table.set_index("mbid").loc[ids[0]]
    assert (first["release_title"], first["release_year"]) == ("Early Single", 1999)
    assert unknown not in set(table["mbid"])

    live.musicbrainz().recording_metadata(asked)  # stored: nothing is asked again
    assert len(live.musicbrainz_server.requests_to("/ws/2/recording")) == 2


def test_candidate_discovery_checks_coverage_before_any_lookup(live: Live, world: FakeWorld):
    keep = world.add_album("Keep", "Band", "1991", tracks=12)
    world.add_release("Keep (Deluxe)", "Band", "1992", [world.recordings[r] for r in world.track_ids(keep)])
    # The deluxe edition belongs to the same album: same release group.
    deluxe = list(world.releases.values())[-1]
    deluxe["release-group"] = dict(keep["release-group"])
    sparse = world.add_album("Sparse", "Band", "1993", tracks=10, with_features=3)
    world.add_album("Short", "Band", "1994", tracks=5, primary_type="EP")
    gone = world.add_album("Gone", "Band", "1995", tracks=6)
    live.musicbrainz_server.inject(f"/ws/2/release/{gone['id']}", "status", status=404)
    keep_too = world.add_album("Keep Too", "Band", "1996", tracks=7, with_features=5)

    acousticbrainz = live.acousticbrainz()
    catalog = live.musicbrainz(acousticbrainz)
    found = catalog.discover_releases(AlbumSearch(min_feature_coverage=0.7))

    table = tracklist_table(found.releases)
    pd.testing.assert_frame_equal(table, tracklist_table([keep, keep_too]))
    assert list(table.columns) == TRACK_COLUMNS
    # The albums' tracks come from one recording search naming every album to examine: one
    # edition per release group, no EP.
    (tracks_search,) = live.musicbrainz_server.requests_to("/ws/2/recording")
    named = re.fullmatch(r"reid:\((.*)\)", tracks_search.args["query"]).group(1).split(" OR ")
    assert named == [keep["id"], sparse["id"], gone["id"], keep_too["id"]]
    # Only albums that passed every check are looked up: not the sparse one.
    lookups = [r.path.rsplit("/", 1)[1] for r in live.musicbrainz_server.requests_to("/ws/2/release/")]
    assert lookups == [keep["id"], gone["id"], keep_too["id"]]
    # The lookup is a line of the JSON dump, genres and tags (with their votes) included.
    assert live.musicbrainz_server.requests_to("/ws/2/release/")[0].args["inc"] == (
        "recordings artist-credits release-groups genres tags"
    )
    coverage = [ids_in(r) for r in live.acousticbrainz_server.log]
    # One bulk request per album examined.
    assert coverage == [world.track_ids(album) for album in (keep, sparse, gone, keep_too)]

    # Features for the kept albums then cost only the high-level requests.
    fetched = acousticbrainz.fetch_track_features(table["recording_id"].tolist())
    assert len(fetched.rows) == 17
    new = live.acousticbrainz_server.log[len(coverage) :]
    assert [r.path for r in new] == ["/api/v1/high-level"]


def test_candidate_discovery_stops_at_max_albums(live: Live, world: FakeWorld):
    albums = [world.add_album(f"Album {n}", "Band", "1990", tracks=3) for n in range(4)]
    found = live.musicbrainz().discover_releases(AlbumSearch(max_albums=2))
    assert [release["id"] for release in found.releases] == [albums[0]["id"], albums[1]["id"]]
    assert len(live.musicbrainz_server.requests_to("/ws/2/release/")) == 2


def test_album_tracks_are_listed_a_page_of_recordings_at_a_time(live: Live, world: FakeWorld):
    # 14 + 14 + ... tracks: seven albums fill one recording search of up to 100 tracks.
    albums = [world.add_album(f"Album {n}", f"Band {n}", "1990", tracks=14) for n in range(10)]
    found = live.musicbrainz().discover_releases(AlbumSearch(max_albums=10), log=lambda _: None)

    assert [release["id"] for release in found.releases] == [album["id"] for album in albums]
    searches = live.musicbrainz_server.requests_to("/ws/2/recording")
    named = [search.args["query"].count(" OR ") + 1 for search in searches]
    assert named == [7, 3]
    assert all(search.args["limit"] == "100" for search in searches)


# --- selection by configuration and a Dagster run ---------------------------------------------


def test_both_clients_share_their_settings_through_one_base():
    for client, interface in ((AcousticBrainzApiSource, TrackFeatureSource), (MusicBrainzApiCatalog, ReleaseCatalog)):
        assert issubclass(client, LiveServiceClient) and issubclass(client, interface)
    acousticbrainz = AcousticBrainzApiSource(max_attempts=2, timeout_seconds=3.0)
    catalog = MusicBrainzApiCatalog(acousticbrainz=acousticbrainz, max_attempts=3)
    features, releases = acousticbrainz.policy(), catalog.policy()
    assert (features.service, features.max_attempts, features.timeout_seconds) == ("AcousticBrainz", 2, 3.0)
    assert (releases.service, releases.max_attempts, releases.timeout_seconds) == ("MusicBrainz", 3, 30.0)
    # Each service keeps its own pace and cache expiry.
    assert (features.requests_per_window, features.window_seconds) == (10, 10.0)
    assert (features.follow_rate_limit_headers, features.cache_expire_seconds) == (True, None)
    assert (releases.requests_per_window, releases.window_seconds) == (1, 1.0)
    assert (releases.follow_rate_limit_headers, releases.cache_expire_seconds) == (False, 30 * 86_400)
    # The settings keep their flat, described names in Dagster's config schema ...
    shared = ("contact", "state_dir", "base_url", "requests_per_window", "window_seconds", "timeout_seconds",
              "max_attempts", "backoff_seconds", "max_backoff_seconds", "max_retry_after_seconds")
    for client in (AcousticBrainzApiSource, MusicBrainzApiCatalog):
        fields = client.to_config_schema().as_field().config_type.fields
        assert all(fields[name].description for name in shared), client.__name__
    # ... and their limits, also where a service redeclares a field with its own default.
    with pytest.raises(ValueError, match="requests_per_window"):
        MusicBrainzApiCatalog(acousticbrainz=acousticbrainz, requests_per_window=0)
    with pytest.raises(ValueError, match="max_attempts"):
        AcousticBrainzApiSource(max_attempts=0)


def test_sources_are_selected_by_kind(tmp_path: Path):
    for kind in ("catalog", "demo", "dump"):
        catalog = source_resources(kind, warehouse=str(tmp_path))
        assert isinstance(catalog["track_features"], IngestedTrackFeatures)
        assert isinstance(catalog["release_catalog"], IngestedReleaseCatalog)
        assert catalog["track_features"].warehouse == str(tmp_path)

    live = source_resources("live")
    assert isinstance(live["track_features"], AcousticBrainzApiSource)
    assert isinstance(live["release_catalog"], MusicBrainzApiCatalog)

    with pytest.raises(ValueError, match=SOURCE_ENV_VAR):
        source_resources("cloud")


def test_live_sources_run_the_ingest_assets_unchanged(live: Live, world: FakeWorld, monkeypatch, tmp_path: Path):
    liked_album = world.add_album("Liked", "Band", "1987-06-01", tracks=8, with_features=7)
    disliked_album = world.add_album("Disliked", "Other Band", "2004", tracks=6)
    ids = world.track_ids(liked_album) + world.track_ids(disliked_album)
    labels = tmp_path / "liked.csv"
    labels.write_text("mbid,liked\n" + "".join(f"{r},{int(r in world.track_ids(liked_album))}\n" for r in ids))
    monkeypatch.setenv(CONTACT_ENV_VAR, CONTACT)
    acousticbrainz = live.acousticbrainz(contact=dg.EnvVar(CONTACT_ENV_VAR))
    catalog = live.musicbrainz(acousticbrainz, contact=dg.EnvVar(CONTACT_ENV_VAR))

    result = dg.materialize(
        [liked_tracks, raw_track_features],
        resources={"track_features": acousticbrainz, "release_catalog": catalog},
        run_config=dg.RunConfig({"liked_tracks": {"config": {"csv_path": str(labels)}}}),
    )

    assert result.success
    table = result.output_for_node("raw_track_features")
    assert len(table) == 13
    assert set(table.loc[table["liked"] == 1, "release_year"]) == {1987}
    assert set(table["artist"]) == {"Band", "Other Band"}
    agents = {r.user_agent for r in live.musicbrainz_server.log + live.acousticbrainz_server.log}
    assert agents == {f"albumrec/{albumrec_version()} ( {CONTACT} )"}


# --- the real documents, when the reference material is at hand -------------------------------


def test_real_documents_in_the_bulk_shape(shared_dir: Path, tmp_path: Path):
    fixtures = shared_dir / "fixtures" / "acousticbrainz"
    recording = "564ccd5c-c4d3-4752-9abf-c33bb085d6a5"
    lowlevel = load_json(fixtures / f"lowlevel_{recording}.json")
    highlevel = load_json(fixtures / f"highlevel_{recording}.json")
    bulk = load_json(fixtures / "bulk_lowlevel_features_dblayer_response.json")
    first = next(iter(bulk))
    assert lowest_offset_document(bulk[first]) is bulk[first]["0"]

    server = HTTPServer(host="127.0.0.1", port=0)
    server.expect_request("/api/v1/low-level").respond_with_json({recording: {"0": lowlevel}, "mbid_mapping": {}})
    server.expect_request("/api/v1/high-level").respond_with_json({recording: {"0": highlevel}, "mbid_mapping": {}})
    server.start()
    try:
        source = AcousticBrainzApiSource(
            base_url=server.url_for("/").rstrip("/"), state_dir=str(tmp_path), **FAST_CLIENT
        )
        fetched = source.fetch_track_features([recording])
    finally:
        server.stop()
    assert fetched.rows.to_dict("records") == [track_row_from_documents(recording, lowlevel, highlevel)]


def catalog_served_by(server: HTTPServer, state_dir: Path) -> MusicBrainzApiCatalog:
    return MusicBrainzApiCatalog(
        acousticbrainz=AcousticBrainzApiSource(state_dir=str(state_dir)),
        base_url=server.url_for("/ws/2"),
        contact=CONTACT,
        state_dir=str(state_dir),
        **FAST_CLIENT,
    )


def test_real_recording_search_answer(shared_dir: Path, tmp_path: Path):
    answer = load_json(shared_dir / "fixtures" / "musicbrainz" / "recording_search_response.json")
    ids = [hit["id"] for hit in answer["recordings"]]
    server = HTTPServer(host="127.0.0.1", port=0)
    server.expect_request("/ws/2/recording").respond_with_json({**answer, "count": len(ids)})
    server.start()
    try:
        catalog = catalog_served_by(server, tmp_path)
        table = catalog.recording_metadata(ids).set_index("mbid")
    finally:
        server.stop()
    with_releases = [hit for hit in answer["recordings"] if hit.get("releases")]
    assert set(table.index) == {hit["id"] for hit in with_releases}
    for hit in with_releases:
        if hit.get("first-release-date"):
            assert table.loc[hit["id"], "release_year"] == int(hit["first-release-date"][:4])
        assert table.loc[hit["id"], "release_title"] in {release["title"] for release in hit["releases"]}


def test_real_release_search_answer(shared_dir: Path, tmp_path: Path):
    answer = load_json(shared_dir / "fixtures" / "musicbrainz" / "release_search_response.json")
    server = HTTPServer(host="127.0.0.1", port=0)
    server.expect_request("/ws/2/release").respond_with_json({**answer, "count": len(answer["releases"])})
    # The search index knows none of their recordings: every album is passed over, unlooked-up.
    nothing = {"created": "2026-01-01T00:00:00.000Z", "count": 0, "offset": 0, "recordings": []}
    server.expect_request("/ws/2/recording").respond_with_json(nothing)
    server.start()
    try:
        catalog = catalog_served_by(server, tmp_path)
        found = catalog.discover_releases(AlbumSearch(primary_types=("Album",)), log=lambda _: None)
        asked = [request for request, _ in server.log if request.path == "/ws/2/recording"]
    finally:
        server.stop()
    albums, groups = [], set()
    for hit in answer["releases"]:
        group = hit.get("release-group") or {}
        if group.get("primary-type") == "Album" and group.get("id") not in groups:
            groups.add(group.get("id"))
            albums.append(hit["id"])
    named = [
        release_id
        for request in asked
        for release_id in re.fullmatch(r"reid:\((.*)\)", request.args["query"]).group(1).split(" OR ")
    ]
    assert albums and named == albums
    assert found.releases == [] and found.skipped["without tracks in the search index"] == len(albums)


def test_a_longer_list_fetches_only_the_new_recordings(live: Live, world: FakeWorld, tmp_path: Path):
    """What the liked-list sensor's run does when tracks are added: the recordings fetched before
    are answered from the clients' state, and only the new ones are asked for."""
    first_album = world.add_album("First", "Band", "1990", tracks=6)
    second_album = world.add_album("Second", "Other Band", "2001", tracks=4)
    labels = tmp_path / "liked.csv"
    first = world.track_ids(first_album)
    resources = {"track_features": live.acousticbrainz(), "release_catalog": live.musicbrainz()}

    def materialize(ids: list[str]) -> None:
        labels.write_text("mbid,liked\n" + "".join(f"{r},{index % 2}\n" for index, r in enumerate(ids)))
        result = dg.materialize(
            [liked_tracks, raw_track_features],
            resources=resources,
            run_config=dg.RunConfig({"liked_tracks": {"config": {"csv_path": str(labels)}}}),
        )
        assert result.success

    materialize(first)
    live.acousticbrainz_server.log.clear()
    live.musicbrainz_server.log.clear()
    added = world.track_ids(second_album)[:2]
    materialize(first + added)
    asked = [r for request in live.acousticbrainz_server.log for r in request.args["recording_ids"].split(";")]
    assert sorted(asked) == sorted(added * 2)  # the low- and the high-level bulk request
    searched = " ".join(request.args.get("query", "") for request in live.musicbrainz_server.log)
    assert all(r in searched for r in added) and not any(r in searched for r in first)
