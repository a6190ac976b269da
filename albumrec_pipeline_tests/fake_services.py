"""Stand-ins for MusicBrainz WS/2 and AcousticBrainz API v1, served on 127.0.0.1.

Documents are built in code in the services' real shapes (bulk bodies keyed by recording and
submission offset with "mbid_mapping"; recording search hits whose media carry `track`, found
by recording ids `rid:(...)` or by release ids `reid:(...)`; release lookups whose media carry
`tracks`). The server keeps a log of every request with its arrival time, can enforce the
services' rate limits (MusicBrainz: 503 past one request per interval; AcousticBrainz: a fixed
window with `X-RateLimit-*` headers and 429), and injects faults on demand: error bursts,
Retry-After, slow answers, truncated JSON, wrong shapes, and a request held open until the test
lets it go.

Used by the tests and by `benchmarks/live_clients.py`.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from albumrec_pipeline_tests.factories import highlevel_document, lowlevel_document

BULK_LIMIT = 25
_NAMESPACE = uuid.UUID("5f0e4b9c-3c1e-4a57-9d1e-6f4a2b8c7d10")
_KEYS = ("C", "G", "D", "A", "E", "B", "F#", "C#", "F", "A#", "D#", "G#")


def make_id(kind: str, number: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{kind}-{number}"))


def credit(name: str) -> list[dict]:
    return [
        {"name": name, "joinphrase": "", "artist": {"id": make_id("artist", zlib.crc32(name.encode())), "name": name}}
    ]


@dataclass
class FakeRecording:
    id: str
    title: str
    artist: str
    first_release_date: str | None
    lowlevel: list[dict] = field(default_factory=list)  # submissions in offset order; empty: not analysed
    highlevel: list[dict] = field(default_factory=list)


@dataclass
class FakeWorld:
    """Recordings with their AcousticBrainz documents, and releases as WS/2 lookups return them.

    Worlds with different `id_space`s share no recording, release or track id, so one can stand
    for the dumps and another for the services.
    """

    recordings: dict[str, FakeRecording] = field(default_factory=dict)
    releases: dict[str, dict] = field(default_factory=dict)
    id_space: str = ""
    _counter: int = 0

    def _id(self, kind: str, number: int) -> str:
        return make_id(self.id_space + kind, number)

    def add_recording(self, artist: str, title: str, date: str | None, with_features: bool = True) -> FakeRecording:
        self._counter += 1
        number = self._counter
        recording = FakeRecording(self._id("recording", number), title, artist, date)
        if with_features:
            shift = (number % 17) / 4
            recording.lowlevel = [
                lowlevel_document(
                    key=_KEYS[number % 12], scale=("major", "minor")[number % 2], shift=shift, artist=artist
                )
            ]
            recording.highlevel = [highlevel_document(shift=shift / 10)]
        self.recordings[recording.id] = recording
        return recording

    def add_release(
        self,
        title: str,
        artist: str,
        date: str | None,
        recordings: list[FakeRecording],
        primary_type: str = "Album",
        group_id: str | None = None,
    ) -> dict:
        number = len(self.releases) + 1
        release_id = self._id("release", number)
        group = {
            "id": group_id or self._id("release-group", number),
            "title": title,
            "primary-type": primary_type,
            "secondary-types": [],
            "first-release-date": date or "",
            "artist-credit": credit(artist),
        }
        self.releases[release_id] = {
            "id": release_id,
            "title": title,
            "status": "Official",
            **({"date": date} if date else {}),  # MusicBrainz leaves an unknown date out
            "country": "XW",
            "artist-credit": credit(artist),
            "release-group": group,
            "media": [
                {
                    "position": 1,
                    "format": "Digital Media",
                    "track-count": len(recordings),
                    "track-offset": 0,
                    "tracks": [
                        {
                            "id": self._id(f"track-{number}", index),
                            "position": index + 1,
                            "number": str(index + 1),
                            "title": recording.title,
                            "recording": {
                                "id": recording.id,
                                "title": recording.title,
                                "first-release-date": recording.first_release_date,
                                "artist-credit": credit(recording.artist),
                            },
                        }
                        for index, recording in enumerate(recordings)
                    ],
                }
            ],
        }
        return self.releases[release_id]

    def add_album(
        self,
        title: str,
        artist: str,
        date: str,
        tracks: int,
        with_features: int | None = None,
        primary_type: str = "Album",
        existing: list[FakeRecording] | None = None,
    ) -> dict:
        """A release of `tracks` new recordings (plus `existing` ones); the first `with_features` are analysed."""
        covered = tracks if with_features is None else with_features
        new = [self.add_recording(artist, f"{title} {index + 1}", date, index < covered) for index in range(tracks)]
        return self.add_release(title, artist, date, (existing or []) + new, primary_type)

    def track_ids(self, release: dict) -> list[str]:
        return [track["recording"]["id"] for medium in release["media"] for track in medium["tracks"]]

    def releases_of(self, recording_id: str) -> list[dict]:
        return [release for release in self.releases.values() if recording_id in self.track_ids(release)]

    # --- documents in the services' shapes --------------------------------------------------

    def recording_search_hit(self, recording: FakeRecording) -> dict:
        releases = []
        for release in self.releases_of(recording.id):
            position = self.track_ids(release).index(recording.id)
            track = release["media"][0]["tracks"][position]
            group = release["release-group"]
            releases.append(
                {
                    "id": release["id"],
                    "count": 1,
                    "title": release["title"],
                    "status": release["status"],
                    "artist-credit": release["artist-credit"],
                    "release-group": {k: group[k] for k in ("id", "title", "primary-type", "secondary-types")},
                    **({"date": release["date"]} if "date" in release else {}),
                    "country": release["country"],
                    "track-count": len(release["media"][0]["tracks"]),
                    "media": [
                        {
                            "position": 1,
                            "format": "Digital Media",
                            "track": [{"id": track["id"], "number": track["number"], "title": track["title"]}],
                            "track-count": len(release["media"][0]["tracks"]),
                            "track-offset": position,
                        }
                    ],
                }
            )
        hit = {
            "id": recording.id,
            "score": 100,
            "title": recording.title,
            "length": 240000,
            "video": None,
            "artist-credit": credit(recording.artist),
            "first-release-date": recording.first_release_date,
            "releases": releases,
        }
        if not releases:
            del hit["releases"]
        return hit

    def release_search_hit(self, release: dict) -> dict:
        group = release["release-group"]
        return {
            "id": release["id"],
            "score": 100,
            "title": release["title"],
            "status": release["status"],
            "artist-credit": release["artist-credit"],
            "release-group": {k: group[k] for k in ("id", "title", "primary-type", "secondary-types")},
            **({"date": release["date"]} if "date" in release else {}),
            "country": release["country"],
            "track-count": len(self.track_ids(release)),
            "media": [{"format": "Digital Media", "disc-count": 0, "track-count": len(self.track_ids(release))}],
        }

    def recording_lookup(self, recording: FakeRecording) -> dict:
        return {
            "id": recording.id,
            "title": recording.title,
            "length": 240000,
            "first-release-date": recording.first_release_date,
            "artist-credit": credit(recording.artist),
            "releases": [
                {k: release[k] for k in ("id", "title", "status", "date", "country") if k in release}
                for release in self.releases_of(recording.id)
            ],
        }


@dataclass
class Fault:
    """Do `kind` to the next `times` requests whose path contains `path` (and query `query`); -1: always."""

    path: str
    kind: str  # status | slow | truncate | garble | hold
    times: int = 1
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    body: Any = None
    query: str = ""
    release: threading.Event = field(default_factory=threading.Event)
    held: threading.Event = field(default_factory=threading.Event)


@dataclass
class LoggedRequest:
    at: float  # time.monotonic() on arrival
    path: str
    args: dict[str, str]
    user_agent: str
    status: int = 0


class FakeServices:
    """A WSGI handler answering both services' routes from one `FakeWorld`."""

    def __init__(
        self,
        world: FakeWorld,
        *,
        musicbrainz_interval: float | None = None,
        acousticbrainz_window: tuple[int, float] | None = None,
        send_rate_limit_headers: bool = True,
    ):
        self.world = world
        self.musicbrainz_interval = musicbrainz_interval
        self.acousticbrainz_window = acousticbrainz_window
        self.send_rate_limit_headers = send_rate_limit_headers
        self.faults: list[Fault] = []
        self.log: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._musicbrainz_last = -math.inf
        self._window_key = -1
        self._window_used = 0

    # --- test helpers -----------------------------------------------------------------------

    def inject(self, path: str, kind: str, times: int = 1, **settings: Any) -> Fault:
        fault = Fault(path, kind, times, **settings)
        with self._lock:
            self.faults.append(fault)
        return fault

    def requests_to(self, path_part: str) -> list[LoggedRequest]:
        with self._lock:
            return [entry for entry in self.log if path_part in entry.path]

    def reset(self, world: FakeWorld) -> None:
        """Serve another world with a clean log, no faults and no rate limits (one server, many tests)."""
        with self._lock:
            for fault in self.faults:
                fault.release.set()
            self.world = world
            self.log = []
            self.faults = []
            self.musicbrainz_interval = None
            self.acousticbrainz_window = None
            self._musicbrainz_last = -math.inf
            self._window_key, self._window_used = -1, 0

    # --- serving ----------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        entry = LoggedRequest(time.monotonic(), request.path, dict(request.args), request.headers.get("User-Agent", ""))
        with self._lock:
            self.log.append(entry)
        response = self._respond(request)
        entry.status = response.status_code
        return response

    def _take_fault(self, request: Request) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times != 0 and fault.path in request.path and fault.query in request.query_string.decode():
                    fault.times -= 1 if fault.times > 0 else 0
                    return fault
        return None

    def _respond(self, request: Request) -> Response:
        is_acousticbrainz = request.path.startswith("/api/")
        limited = self._rate_limited(is_acousticbrainz)
        if limited is not None:
            return limited
        fault = self._take_fault(request)
        if fault is not None:
            if fault.kind == "status":
                return self._json({"error": f"injected {fault.status}"}, fault.status, fault.headers)
            if fault.kind == "slow":
                time.sleep(fault.seconds)
            if fault.kind == "hold":
                fault.held.set()
                fault.release.wait(timeout=30)
            if fault.kind == "garble":
                return self._json(fault.body, 200)
        response = self._route(request)
        if is_acousticbrainz:
            self._add_window_headers(response)
        if fault is not None and fault.kind == "truncate" and response.status_code == 200:
            data = response.get_data()
            response.set_data(data[: max(1, len(data) // 2)])
        return response

    def _rate_limited(self, is_acousticbrainz: bool) -> Response | None:
        now = time.monotonic()
        with self._lock:
            if is_acousticbrainz and self.acousticbrainz_window:
                limit, seconds = self.acousticbrainz_window
                wall = time.time()
                key = int(wall // seconds)
                if key != self._window_key:
                    self._window_key, self._window_used = key, 0
                if self._window_used >= limit:
                    reset_in = (key + 1) * seconds - wall
                    return self._json(
                        {"error": "Rate limit exceeded"}, 429, self._window_header_values(limit, 0, reset_in)
                    )
                self._window_used += 1
            if not is_acousticbrainz and self.musicbrainz_interval:
                # Like MusicBrainz: past the allowed rate the answer is 503, with no hint of when to return.
                if now - self._musicbrainz_last < self.musicbrainz_interval * 0.95:
                    return self._json({"error": "Your requests are exceeding the allowable rate limit."}, 503)
                self._musicbrainz_last = now
        return None

    def _window_header_values(self, limit: int, remaining: int, reset_in: float) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset-In": f"{reset_in:.3f}",
            "X-RateLimit-Reset": str(int(time.time() + reset_in)),
        }

    def _add_window_headers(self, response: Response) -> None:
        if not (self.acousticbrainz_window and self.send_rate_limit_headers):
            return
        limit, seconds = self.acousticbrainz_window
        with self._lock:
            reset_in = (self._window_key + 1) * seconds - time.time()
            remaining = max(0, limit - self._window_used)
        response.headers.update(self._window_header_values(limit, remaining, max(0.0, reset_in)))

    @staticmethod
    def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return Response(json.dumps(body), status=status, headers=headers or {}, content_type="application/json")

    def _route(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        world = self.world
        if path in ("/api/v1/low-level", "/api/v1/high-level"):
            return self._bulk(request, "lowlevel" if path.endswith("low-level") else "highlevel")
        single = re.fullmatch(r"/api/v1/([0-9a-f-]{36})/(low|high)-level", path)
        if single:
            recording = world.recordings.get(single.group(1))
            documents = (recording.lowlevel if single.group(2) == "low" else recording.highlevel) if recording else []
            offset = int(request.args.get("n", "0") or 0)
            if offset >= len(documents):
                return self._json({"message": "Not found"}, 404)
            return self._json(documents[offset])
        if path == "/ws/2/recording":
            return self._recording_search(request)
        lookup = re.fullmatch(r"/ws/2/(recording|release)/([0-9a-f-]{36})", path)
        if lookup:
            kind, entity_id = lookup.groups()
            if kind == "release" and entity_id in world.releases:
                return self._json(world.releases[entity_id])
            if kind == "recording" and entity_id in world.recordings:
                return self._json(world.recording_lookup(world.recordings[entity_id]))
            return self._json({"error": "Not Found"}, 404)
        if path == "/ws/2/release":
            return self._release_search(request)
        return self._json({"error": f"no route for {path}"}, 404)

    def _bulk(self, request: Request, kind: str) -> Response:
        raw = request.args.get("recording_ids", "")
        if not raw:
            return self._json({"message": "Missing `recording_ids` parameter"}, 400)
        wanted = []
        for item in raw.split(";"):
            recording_id, _, offset = item.partition(":")
            if not re.fullmatch(r"[0-9a-fA-F-]{36}", recording_id):
                return self._json({"message": f"'{recording_id}' is not a valid UUID"}, 400)
            wanted.append((recording_id.lower(), int(offset) if offset.isdigit() else 0))
        wanted = list(dict.fromkeys(wanted))
        if len(wanted) > BULK_LIMIT:
            return self._json({"message": f"More than {BULK_LIMIT} recordings not allowed per request"}, 400)
        body: dict[str, Any] = {}
        for recording_id, offset in wanted:
            recording = self.world.recordings.get(recording_id)
            documents = (recording.lowlevel if kind == "lowlevel" else recording.highlevel) if recording else []
            # Unknown recordings and offsets are left out of the answer without a word, as the service does.
            if offset < len(documents):
                body.setdefault(recording_id, {})[str(offset)] = documents[offset]
        body["mbid_mapping"] = {}
        return self._json(body)

    def _recording_search(self, request: Request) -> Response:
        query = request.args.get("query", "")
        by_recording = re.search(r"(?<![a-z])rid:\(([^)]*)\)", query)
        by_release = re.search(r"(?<![a-z])reid:\(([^)]*)\)", query)
        if by_release:
            # Every recording on any of the releases, as the search index answers `reid:(...)`.
            releases = [self.world.releases[i] for i in _listed(by_release.group(1)) if i in self.world.releases]
            ids = list(dict.fromkeys(r for release in releases for r in self.world.track_ids(release)))
        else:
            ids = _listed(by_recording.group(1)) if by_recording else []
        hits = [self.world.recording_search_hit(self.world.recordings[i]) for i in ids if i in self.world.recordings]
        return self._search_answer(request, "recordings", hits)

    def _release_search(self, request: Request) -> Response:
        query = request.args.get("query", "")
        types = {kind.lower() for kind in re.findall(r'primarytype:"?([A-Za-z ]+?)"?(?:\)|\s|$)', query)}
        releases = [
            self.world.release_search_hit(release)
            for release in self.world.releases.values()
            if not types or release["release-group"]["primary-type"].lower() in types
        ]
        return self._search_answer(request, "releases", releases)

    def _search_answer(self, request: Request, entities: str, hits: list[dict]) -> Response:
        limit = min(100, int(request.args.get("limit", "25")))
        offset = int(request.args.get("offset", "0"))
        return self._json(
            {
                "created": "2026-01-01T00:00:00.000Z",
                "count": len(hits),
                "offset": offset,
                entities: hits[offset : offset + limit],
            }
        )


def _listed(terms: str) -> list[str]:
    """The ids of a Lucene group `a OR b OR "c"`."""
    return [part.strip().strip('"') for part in terms.split(" OR ")]


@contextmanager
def serve(services: FakeServices) -> Iterator[str]:
    """Serve `services` on 127.0.0.1 (an ephemeral port); yields the base URL without a trailing slash."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.expect_request(re.compile(".*")).respond_with_handler(services.handle)
    server.start()
    try:
        yield server.url_for("/").rstrip("/")
    finally:
        for fault in services.faults:
            fault.release.set()  # let held requests finish so the server can stop
        server.clear()
        server.stop()


# --- ListenBrainz -------------------------------------------------------------------------------

LISTENBRAINZ_MAX_ITEMS = 1000  # the most rows the feedback API returns a request
LISTENBRAINZ_DEFAULT_ITEMS = 25


@dataclass
class ListenBrainzRequest(LoggedRequest):
    authorization: str = ""


class FakeListenBrainz:
    """ListenBrainz's `GET /1/feedback/user/<user_name>/get-feedback`, served from stored rows.

    Rows are kept as the `recording_feedback` table holds them (`recording_mbid` and
    `recording_msid`, either may be None, `score` 1 or -1, `created` in Unix seconds) and answered
    as the API does: newest first, `count` capped at 1000 (`max_items`), `offset` skipped, with
    `count`, `offset` and `total_count` beside the rows, `user_id` (the name) and `track_metadata`
    (null without `metadata=true`) in each row; an unknown user is a 404. With a `window`
    (requests, seconds) every answer carries `X-RateLimit-Limit`, `-Remaining`, `-Reset-In` and
    `-Reset`, and a request past the budget gets 429. Faults are `FakeServices`' (status,
    slow, truncate, garble).
    """

    def __init__(self, users: dict[str, list[dict]] | None = None, *, max_items: int = LISTENBRAINZ_MAX_ITEMS):
        self.users: dict[str, list[dict]] = users or {}
        self.max_items = max_items
        self.window: tuple[int, float] | None = None
        self.faults: list[Fault] = []
        self.log: list[ListenBrainzRequest] = []
        self._lock = threading.Lock()
        self._window_key, self._window_used = -1, 0

    def reset(self, users: dict[str, list[dict]] | None = None, max_items: int = LISTENBRAINZ_MAX_ITEMS) -> None:
        with self._lock:
            for fault in self.faults:
                fault.release.set()
            self.users = users or {}
            self.max_items = max_items
            self.window = None
            self.faults, self.log = [], []
            self._window_key, self._window_used = -1, 0

    def add_feedback(
        self, user: str, score: int, mbid: str | None = None, msid: str | None = None, created: int | None = None
    ) -> dict:
        rows = self.users.setdefault(user, [])
        row = {
            "recording_mbid": mbid,
            "recording_msid": msid,
            "score": score,
            "created": created if created is not None else 1_600_000_000 + len(rows) * 60,
        }
        rows.append(row)
        return row

    def inject(self, path: str, kind: str, times: int = 1, **settings: Any) -> Fault:
        fault = Fault(path, kind, times, **settings)
        with self._lock:
            self.faults.append(fault)
        return fault

    def handle(self, request: Request) -> Response:
        entry = ListenBrainzRequest(
            time.monotonic(), request.path, dict(request.args), request.headers.get("User-Agent", ""),
            authorization=request.headers.get("Authorization", ""),
        )
        with self._lock:
            self.log.append(entry)
        response = self._respond(request)
        entry.status = response.status_code
        return response

    def _respond(self, request: Request) -> Response:
        with self._lock:
            over_budget = not self._spend()
        if over_budget:
            return self._answer({"code": 429, "error": "Too many requests. Please wait and try again."}, 429)
        fault = None
        with self._lock:
            for candidate in self.faults:
                if candidate.times != 0 and candidate.path in request.path and candidate.query in request.query_string.decode():
                    candidate.times -= 1 if candidate.times > 0 else 0
                    fault = candidate
                    break
        if fault is not None:
            if fault.kind == "status":
                return self._answer({"code": fault.status, "error": f"injected {fault.status}"}, fault.status, fault.headers)
            if fault.kind == "slow":
                time.sleep(fault.seconds)
            if fault.kind == "garble":
                return self._answer(fault.body)
        response = self._route(request)
        if fault is not None and fault.kind == "truncate" and response.status_code == 200:
            data = response.get_data()
            response.set_data(data[: max(1, len(data) // 2)])
        return response

    def _spend(self) -> bool:
        """Count a request against the window (lock held); False when the window has none left."""
        if not self.window:
            return True
        limit, seconds = self.window
        key = int(time.time() // seconds)
        if key != self._window_key:
            self._window_key, self._window_used = key, 0
        if self._window_used >= limit:
            return False
        self._window_used += 1
        return True

    def _budget(self, remaining: int) -> dict[str, str]:
        if not self.window:
            return {}
        limit, seconds = self.window
        reset_in = max(0.0, (self._window_key + 1) * seconds - time.time())
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            # Rounded up: a client that waits exactly this long must land in the next window.
            "X-RateLimit-Reset-In": f"{math.ceil(reset_in * 1000) / 1000:.3f}",
            "X-RateLimit-Reset": str(int(time.time() + reset_in)),
        }

    def _answer(self, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        with self._lock:
            budget = self._budget(max(0, self.window[0] - self._window_used)) if self.window else {}
        return Response(
            json.dumps(body), status=status, headers={**budget, **(headers or {})}, content_type="application/json"
        )

    def _route(self, request: Request) -> Response:
        found = re.fullmatch(r"/1/feedback/user/(.+)/get-feedback", request.path)
        if not found:
            return self._answer({"code": 404, "error": "Not found"}, 404)
        user = found.group(1)  # werkzeug has already decoded %xx
        try:
            count = min(int(request.args.get("count", LISTENBRAINZ_DEFAULT_ITEMS)), self.max_items)
            offset = int(request.args.get("offset", 0))
            score = int(request.args["score"]) if "score" in request.args else None
        except ValueError:
            return self._answer({"code": 400, "error": "Invalid value for an integer parameter"}, 400)
        if count < 0 or offset < 0:
            return self._answer({"code": 400, "error": "Parameters must be non-negative"}, 400)
        if user not in self.users:
            return self._answer({"code": 404, "error": f"Cannot find user: {user}"}, 404)
        if score and score not in (-1, 1):
            return self._answer({"code": 400, "error": "Score can have a value of 1 or -1."}, 400)
        rows = [row for row in self.users[user] if not score or row["score"] == score]
        rows.sort(key=lambda row: row["created"], reverse=True)
        page = [
            {
                "user_id": user,
                "recording_msid": row["recording_msid"],
                "recording_mbid": row["recording_mbid"],
                "track_metadata": None,
                "score": row["score"],
                "created": row["created"],
            }
            for row in rows[offset : offset + count]
        ]
        return self._answer({"feedback": page, "count": len(page), "total_count": len(rows), "offset": offset})


def write_listenbrainz_export(
    path: Any, user: str, feedback: list[dict] | None, user_id: int = 1799, listens: int = 3
) -> None:
    """A user data export zip as ListenBrainz writes it: `user.json`, `listens/<year>/<month>.jsonl`,
    and `feedback.jsonl` (one jsonb object a line, oldest first) only when there is feedback."""
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("user.json", json.dumps({"user_id": user_id, "username": user}, separators=(",", ":")) + "\n")
        listened = [
            {
                "listened_at": 1_618_000_000 + index * 200,
                "inserted_at": 1_618_000_000.5 + index * 200,
                "track_metadata": {
                    "track_name": f"Track {index}",
                    "artist_name": "Band",
                    "release_name": "Record",
                    "recording_msid": make_id("listenbrainz-msid", index),
                    "additional_info": {"submission_client": "albumrec tests"},
                    "mbid_mapping": None,
                },
            }
            for index in range(listens)
        ]
        if listened:
            archive.writestr("listens/2021/4.jsonl", "".join(json.dumps(listen) + "\n" for listen in listened))
        if feedback:
            # Postgres prints a jsonb object with its keys ordered by length, then bytes.
            lines = [
                json.dumps({key: row[key] for key in ("score", "created", "recording_mbid", "recording_msid")})
                for row in sorted(feedback, key=lambda row: row["created"])
            ]
            archive.writestr("feedback.jsonl", "\n".join(lines) + "\n")
