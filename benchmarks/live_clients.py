"""The original per-track fetching and albumrec's live clients, side by side.

Both fetch the same thing, AcousticBrainz features plus MusicBrainz release year and titles
for a list of recordings, from the same local stand-ins for the two services, which enforce
the services' own limits:

- MusicBrainz: one request per second, 503 for anything faster;
- AcousticBrainz: 10 requests per 10-second window, announced in X-RateLimit-* headers,
  429 past it.

The per-track approach is the original notebook's: for each recording, GET its high-level
document, sleep 1 s, GET its low-level document, sleep 1 s, GET its MusicBrainz recording,
sleep 1 s. albumrec uses the bulk endpoints (25 recordings per AcousticBrainz request, 100 per
MusicBrainz recording search), paced by its rate limiter instead of sleeps.

At the real pace the 200-track run of the per-track approach takes about ten minutes, so
`--time-scale N` divides every limit, window and sleep by N (for both approaches alike): the
ratios stay those of the real pace, and the table says which scale was used.

    python benchmarks/live_clients.py                 # time scale 5: about two and a half minutes
    python benchmarks/live_clients.py --time-scale 1  # the real pace: about eleven minutes

`--discovery` measures the album search instead: finding `--albums` albums of which a share
(`--uncovered-share`) has no AcousticBrainz features, either by looking every album found up
and then checking its coverage (one MusicBrainz request per album examined), or as albumrec's
`discover_releases` does: the tracks of a page of albums from one recording search, the
coverage checked next, and a lookup only for the albums that pass.

    python benchmarks/live_clients.py --discovery     # time scale 5: under a minute
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from albumrec_pipeline.resources.acousticbrainz_api import AcousticBrainzApiSource  # noqa: E402
from albumrec_pipeline.resources.feature_sources import AlbumSearch  # noqa: E402
from albumrec_pipeline.resources.musicbrainz_api import MusicBrainzApiCatalog  # noqa: E402
from albumrec_pipeline_tests.fake_services import FakeServices, FakeWorld, serve  # noqa: E402

CONTACT = "benchmark@albumrec.invalid"
REFUSED = (429, 503)


@dataclass
class Measurement:
    approach: str
    requests: int
    refused: int
    seconds: float


def build_world(album_tracks: int, labelled_tracks: int) -> tuple[FakeWorld, list[str], list[str]]:
    """One album to judge, and a listener's labelled tracks spread over albums, a tenth without features."""
    world = FakeWorld()
    album = world.track_ids(world.add_album("The Album", "Album Artist", "1994-09-12", tracks=album_tracks))
    labelled: list[str] = []
    number = 0
    while len(labelled) < labelled_tracks:
        tracks = min(10, labelled_tracks - len(labelled))
        release = world.add_album(
            f"Record {number}", f"Artist {number % 7}", f"{1970 + number}-01-01", tracks, tracks - 1
        )
        labelled += world.track_ids(release)
        number += 1
    return world, album, labelled


def per_track(acousticbrainz_url: str, musicbrainz_url: str, recording_ids: list[str], pause: float) -> None:
    """The original notebook: three requests and three fixed sleeps per recording."""
    with requests.Session() as session:
        session.headers["User-Agent"] = f"notebook/1.0 ( {CONTACT} )"
        for recording_id in recording_ids:
            for url, params in (
                (f"{acousticbrainz_url}/api/v1/{recording_id}/high-level", {}),
                (f"{acousticbrainz_url}/api/v1/{recording_id}/low-level", {}),
                (f"{musicbrainz_url}/ws/2/recording/{recording_id}", {"inc": "releases artist-credits", "fmt": "json"}),
            ):
                response = session.get(url, params=params, timeout=30)
                if response.status_code == 200:
                    response.json()
                time.sleep(pause)


def clients(
    acousticbrainz_url: str, musicbrainz_url: str, state_dir: Path, scale: float
) -> tuple[AcousticBrainzApiSource, MusicBrainzApiCatalog]:
    """albumrec's two clients with the services' limits, every wait `scale` times shorter."""
    acousticbrainz = AcousticBrainzApiSource(
        base_url=acousticbrainz_url,
        contact=CONTACT,
        state_dir=str(state_dir),
        requests_per_window=10,
        window_seconds=10 / scale,
        backoff_seconds=1 / scale,
    )
    catalog = MusicBrainzApiCatalog(
        acousticbrainz=acousticbrainz,
        base_url=f"{musicbrainz_url}/ws/2",
        contact=CONTACT,
        state_dir=str(state_dir),
        requests_per_window=1,
        window_seconds=1 / scale,
        backoff_seconds=1 / scale,
    )
    return acousticbrainz, catalog


def albumrec(
    acousticbrainz_url: str, musicbrainz_url: str, recording_ids: list[str], state_dir: Path, scale: float
) -> int:
    """What the `raw_track_features` asset asks of its two resources; returns the rows with features."""
    acousticbrainz, catalog = clients(acousticbrainz_url, musicbrainz_url, state_dir, scale)
    quiet = lambda _line: None  # noqa: E731
    try:
        rows = acousticbrainz.fetch_track_features(recording_ids, log=quiet).rows
        metadata = catalog.recording_metadata(recording_ids, log=quiet)
    finally:
        acousticbrainz.close()
        catalog.close()
    assert set(metadata["mbid"]) == set(recording_ids), "albumrec missed MusicBrainz metadata"
    return len(rows)


def measure(world: FakeWorld, scale: float, approach: str, run) -> Measurement:
    """Run one approach against fresh stand-ins (fresh rate-limit windows) and count at the servers."""
    acousticbrainz = FakeServices(world, acousticbrainz_window=(10, 10 / scale))
    musicbrainz = FakeServices(world, musicbrainz_interval=1 / scale)
    with serve(acousticbrainz) as acousticbrainz_url, serve(musicbrainz) as musicbrainz_url:
        started = time.perf_counter()
        run(acousticbrainz_url, musicbrainz_url)
        seconds = time.perf_counter() - started
    log = acousticbrainz.log + musicbrainz.log
    return Measurement(approach, len(log), sum(entry.status in REFUSED for entry in log), seconds)


def scenario(world: FakeWorld, recording_ids: list[str], scale: float) -> list[Measurement]:
    pause = 1.0 / scale
    with tempfile.TemporaryDirectory(prefix="albumrec-bench-") as state:
        state_dir = Path(state)
        original = measure(world, scale, "per-track (original)", lambda ab, mb: per_track(ab, mb, recording_ids, pause))
        client = measure(world, scale, "albumrec", lambda ab, mb: albumrec(ab, mb, recording_ids, state_dir, scale))
        rerun = measure(
            world, scale, "albumrec, re-run", lambda ab, mb: albumrec(ab, mb, recording_ids, state_dir, scale)
        )
    return [original, client, rerun]


def discovery_world(albums: int, uncovered_share: float) -> FakeWorld:
    """`albums` twelve-track albums; every n-th has no AcousticBrainz documents at all."""
    world = FakeWorld()
    uncovered = round(albums * uncovered_share)
    for number in range(albums):
        # Spread the albums without features evenly, as a search would meet them.
        analysed = (number * uncovered) // albums == ((number + 1) * uncovered) // albums
        world.add_album(f"Found {number}", f"Band {number}", "2001", tracks=12, with_features=12 if analysed else 0)
    return world


def lookup_first(acousticbrainz_url: str, musicbrainz_url: str, wanted: int, pause: float) -> int:
    """Look every album found up, then check its coverage: what the lookup's tracklist makes simplest."""
    kept = 0
    with requests.Session() as session:
        session.headers["User-Agent"] = f"lookup-first/1.0 ( {CONTACT} )"
        search = session.get(
            f"{musicbrainz_url}/ws/2/release",
            params={"query": 'status:official AND primarytype:"album"', "limit": "100", "fmt": "json"},
            timeout=30,
        ).json()
        time.sleep(pause)
        for hit in search["releases"]:
            if kept >= wanted:
                break
            release = session.get(
                f"{musicbrainz_url}/ws/2/release/{hit['id']}",
                params={"inc": "recordings artist-credits release-groups", "fmt": "json"},
                timeout=30,
            ).json()
            time.sleep(pause)
            recordings = [track["recording"]["id"] for medium in release["media"] for track in medium["tracks"]]
            covered = session.get(
                f"{acousticbrainz_url}/api/v1/low-level", params={"recording_ids": ";".join(recordings)}, timeout=30
            ).json()
            time.sleep(pause)
            kept += len(set(covered) & set(recordings)) >= 0.5 * len(recordings)
    return kept


def albumrec_discovery(
    acousticbrainz_url: str, musicbrainz_url: str, wanted: int, state_dir: Path, scale: float
) -> int:
    acousticbrainz, catalog = clients(acousticbrainz_url, musicbrainz_url, state_dir, scale)
    try:
        return len(catalog.discover_releases(AlbumSearch(max_albums=wanted), log=lambda _line: None).releases)
    finally:
        acousticbrainz.close()
        catalog.close()


def discovery_table(rows: list[tuple[Measurement, int]], albums: int, uncovered_share: float, scale: float) -> str:
    lines = [
        f"Album discovery: {albums} albums found by the search, {uncovered_share:.0%} of them without "
        "AcousticBrainz features; keep those with features.",
        f"Time scale {scale:g}: every limit, window and sleep {scale:g}x shorter; 'real pace' = measured x {scale:g}.",
        "",
        f"{'approach':<28}{'kept':>6}{'requests':>10}{'refused':>9}{'wall s':>9}{'real pace s':>13}",
    ]
    for row, kept in rows:
        lines.append(
            f"{row.approach:<28}{kept:>6}{row.requests:>10}{row.refused:>9}"
            f"{row.seconds:>9.2f}{row.seconds * scale:>13.1f}"
        )
    return "\n".join(lines)


def run_discovery(albums: int, uncovered_share: float, scale: float) -> str:
    world = discovery_world(albums, uncovered_share)
    wanted = albums  # keep every album that qualifies: each approach examines all of them
    acousticbrainz, musicbrainz = FakeServices(world), FakeServices(world)
    rows = []
    # One pair of servers for every run: the HTTP cache knows answers by URL, port included, as it
    # knows the real services' by their stable address.
    with tempfile.TemporaryDirectory(prefix="albumrec-bench-") as state, serve(acousticbrainz) as ab, serve(
        musicbrainz
    ) as mb:
        for name, fetch in (
            ("lookup first", lambda: lookup_first(ab, mb, wanted, 1.0 / scale)),
            ("albumrec (coverage first)", lambda: albumrec_discovery(ab, mb, wanted, Path(state), scale)),
            ("albumrec, re-run", lambda: albumrec_discovery(ab, mb, wanted, Path(state), scale)),
        ):
            for services in (acousticbrainz, musicbrainz):
                services.reset(world)  # a clean log and fresh rate-limit windows
            acousticbrainz.acousticbrainz_window = (10, 10 / scale)
            musicbrainz.musicbrainz_interval = 1 / scale
            started = time.perf_counter()
            kept = fetch()
            seconds = time.perf_counter() - started
            log = acousticbrainz.log + musicbrainz.log
            rows.append((Measurement(name, len(log), sum(entry.status in REFUSED for entry in log), seconds), kept))
    return discovery_table(rows, albums, uncovered_share, scale)


def table(results: dict[str, tuple[int, list[Measurement]]], scale: float) -> str:
    lines = [
        "albumrec live clients vs. the original per-track approach",
        "Local stand-ins enforce the services' limits: MusicBrainz 1 request/s (503 beyond), "
        "AcousticBrainz 10 requests per 10 s (X-RateLimit headers, 429 beyond).",
        f"Time scale {scale:g}: every limit, window and sleep {scale:g}x shorter for both approaches; "
        f"'real pace' = measured x {scale:g}.",
        "",
        f"{'scenario':<22}{'approach':<24}{'requests':>9}{'req/track':>11}{'refused':>9}"
        f"{'wall s':>9}{'real pace s':>13}",
    ]
    for name, (tracks, (original, client, rerun)) in results.items():
        for row in (original, client, rerun):
            lines.append(
                f"{name:<22}{row.approach:<24}{row.requests:>9}{row.requests / tracks:>11.2f}{row.refused:>9}"
                f"{row.seconds:>9.2f}{row.seconds * scale:>13.1f}"
            )
        request_ratio = original.requests / max(client.requests, 1)
        time_ratio = original.seconds / max(client.seconds, 1e-9)
        lines.append(f"{name:<22}{'ratio per-track/albumrec':<24}{request_ratio:>8.1f}x{'':>20}{time_ratio:>8.1f}x")
        lines.append("")
    return "\n".join(lines).rstrip()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--time-scale", type=float, default=5.0, help="divide every limit and sleep by this (default 5)"
    )
    parser.add_argument("--album-tracks", type=int, default=12, help="tracks on the album (default 12)")
    parser.add_argument("--labelled-tracks", type=int, default=200, help="labelled tracks (default 200)")
    parser.add_argument("--discovery", action="store_true", help="measure the album search instead")
    parser.add_argument("--albums", type=int, default=40, help="with --discovery: albums found (default 40)")
    parser.add_argument(
        "--uncovered-share", type=float, default=0.5, help="with --discovery: share without features (default 0.5)"
    )
    options = parser.parse_args(argv)
    if options.time_scale <= 0:
        parser.error("--time-scale must be positive")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log per request
    if options.discovery:
        print(run_discovery(options.albums, options.uncovered_share, options.time_scale))
        return

    world, album, labelled = build_world(options.album_tracks, options.labelled_tracks)
    results = {}
    for name, recording_ids in (
        (f"{len(album)}-track album", album),
        (f"{len(labelled)} labelled tracks", labelled),
    ):
        print(f"running: {name} ...", file=sys.stderr, flush=True)
        results[name] = (len(recording_ids), scenario(world, recording_ids, options.time_scale))
    print(table(results, options.time_scale))


if __name__ == "__main__":
    main()
