"""One well-behaved HTTP session per outside service.

Everything albumrec's live clients share lives here:

- identity: a `User-Agent` of `albumrec/<version> ( <contact> )`, as MusicBrainz requires;
- pacing: a sliding-window limiter per service and host (pyrate-limiter), kept in SQLite with a
  file lock so every Dagster step process on the machine shares one budget; a server's
  `X-RateLimit-*` headers adjust it, and `Retry-After` pauses it;
- retries: 429, 503, other 5xx, timeouts, dropped connections and cut-off bodies are retried with
  backoff (tenacity); 400, 404 and other client errors are not, since asking again cannot help;
- a persistent cache (requests-cache, SQLite) that keeps only complete 200 JSON answers, so a
  re-run or a resumed run never sends a request twice and an error is never replayed from disk;
- a small checkpoint store, so parsed results survive a killed run whatever the batch layout;
- errors that say which service, which endpoint and which recordings or release were involved.
"""

from __future__ import annotations

import email.utils
import importlib.metadata
import json
import logging
import re
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import requests_cache
import tenacity
from pyrate_limiter import Limiter, Rate, SQLiteBucket
from requests.adapters import HTTPAdapter

CONTACT_ENV_VAR = "ALBUMREC_CONTACT"

_log = logging.getLogger("albumrec.http")


def albumrec_version() -> str:
    try:
        return importlib.metadata.version("albumrec")
    except importlib.metadata.PackageNotFoundError:
        # Running from a checkout that was never installed: still identify as albumrec.
        return "0.0.0.dev0"


def user_agent(contact: str | None) -> str:
    """`albumrec/<version> ( <contact> )`, the form MusicBrainz asks of every client."""
    product = f"albumrec/{albumrec_version()}"
    contact = (contact or "").strip()
    return f"{product} ( {contact} )" if contact else product


class MissingContactError(ValueError):
    """MusicBrainz was about to be called without a contact in the User-Agent."""

    def __init__(self, service: str = "MusicBrainz"):
        super().__init__(
            f"{service} asks every client to say who runs it: set the {CONTACT_ENV_VAR} environment "
            f"variable to an email address or URL where you can be reached (for example "
            f"`export {CONTACT_ENV_VAR}=you@example.org`) and reload the code location. "
            "No request was sent."
        )


def describe_recordings(recording_ids: Sequence[str], shown: int = 3) -> str:
    """'recording X' or 'recordings X, Y, Z and 22 more', for error messages."""
    ids = list(recording_ids)
    if not ids:
        return "no recordings"
    head = ", ".join(ids[:shown])
    more = f" and {len(ids) - shown} more" if len(ids) > shown else ""
    return f"recording{'s' if len(ids) > 1 else ''} {head}{more}"


class ServiceError(RuntimeError):
    """A call to an outside service failed in a way albumrec cannot work around by itself."""

    def __init__(self, service: str, endpoint: str, subject: str, problem: str):
        super().__init__(f"{service} {endpoint} ({subject}): {problem}")
        self.service = service
        self.endpoint = endpoint
        self.subject = subject
        self.problem = problem


class NotFoundError(ServiceError):
    """The service answered 404: the entity does not exist (or no longer does)."""


@dataclass(frozen=True)
class ServicePolicy:
    """How to talk to one service. Every number is configurable so tests and benchmarks can shrink them."""

    service: str
    base_url: str
    user_agent: str
    state_dir: Path
    requests_per_window: int
    window_seconds: float
    follow_rate_limit_headers: bool = False
    timeout_seconds: float = 30.0
    max_attempts: int = 6
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0
    max_retry_after_seconds: float = 300.0
    cache_expire_seconds: float | None = None  # None: keep answers for good


# --- pacing -------------------------------------------------------------------------------------


def _header_number(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """How long a server asked us to wait: `Retry-After` (seconds or HTTP date), else AcousticBrainz's
    `X-RateLimit-Reset-In`."""
    value = headers.get("Retry-After")
    if value is not None:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                moment = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                moment = None
            if moment is not None:
                return max(0.0, moment.timestamp() - time.time())
    reset_in = _header_number(headers, "X-RateLimit-Reset-In")
    return max(0.0, reset_in) if reset_in is not None else None


class HostThrottle:
    """The request budget for one service on one host.

    The sliding window lives in a SQLite table behind a file lock, so the Dagster steps that run
    in separate processes (features and candidate albums at once, say) share one budget instead of
    each spending the whole of it. A pause (after a 429/503 with `Retry-After`, or when the
    server reports no requests remaining) holds back every caller in this process.
    """

    def __init__(self, service: str, host: str, database: Path, rate: Rate, follow_headers: bool):
        self.table = "budget_" + re.sub(r"[^a-z0-9]+", "_", f"{service}_{host}".lower())
        self.database = database
        self.configured = rate
        self.follow_headers = follow_headers
        self._lock = threading.Lock()
        self._paused_until = 0.0
        self._limit = rate.limit
        self._limiter = self._build(rate)

    def _build(self, rate: Rate) -> Limiter:
        self.database.parent.mkdir(parents=True, exist_ok=True)
        bucket = SQLiteBucket.init_from_file(
            [rate], table=self.table, db_path=str(self.database), create_new_table=True, use_file_lock=True
        )
        return Limiter(bucket)

    @property
    def limit(self) -> int:
        return self._limit

    def wait_turn(self) -> None:
        pause = self._paused_until - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        self._limiter.try_acquire(self.table)

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def paused_for(self) -> float:
        return max(0.0, self._paused_until - time.monotonic())

    def observe(self, headers: Mapping[str, str]) -> None:
        """Follow the server's own account of our budget (AcousticBrainz sends one with every answer)."""
        if not self.follow_headers:
            return
        limit = _header_number(headers, "X-RateLimit-Limit")
        remaining = _header_number(headers, "X-RateLimit-Remaining")
        reset_in = _header_number(headers, "X-RateLimit-Reset-In")
        if limit is not None and int(limit) >= 1 and int(limit) != self._limit:
            # The headers give the count per window but not the window's length: keep ours.
            with self._lock:
                previous = self._limiter
                self._limit = int(limit)
                self._limiter = self._build(Rate(self._limit, self.configured.interval))
                previous.close()
            _log.info("%s: server allows %d requests per window; pacing adjusted", self.table, self._limit)
        if remaining is not None and remaining <= 0 and reset_in is not None:
            self.pause(reset_in)


_throttles: dict[tuple[str, str, str, int, int], HostThrottle] = {}
_throttles_lock = threading.Lock()


# Added to every window. A request whose turn came on time can still leave late (its process was
# descheduled between the turn and the send) while the next leaves on time: without a margin the
# two could reach the server less than a window apart, which MusicBrainz answers with a 503.
PACING_MARGIN_MS = 50


def host_throttle(policy: ServicePolicy) -> HostThrottle:
    """The one throttle of this process for the policy's service and host."""
    host = urlsplit(policy.base_url).netloc
    rate = Rate(policy.requests_per_window, max(1, round(policy.window_seconds * 1000)) + PACING_MARGIN_MS)
    database = policy.state_dir / "rate_limits.sqlite"
    key = (policy.service, host, str(database), rate.limit, rate.interval)
    with _throttles_lock:
        if key not in _throttles:
            _throttles[key] = HostThrottle(policy.service, host, database, rate, policy.follow_rate_limit_headers)
        return _throttles[key]


# --- the session --------------------------------------------------------------------------------


@dataclass
class SessionStats:
    network_requests: int = 0
    cache_hits: int = 0
    retries: int = 0


class _ThrottledAdapter(HTTPAdapter):
    """Paces the requests that really go out: cached answers never reach a transport adapter."""

    def __init__(self, throttle: HostThrottle, stats: SessionStats):
        super().__init__(max_retries=0)  # retries are decided above, with knowledge of the service
        self.throttle = throttle
        self.stats = stats

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        self.throttle.wait_turn()
        self.stats.network_requests += 1
        response = super().send(request, *args, **kwargs)
        self.throttle.observe(response.headers)
        return response


_PARSED = "_albumrec_json"


def _complete_json(response: requests.Response) -> bool:
    """Cache filter: only a 200 whose body parses as JSON is kept (the parse is reused later)."""
    if getattr(response, "from_cache", False) or hasattr(response, _PARSED):
        return True
    if response.status_code != 200:
        return False
    try:
        setattr(response, _PARSED, json.loads(response.content))
    except ValueError:
        return False
    return True


class _Transient(Exception):
    """A failure worth another attempt; `retry_after` is the server's requested pause, if any."""

    def __init__(self, problem: str, retry_after: float | None = None):
        super().__init__(problem)
        self.problem = problem
        self.retry_after = retry_after


class ServiceSession:
    """GET JSON from one service: paced, retried, cached, with errors that name what was asked."""

    def __init__(self, policy: ServicePolicy, cache_name: str, log: Callable[[str], None] | None = None):
        self.policy = policy
        self.log = log or _log.warning
        self.stats = SessionStats()
        self.throttle = host_throttle(policy)
        # Exponential backoff with jitter, so clients that failed together do not return together.
        self._backoff = tenacity.wait_exponential_jitter(
            multiplier=policy.backoff_seconds, max=policy.max_backoff_seconds, jitter=policy.backoff_seconds
        )
        policy.state_dir.mkdir(parents=True, exist_ok=True)
        self._session = requests_cache.CachedSession(
            str(policy.state_dir / f"{cache_name}.sqlite"),
            backend="sqlite",
            wal=True,  # other step processes may read and write the same cache
            busy_timeout=30_000,
            expire_after=-1 if policy.cache_expire_seconds is None else policy.cache_expire_seconds,
            allowable_codes=(200,),
            allowable_methods=("GET",),
            filter_fn=_complete_json,
            cache_control=False,  # our own expiry policy; the services' headers are not meant for this
            stale_if_error=False,
            # Redacted from the stored requests: the User-Agent carries the contact address.
            ignored_parameters=(*requests_cache.DEFAULT_IGNORED_PARAMS, "User-Agent"),
        )
        self._session.headers.update({"User-Agent": policy.user_agent, "Accept": "application/json"})
        adapter = _ThrottledAdapter(self.throttle, self.stats)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    def close(self) -> None:
        self._session.close()

    def url(self, path: str) -> str:
        return self.policy.base_url.rstrip("/") + path

    def get_json(self, path: str, params: Mapping[str, str], subject: str) -> Any:
        """The decoded JSON body of `GET <base_url><path>?<params>`.

        `subject` names what the call is about ("recordings a, b and 23 more", "release X") and
        appears in every error, next to the service and the endpoint.
        """
        endpoint = f"GET {urlsplit(self.url(path)).path}"
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.policy.max_attempts),
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(_Transient),
            before_sleep=lambda state: self._note_retry(state, endpoint, subject),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._attempt(path, params, endpoint, subject)
        except _Transient as error:
            raise ServiceError(
                self.policy.service,
                endpoint,
                subject,
                f"{error.problem}, {self.policy.max_attempts} attempts in a row. The service may be down or "
                "overloaded: run again later; everything fetched so far is kept and will not be asked for again.",
            ) from error
        raise AssertionError("unreachable: tenacity either returns or raises")

    def shape_error(self, path: str, params: Mapping[str, str], subject: str, problem: str) -> ServiceError:
        """An answer that parsed but is not shaped as the service documents: drop it from the cache
        (so a re-run asks again instead of replaying it) and describe it."""
        self._session.cache.delete(requests=[requests.Request("GET", self.url(path), params=dict(params)).prepare()])
        return ServiceError(
            self.policy.service,
            f"GET {urlsplit(self.url(path)).path}",
            subject,
            f"unexpected answer: {problem}. Nothing from this answer was used or kept.",
        )

    def _attempt(self, path: str, params: Mapping[str, str], endpoint: str, subject: str) -> Any:
        try:
            response = self._session.get(self.url(path), params=dict(params), timeout=self.policy.timeout_seconds)
        except requests.Timeout as error:
            raise _Transient(f"no answer within {self.policy.timeout_seconds:g} s") from error
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as error:
            raise _Transient(f"could not reach {self.policy.base_url} ({type(error).__name__})") from error
        if getattr(response, "from_cache", False):
            self.stats.cache_hits += 1
        status = response.status_code
        if status == 200:
            if hasattr(response, _PARSED):
                return getattr(response, _PARSED)
            try:
                return json.loads(response.content)
            except ValueError:
                # Most often a transfer cut short; never let such a body answer from the cache.
                if getattr(response, "cache_key", None):
                    self._session.cache.delete(response.cache_key)
                raise _Transient(
                    f"answered 200 with a body that is not complete JSON ({len(response.content)} bytes)"
                ) from None
        if status == 404:
            raise NotFoundError(self.policy.service, endpoint, subject, "not found (404)")
        if status == 429 or status >= 500:
            asked = retry_after_seconds(response.headers)
            if asked is not None:
                if asked > self.policy.max_retry_after_seconds:
                    raise ServiceError(
                        self.policy.service,
                        endpoint,
                        subject,
                        f"answered {status} and asked to wait {asked:,.0f} s, longer than max_retry_after_seconds "
                        f"({self.policy.max_retry_after_seconds:,.0f} s): run again later",
                    )
                self.throttle.pause(asked)
            raise _Transient(f"answered {status} {response.reason}", asked)
        # An error page may repeat the request's headers back: keep the contact out of the message.
        contact = self.policy.user_agent.partition("( ")[2].rpartition(" )")[0]
        snippet = (response.text.replace(contact, "<contact>") if contact else response.text)[:200].strip()
        raise ServiceError(
            self.policy.service,
            endpoint,
            subject,
            f"answered {status} {response.reason}; asking again would not help ({snippet!r})",
        )

    def _wait(self, state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, _Transient) and error.retry_after is not None:
            return self.throttle.paused_for()  # the server named the pause; the throttle holds it
        return self._backoff(state)

    def _note_retry(self, state: tenacity.RetryCallState, endpoint: str, subject: str) -> None:
        self.stats.retries += 1
        wait = state.next_action.sleep if state.next_action else 0.0
        error = state.outcome.exception() if state.outcome else None
        self.log(
            f"{self.policy.service} {endpoint} ({subject}): {error}; attempt {state.attempt_number} of "
            f"{self.policy.max_attempts}, trying again in {wait:.2f} s"
        )


# --- checkpoints --------------------------------------------------------------------------------


class CheckpointStore:
    """Results already obtained, keyed by (namespace, key), committed one batch at a time.

    The HTTP cache alone would make a resumed run cheap only if it asked for exactly the same
    batches; a list that gained one track shifts every batch after it. Keeping results per
    recording makes a resumed or extended run ask only for what it has never seen. A key stored
    without a payload records a definite "the service has nothing for this", which is not asked
    again either.
    """

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._connection = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        self._connection.execute("PRAGMA journal_mode=WAL")
        # With WAL, NORMAL loses nothing when a process is killed (only on power loss), and is much faster.
        self._connection.execute("PRAGMA synchronous=NORMAL")
        self._connection.execute(
            "CREATE TABLE IF NOT EXISTS results ("
            " namespace TEXT NOT NULL, key TEXT NOT NULL, payload BLOB, stored_at REAL NOT NULL,"
            " PRIMARY KEY (namespace, key))"
        )
        self._connection.commit()

    def close(self) -> None:
        self._connection.close()

    def _rows(self, columns: str, namespace: str, keys: Iterable[str], max_age_seconds: float | None) -> list[tuple]:
        oldest = 0.0 if max_age_seconds is None else time.time() - max_age_seconds
        keys = list(dict.fromkeys(keys))
        rows: list[tuple] = []
        for start in range(0, len(keys), 500):  # stay well under SQLite's limit on bound parameters
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows += self._connection.execute(
                f"SELECT {columns} FROM results WHERE namespace = ? AND stored_at >= ? AND key IN ({marks})",
                [namespace, oldest, *chunk],
            ).fetchall()
        return rows

    def known(self, namespace: str, keys: Iterable[str], max_age_seconds: float | None = None) -> set[str]:
        """The keys that already have a stored result (with or without a payload)."""
        return {key for (key,) in self._rows("key", namespace, keys, max_age_seconds)}

    def get_many(self, namespace: str, keys: Iterable[str], max_age_seconds: float | None = None) -> dict[str, Any]:
        """Stored results for the keys that have one: the payload, or None for "nothing there"."""
        return {
            key: None if payload is None else json.loads(zlib.decompress(payload))
            for key, payload in self._rows("key, payload", namespace, keys, max_age_seconds)
        }

    def put_many(self, namespace: str, results: Mapping[str, Any], nothing: Iterable[str] = ()) -> None:
        """Store a batch in one transaction: all of it survives a crash, or none of it."""
        now = time.time()
        rows = [(namespace, key, zlib.compress(json.dumps(value).encode()), now) for key, value in results.items()]
        rows += [(namespace, key, None, now) for key in nothing]
        with self._connection:
            self._connection.executemany(
                "INSERT OR REPLACE INTO results (namespace, key, payload, stored_at) VALUES (?, ?, ?, ?)", rows
            )


class ServiceConnection:
    """A service's HTTP session and checkpoint store, opened on first use and closed together.

    Resources hold one of these as a private attribute, so a code location that never calls the
    service never opens its cache files.
    """

    def __init__(self, open_session: Callable[[], ServiceSession], store_path: Path):
        self._open_session = open_session
        self._store_path = store_path
        self._session: ServiceSession | None = None
        self._store: CheckpointStore | None = None

    @property
    def session(self) -> ServiceSession:
        if self._session is None:
            self._session = self._open_session()
        return self._session

    @property
    def store(self) -> CheckpointStore:
        if self._store is None:
            self._store = CheckpointStore(self._store_path)
        return self._store

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
        if self._store is not None:
            self._store.close()
            self._store = None
