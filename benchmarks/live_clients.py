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


def albumrec(
    acousticbrainz_url: str, musicbrainz_url: str, recording_ids: list[str], state_dir: Path, scale: float
) -> int:
    """What the `raw_track_features` asset asks of its two resources; returns the rows with features."""
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
    options = parser.parse_args(argv)
    if options.time_scale <= 0:
        parser.error("--time-scale must be positive")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log per request

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
