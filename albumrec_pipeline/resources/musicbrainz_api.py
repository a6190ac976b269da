"""MusicBrainz WS/2 (JSON) as a `ReleaseCatalog`.

Calls are few and wide, because MusicBrainz allows one request per second:

- Release years and titles for up to 100 recordings come from one recording search,
  `recording?query=rid:(a OR b OR ...)&limit=100`; each hit carries the releases the recording
  is on and its `first-release-date`. The earliest release is chosen exactly as for a dump, by
  turning each hit into a one-track release document for `core.releases`.
- Candidate albums come from a release search (your query, restricted to the wanted primary
  types); each release found is looked up once with `inc=recordings+artist-credits+
  release-groups`, which gives the whole tracklist. Before anything else is fetched for it,
  one AcousticBrainz bulk request checks how many of its tracks have features, and an album
  below `min_feature_coverage` is dropped.

Results are kept per recording in a checkpoint store and every answer in an HTTP cache that
expires after `cache_expire_days`, since MusicBrainz is edited continuously.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
from pydantic import Field, PrivateAttr

from albumrec_pipeline.core.releases import (
    ReleaseDocumentError,
    candidate_tracklists,
    recording_metadata,
    release_track_rows,
    tracklist_table,
)
from albumrec_pipeline.resources.acousticbrainz_api import AcousticBrainzApiSource
from albumrec_pipeline.resources.feature_sources import ReleaseCatalog
from albumrec_pipeline.resources.http_client import (
    ServiceConnection,
    CheckpointStore,
    MissingContactError,
    NotFoundError,
    ServicePolicy,
    ServiceSession,
    describe_recordings,
    user_agent,
)
from albumrec_pipeline.resources.progress import ProgressReporter
from albumrec_pipeline.settings import DATA_DIR

# Search and browse requests return at most this many entities.
SEARCH_LIMIT = 100
METADATA_COLUMNS = ["mbid", "artist", "release_year", "release_title", "recording_title"]
_METADATA = "recording-metadata"

_logger = dg.get_dagster_logger("albumrec.musicbrainz")


def _unique(recording_ids: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(str(recording_id) for recording_id in recording_ids))


def release_from_search_hit(recording: dict, release: Any) -> dict:
    """A release document holding just `recording`, from one entry of a recording search hit.

    Search hits list media with `track` (singular, only the matching track) and no recordings;
    rebuilt this way, `core.releases` reads them exactly like lookups and dump lines.
    """
    if not isinstance(release, dict) or not isinstance(release.get("id"), str):
        raise ValueError("a release without an id")
    media = []
    for medium in release.get("media") or []:
        if not isinstance(medium, dict):
            raise ValueError(f"release {release['id']}: a medium that is not an object")
        offset = medium.get("track-offset") if isinstance(medium.get("track-offset"), int) else 0
        tracks = medium.get("track") or []
        if not isinstance(tracks, list):
            raise ValueError(f"release {release['id']}: 'track' is not a list")
        media.append(
            {
                "position": medium.get("position"),
                "tracks": [
                    {
                        "id": track.get("id"),
                        "position": offset + index + 1,
                        "title": track.get("title"),
                        "recording": recording,
                    }
                    for index, track in enumerate(tracks)
                    if isinstance(track, dict)
                ],
            }
        )
    if not any(medium["tracks"] for medium in media):
        media = [{"position": None, "tracks": [{"recording": recording}]}]
    return {
        "id": release["id"],
        "title": release.get("title"),
        "status": release.get("status"),
        "date": release.get("date"),
        "artist-credit": release.get("artist-credit"),
        "release-group": release.get("release-group") if isinstance(release.get("release-group"), dict) else {},
        "media": media,
    }


def _lucene_phrase(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class MusicBrainzApiCatalog(ReleaseCatalog):
    """Recording metadata and candidate albums from the live MusicBrainz web service."""

    acousticbrainz: AcousticBrainzApiSource = Field(
        description="Where candidate albums' feature coverage is checked before they are kept."
    )
    base_url: str = Field(default="https://musicbrainz.org/ws/2", description="MusicBrainz WS/2 root.")
    contact: str = Field(
        default="",
        description="Email or URL for the User-Agent, required by MusicBrainz (set ALBUMREC_CONTACT).",
    )
    state_dir: str = Field(
        default=str(DATA_DIR / "http_state"),
        description="Folder for the HTTP cache, stored results and the shared rate-limit budget.",
    )
    requests_per_window: int = Field(default=1, ge=1, description="Requests allowed per window (MusicBrainz: 1/s).")
    window_seconds: float = Field(default=1.0, gt=0, description="Length of the rate-limit window, in seconds.")
    timeout_seconds: float = Field(default=30.0, gt=0, description="Seconds to wait for an answer before retrying.")
    max_attempts: int = Field(default=6, ge=1, description="Attempts per request before giving up with an error.")
    backoff_seconds: float = Field(default=1.0, ge=0, description="First pause before a retry; doubles each time.")
    max_backoff_seconds: float = Field(default=60.0, ge=0, description="Longest pause between retries.")
    max_retry_after_seconds: float = Field(
        default=300.0, ge=0, description="Longest server-requested pause (Retry-After) to sit out instead of failing."
    )
    cache_expire_days: float = Field(
        default=30.0,
        gt=0,
        description="Age after which a cached answer is asked for again (MusicBrainz is edited daily).",
    )
    metadata_batch_size: int = Field(
        default=SEARCH_LIMIT, ge=1, le=SEARCH_LIMIT, description="Recordings per `rid:(a OR b ...)` search."
    )
    candidate_query: str = Field(
        default="status:official",
        description="Lucene query for candidate releases, e.g. 'status:official AND tag:jazz' or "
        "'artist:\"Miles Davis\"'; the wanted primary types are added to it.",
    )
    max_candidate_albums: int = Field(default=50, ge=1, description="Stop once this many albums are kept.")
    max_search_pages: int = Field(
        default=5, ge=1, description="Release search pages (100 releases each) to go through."
    )
    min_feature_coverage: float = Field(
        default=0.5, ge=0, le=1, description="Share of an album's tracks that AcousticBrainz must have to keep it."
    )

    _connection: ServiceConnection | None = PrivateAttr(default=None)

    # --- plumbing ---------------------------------------------------------------------------

    def policy(self) -> ServicePolicy:
        return ServicePolicy(
            service="MusicBrainz",
            base_url=self.base_url,
            user_agent=user_agent(self.contact),
            state_dir=Path(self.state_dir),
            requests_per_window=self.requests_per_window,
            window_seconds=self.window_seconds,
            follow_rate_limit_headers=False,
            timeout_seconds=self.timeout_seconds,
            max_attempts=self.max_attempts,
            backoff_seconds=self.backoff_seconds,
            max_backoff_seconds=self.max_backoff_seconds,
            max_retry_after_seconds=self.max_retry_after_seconds,
            cache_expire_seconds=self.cache_expire_days * 86_400,
        )

    @property
    def connection(self) -> ServiceConnection:
        if self._connection is None:
            self._connection = ServiceConnection(
                lambda: ServiceSession(self.policy(), "musicbrainz_http_cache"), Path(self.state_dir) / "musicbrainz_results.sqlite"
            )
        return self._connection

    @property
    def session(self) -> ServiceSession:
        if not self.contact.strip():
            raise MissingContactError("MusicBrainz")
        return self.connection.session

    @property
    def store(self) -> CheckpointStore:
        return self.connection.store

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.close()

    # --- recording metadata -----------------------------------------------------------------

    def recording_metadata(
        self, recording_ids: Sequence[str], log: Callable[[str], None] | None = None
    ) -> pd.DataFrame:
        log = log or _logger.info
        ids = _unique(recording_ids)
        session = self.session  # fails on a missing contact before anything else happens
        max_age = self.cache_expire_days * 86_400
        known = self.store.known(_METADATA, ids, max_age)
        todo = [recording_id for recording_id in ids if recording_id not in known]
        if todo:
            size = self.metadata_batch_size
            batches = [todo[start : start + size] for start in range(0, len(todo), size)]
            log(
                f"MusicBrainz: {len(known)} of {len(ids)} recordings already described; searching "
                f"{len(todo)} in {len(batches)} requests of up to {size}"
            )
            progress = ProgressReporter("MusicBrainz recordings described", len(todo), log)
            for batch in batches:
                rows = self._describe(session, batch)
                self.store.put_many(_METADATA, rows, [r for r in batch if r not in rows])
                progress.advance(len(batch))
        stored = self.store.get_many(_METADATA, ids, max_age)
        frame = pd.DataFrame([stored[r] for r in ids if stored.get(r) is not None], columns=METADATA_COLUMNS)
        frame["release_year"] = frame["release_year"].astype("Int64")
        return frame

    def _describe(self, session: ServiceSession, batch: list[str]) -> dict[str, dict]:
        """Metadata rows for a batch of recordings from one `rid:(...)` search (more pages if needed)."""
        wanted = set(batch)
        subject = describe_recordings(batch)
        params = {"query": "rid:(" + " OR ".join(batch) + ")", "limit": str(SEARCH_LIMIT), "fmt": "json"}
        documents: list[dict] = []
        offset = 0
        while True:
            page = dict(params, offset=str(offset)) if offset else params
            body = session.get_json("/recording", page, subject)
            hits, count = self._search_page(session, "/recording", page, subject, body, "recordings")
            for hit in hits:
                if not isinstance(hit, dict) or not isinstance(hit.get("id"), str):
                    raise session.shape_error("/recording", page, subject, "a recording without an id")
                if hit["id"] not in wanted:
                    continue  # a search may match more than asked for; only exact ids count
                releases = hit.get("releases") or []
                if not isinstance(releases, list):
                    raise session.shape_error(
                        "/recording", page, describe_recordings([hit["id"]]), "'releases' is not a list"
                    )
                bare = {key: value for key, value in hit.items() if key != "releases"}
                try:
                    documents += [release_from_search_hit(bare, release) for release in releases]
                except ValueError as error:
                    raise session.shape_error(
                        "/recording", page, describe_recordings([hit["id"]]), str(error)
                    ) from error
            offset += len(hits)
            if not hits or offset >= count:
                break
        try:
            table = tracklist_table(documents)
        except ReleaseDocumentError as error:
            raise session.shape_error("/recording", params, subject, str(error)) from error
        described = recording_metadata(table, batch)
        rows = {}
        for record in described.to_dict("records"):
            year = record["release_year"]
            record["release_year"] = None if pd.isna(year) else int(year)
            rows[record["mbid"]] = {
                column: (None if _missing(record[column]) else record[column]) for column in METADATA_COLUMNS
            }
        return rows

    @staticmethod
    def _search_page(
        session: ServiceSession, path: str, params: dict, subject: str, body: Any, entities: str
    ) -> tuple[list, int]:
        if not isinstance(body, dict) or not isinstance(body.get(entities), list):
            raise session.shape_error(path, params, subject, f"expected an object with a '{entities}' list")
        count = body.get("count")
        if not isinstance(count, int):
            raise session.shape_error(path, params, subject, "the search answer has no 'count'")
        return body[entities], count

    # --- candidate albums -------------------------------------------------------------------

    def candidate_tracklists(
        self,
        labelled_recordings: Sequence[str],
        primary_types: tuple[str, ...],
        log: Callable[[str], None] | None = None,
    ) -> pd.DataFrame:
        log = log or _logger.info
        session = self.session
        labelled = set(labelled_recordings)
        wanted_types = {kind.lower() for kind in primary_types}
        types = " OR ".join(f"primarytype:{_lucene_phrase(kind.lower())}" for kind in primary_types)
        query = f"({self.candidate_query}) AND ({types})" if types else self.candidate_query
        subject = f"release search {query!r}"
        log(f"MusicBrainz: looking for up to {self.max_candidate_albums} albums matching {query!r}")

        kept: list[dict] = []
        skipped: Counter[str] = Counter()
        groups_seen: set[str] = set()
        progress = ProgressReporter("candidate albums kept", self.max_candidate_albums, log)
        for page_number in range(self.max_search_pages):
            params = {"query": query, "limit": str(SEARCH_LIMIT), "fmt": "json"}
            if page_number:
                params["offset"] = str(page_number * SEARCH_LIMIT)
            body = session.get_json("/release", params, subject)
            hits, count = self._search_page(session, "/release", params, subject, body, "releases")
            for hit in hits:
                if len(kept) >= self.max_candidate_albums:
                    break
                reason = self._consider(session, hit, labelled, wanted_types, groups_seen, kept)
                if reason:
                    skipped[reason] += 1
                else:
                    progress.advance()
            if len(kept) >= self.max_candidate_albums or not hits or (page_number + 1) * SEARCH_LIMIT >= count:
                break

        reasons = ", ".join(f"{number} {reason}" for reason, number in skipped.most_common()) or "none"
        log(
            f"MusicBrainz: kept {len(kept)} albums; skipped: {reasons}; "
            f"{session.stats.network_requests} MusicBrainz requests sent in this session"
        )
        return candidate_tracklists(tracklist_table(kept), labelled, tuple(primary_types))

    def _consider(
        self,
        session: ServiceSession,
        hit: Any,
        labelled: set[str],
        wanted_types: set[str],
        groups_seen: set[str],
        kept: list[dict],
    ) -> str | None:
        """Keep the release of a search hit (append its lookup to `kept`) or say why not."""
        if not isinstance(hit, dict) or not isinstance(hit.get("id"), str):
            return "search hits without an id"
        group = hit.get("release-group") if isinstance(hit.get("release-group"), dict) else {}
        if str(group.get("primary-type") or "").lower() not in wanted_types:
            return "of another primary type"
        # Editions of one album share a release group: judging the first one found is enough.
        group_id = group.get("id")
        if group_id in groups_seen:
            return "further editions of an album already examined"
        if group_id:
            groups_seen.add(group_id)
        release = self._lookup_release(session, hit["id"])
        if release is None:
            return "no longer in MusicBrainz"
        try:
            recordings = list(dict.fromkeys(row["recording_id"] for row in release_track_rows(release)))
        except ReleaseDocumentError as error:
            raise session.shape_error(
                f"/release/{hit['id']}", self._lookup_params(), f"release {hit['id']}", str(error)
            ) from error
        if not recordings:
            return "without tracks"
        if labelled.intersection(recordings):
            return "holding a labelled recording"
        covered = self.acousticbrainz.coverage(recordings)
        if len(covered) < self.min_feature_coverage * len(recordings):
            return "with too few tracks in AcousticBrainz"
        kept.append(release)
        return None

    @staticmethod
    def _lookup_params() -> dict[str, str]:
        # Spaces become '+' in the query string, which is how MusicBrainz documents `inc`.
        return {"inc": "recordings artist-credits release-groups", "fmt": "json"}

    def _lookup_release(self, session: ServiceSession, release_id: str) -> dict | None:
        path = f"/release/{release_id}"
        try:
            release = session.get_json(path, self._lookup_params(), f"release {release_id}")
        except NotFoundError:
            # Found by the search a moment ago but gone now (merged or removed): not an error.
            _logger.warning(f"MusicBrainz release {release_id} was not found; skipping it")
            return None
        if not isinstance(release, dict) or not isinstance(release.get("media"), list):
            raise session.shape_error(path, self._lookup_params(), f"release {release_id}", "no 'media' list")
        return release


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
