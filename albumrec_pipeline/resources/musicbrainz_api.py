"""MusicBrainz WS/2 (JSON) as a `ReleaseCatalog`.

Calls are few and wide, because MusicBrainz allows one request per second:

- Release years and titles for up to 100 recordings come from one recording search,
  `recording?query=rid:(a OR b OR ...)&limit=100`; each hit carries the releases the recording
  is on and its `first-release-date`. The earliest release is chosen exactly as for a dump, by
  turning each hit into a one-track release document for `core.releases`.
- Candidate albums (`discover_releases`) come from a release search: an `AlbumSearch`'s query,
  restricted to its primary types. Search hits carry no tracks, and a release lookup costs a
  request per album, so the tracks of a page's albums are first listed by recording searches
  `reid:(a OR b OR ...)`, about eight albums a request. Then each album in turn: one
  AcousticBrainz bulk request checks how many of its tracks have features (an album below the
  search's `min_feature_coverage` is dropped there), and only an album that passes is looked up
  with `inc=recordings+artist-credits+release-groups+genres+tags`, which gives the whole
  tracklist in the shape of a line of the JSON dump, with the MusicBrainz genres and tags (and
  their votes) of the release, its release group, its recordings and its credited artists. An
  album without coverage so costs one AcousticBrainz request and a share of a recording search,
  never a lookup.
- MusicBrainz tags of labelled recordings (`recording_tags`): a search hit carries no tags, so
  the release each recording is described by (its earliest, found by the searches above) is
  looked up as above, one request per distinct release, and its tags combined exactly as the
  catalog combines the dump's (`core.catalog.recording_tags_from_documents`).

The `musicbrainz_archive` asset stores the albums found as the live partition of the catalog's
release tables, where the album search reads them like the dump's (see `assets.live_search`).

Results are kept per recording in a checkpoint store and every answer in an HTTP cache that
expires after `cache_expire_days`, since MusicBrainz is edited continuously: a re-run of the
discovery within that time sends no request at all, and a killed one resumes where it stopped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import dagster as dg
import pandas as pd
from pydantic import Field

from albumrec_pipeline.core.catalog import recording_tags_from_documents
from albumrec_pipeline.core.releases import (
    ReleaseDocumentError,
    earliest_release_ids,
    recording_metadata,
    release_track_rows,
    tracklist_table,
)
from albumrec_pipeline.resources.acousticbrainz_api import AcousticBrainzApiSource
from albumrec_pipeline.resources.feature_sources import (
    AlbumSearch,
    ReleaseCatalog,
    ReleaseDiscovery,
    recording_tags_frame,
)
from albumrec_pipeline.resources.http_client import NotFoundError, ServiceSession, describe_recordings
from albumrec_pipeline.resources.progress import ProgressReporter
from albumrec_pipeline.resources.service_client import LiveServiceClient

# Search and browse requests return at most this many entities.
SEARCH_LIMIT = 100
# Releases named in one `reid:(...)` recording search; keeps the query short whatever the albums' sizes.
RELEASES_PER_RECORDING_SEARCH = 25
# What a release search hit that does not say how many tracks it has is counted as, to batch it.
UNKNOWN_TRACK_COUNT = 12
METADATA_COLUMNS = ["mbid", "artist", "release_year", "release_title", "recording_title"]
_METADATA = "recording-metadata"
_TAGS = "recording-musicbrainz-tags"
# What a release lookup includes: the whole tracklist with credits, the release group, and tags.
LOOKUP_INCLUDES = ("recordings", "artist-credits", "release-groups", "genres", "tags")

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



class MusicBrainzApiCatalog(LiveServiceClient, ReleaseCatalog):
    """Recording metadata and candidate albums from the live MusicBrainz web service."""

    SERVICE: ClassVar[str] = "MusicBrainz"
    CACHE_NAME: ClassVar[str] = "musicbrainz_http_cache"
    STORE_NAME: ClassVar[str] = "musicbrainz_results.sqlite"
    CONTACT_REQUIRED: ClassVar[bool] = True

    acousticbrainz: AcousticBrainzApiSource = Field(
        description="Where candidate albums' feature coverage is checked before they are looked up."
    )
    base_url: str = Field(default="https://musicbrainz.org/ws/2", description="MusicBrainz WS/2 root.")
    requests_per_window: int = Field(default=1, ge=1, description="Requests allowed per window (MusicBrainz: 1/s).")
    window_seconds: float = Field(default=1.0, gt=0, description="Length of the rate-limit window, in seconds.")
    cache_expire_days: float = Field(
        default=30.0,
        gt=0,
        description="Age after which a cached answer is asked for again (MusicBrainz is edited daily).",
    )
    metadata_batch_size: int = Field(
        default=SEARCH_LIMIT, ge=1, le=SEARCH_LIMIT, description="Recordings per `rid:(a OR b ...)` search."
    )

    def cache_expire_seconds(self) -> float | None:
        return self.cache_expire_days * 86_400

    # --- recording metadata -----------------------------------------------------------------

    def recording_metadata(
        self, recording_ids: Sequence[str], log: Callable[[str], None] | None = None
    ) -> pd.DataFrame:
        log = log or _logger.info
        ids = _unique(recording_ids)
        session = self.session  # fails on a missing contact before anything else happens
        max_age = self.cache_expire_seconds()
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
        for page, hit in self._recording_hits(session, params, subject):
            if hit["id"] not in wanted:
                continue  # a search may match more than asked for; only exact ids count
            releases = hit.get("releases") or []
            if not isinstance(releases, list):
                raise session.shape_error("/recording", page, describe_recordings([hit["id"]]), "'releases' is not a list")
            documents += self._releases_of_hit(session, page, hit, releases)
        try:
            table = tracklist_table(documents)
        except ReleaseDocumentError as error:
            raise session.shape_error("/recording", params, subject, str(error)) from error
        described = recording_metadata(table, batch)
        releases = earliest_release_ids(table, batch)
        rows = {}
        for record in described.to_dict("records"):
            year = record["release_year"]
            record["release_year"] = None if pd.isna(year) else int(year)
            rows[record["mbid"]] = {
                column: (None if _missing(record[column]) else record[column]) for column in METADATA_COLUMNS
            }
            # Kept beside the metadata: the release whose tags `recording_tags` looks up.
            rows[record["mbid"]]["release_id"] = releases.get(record["mbid"])
        return rows

    # --- MusicBrainz tags -------------------------------------------------------------------

    def _described_releases(self, session: ServiceSession, ids: list[str], max_age: float) -> dict[str, str]:
        """Recording -> the release it is described by, searching (as `recording_metadata`) for those
        not described yet or described before the release was kept."""
        stored = self.store.get_many(_METADATA, ids, max_age)
        todo = [r for r in ids if r not in stored or (stored[r] is not None and not stored[r].get("release_id"))]
        size = self.metadata_batch_size
        for batch in (todo[start : start + size] for start in range(0, len(todo), size)):
            rows = self._describe(session, batch)
            self.store.put_many(_METADATA, rows, [r for r in batch if r not in rows])
            stored.update({r: rows.get(r) for r in batch})
        return {r: row["release_id"] for r, row in stored.items() if row and row.get("release_id")}

    def recording_tags(self, recording_ids: Sequence[str], log: Callable[[str], None] | None = None) -> pd.DataFrame:
        """Columns mbid, musicbrainz_tags: the MusicBrainz tags (with votes) of each recording's release,
        that release's release group and the recording's credited artists, from one release lookup
        (`inc=...+genres+tags`) per distinct release. The release is the one the recording is
        described by (its earliest); a recording on no release has no tags."""
        log = log or _logger.info
        ids = _unique(recording_ids)
        session = self.session  # fails on a missing contact before anything else happens
        max_age = self.cache_expire_seconds()
        known = self.store.known(_TAGS, ids, max_age)
        todo = [recording_id for recording_id in ids if recording_id not in known]
        if todo:
            releases = self._described_releases(session, todo, max_age)
            distinct = list(dict.fromkeys(releases[r] for r in todo if r in releases))
            log(
                f"MusicBrainz: tags of {len(todo)} recordings ({len(ids) - len(todo)} known), from "
                f"{len(distinct)} release lookups"
            )
            progress = ProgressReporter("MusicBrainz releases looked up for tags", len(distinct), log)
            documents = []
            for release_id in distinct:
                release = self._lookup_release(session, release_id)
                if release is not None:
                    documents.append(release)
                progress.advance()
            tags, counts = recording_tags_from_documents(documents, todo)
            for problem in [*counts.problems, *counts.tag_problem_notes]:
                log(f"MusicBrainz tags: {problem}")
            self.store.put_many(_TAGS, {r: tags[r] for r in todo if r in tags}, [r for r in todo if r not in tags])
        stored = self.store.get_many(_TAGS, ids, max_age)
        return recording_tags_frame(ids, stored)

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

    def _recording_hits(self, session: ServiceSession, params: dict, subject: str) -> Iterator[tuple[dict, dict]]:
        """Every hit of a recording search, page after page, with the page's parameters; each hit has an id."""
        offset = 0
        while True:
            page = dict(params, offset=str(offset)) if offset else params
            body = session.get_json("/recording", page, subject)
            hits, count = self._search_page(session, "/recording", page, subject, body, "recordings")
            for hit in hits:
                if not isinstance(hit, dict) or not isinstance(hit.get("id"), str):
                    raise session.shape_error("/recording", page, subject, "a recording without an id")
                yield page, hit
            offset += len(hits)
            if not hits or offset >= count:
                return

    @staticmethod
    def _releases_of_hit(session: ServiceSession, page: dict, hit: dict, releases: list) -> list[dict]:
        """Release documents (one medium, this recording's track) from a recording search hit's releases."""
        bare = {key: value for key, value in hit.items() if key != "releases"}
        try:
            return [release_from_search_hit(bare, release) for release in releases]
        except ValueError as error:
            raise session.shape_error("/recording", page, describe_recordings([hit["id"]]), str(error)) from error

    # --- candidate albums -------------------------------------------------------------------

    @staticmethod
    def search_query(search: AlbumSearch) -> str:
        types = " OR ".join(f"primarytype:{_lucene_phrase(kind.lower())}" for kind in search.primary_types)
        return f"({search.query}) AND ({types})" if types else search.query

    def discover_releases(
        self,
        search: AlbumSearch,
        log: Callable[[str], None] | None = None,
    ) -> ReleaseDiscovery:
        """Up to `search.max_albums` albums matching `search.query`, as release lookup documents.

        Per page of the release search: the hits of the wanted types, one edition per release
        group, have their recordings listed by recording searches `reid:(a OR b ...)` (about eight
        albums a request), then each album in turn has its AcousticBrainz coverage checked (one
        bulk request for up to 25 tracks) and only an album that passes is looked up.
        """
        log = log or _logger.info
        session = self.session  # fails on a missing contact before anything else happens
        wanted_types = {kind.lower() for kind in search.primary_types}
        query = self.search_query(search)
        subject = f"release search {query!r}"
        sent_before = session.stats.network_requests
        coverage_before = self.acousticbrainz.session.stats.network_requests
        log(f"MusicBrainz: looking for up to {search.max_albums} albums matching {query!r}")

        kept: list[dict] = []
        skipped: Counter[str] = Counter()
        groups_seen: set[str] = set()
        progress = ProgressReporter("candidate albums kept", search.max_albums, log)
        for page_number in range(search.max_search_pages):
            params = {"query": query, "limit": str(SEARCH_LIMIT), "fmt": "json"}
            if page_number:
                params["offset"] = str(page_number * SEARCH_LIMIT)
            body = session.get_json("/release", params, subject)
            hits, count = self._search_page(session, "/release", params, subject, body, "releases")
            candidates = self._page_candidates(hits, wanted_types, groups_seen, skipped)
            log(
                f"MusicBrainz release search page {page_number + 1} of up to "
                f"{max(1, min(search.max_search_pages, -(-count // SEARCH_LIMIT)))}: {len(hits)} releases, "
                f"{len(candidates)} albums to examine, {len(kept)} kept so far"
            )
            recordings: dict[str, list[str]] = {}
            for position, hit in enumerate(candidates):
                if len(kept) >= search.max_albums:
                    break
                if hit["id"] not in recordings:
                    recordings.update(self._release_recordings(session, _recording_batch(candidates[position:])))
                reason = self._consider(session, hit, recordings[hit["id"]], search, kept)
                if reason:
                    skipped[reason] += 1
                else:
                    progress.advance()
            if len(kept) >= search.max_albums or not hits or (page_number + 1) * SEARCH_LIMIT >= count:
                break

        reasons = ", ".join(f"{number} {reason}" for reason, number in skipped.most_common()) or "none"
        log(
            f"MusicBrainz: kept {len(kept)} albums; skipped: {reasons}; "
            f"{session.stats.network_requests - sent_before} MusicBrainz and "
            f"{self.acousticbrainz.session.stats.network_requests - coverage_before} AcousticBrainz requests sent"
        )
        return ReleaseDiscovery(kept, query, dict(skipped))

    @staticmethod
    def _page_candidates(
        hits: list, wanted_types: set[str], groups_seen: set[str], skipped: Counter[str]
    ) -> list[dict]:
        """The search hits worth examining: an id, a wanted type, the first edition of its release group."""
        candidates = []
        for hit in hits:
            if not isinstance(hit, dict) or not isinstance(hit.get("id"), str):
                skipped["search hits without an id"] += 1
                continue
            group = hit.get("release-group") if isinstance(hit.get("release-group"), dict) else {}
            if str(group.get("primary-type") or "").lower() not in wanted_types:
                skipped["of another primary type"] += 1
                continue
            # Editions of one album share a release group: judging the first one found is enough.
            group_id = group.get("id")
            if group_id in groups_seen:
                skipped["further editions of an album already examined"] += 1
                continue
            if group_id:
                groups_seen.add(group_id)
            candidates.append(hit)
        return candidates

    def _release_recordings(self, session: ServiceSession, releases: list[dict]) -> dict[str, list[str]]:
        """The recordings of each release, in track order, from recording searches `reid:(a OR b ...)`.

        A recording search hit lists the releases the recording is on, with its position on each
        (`media[].track`), which is all the coverage check needs; a lookup would cost a request
        per album.
        """
        wanted = {release["id"] for release in releases}
        subject = f"recordings of release{'s' if len(releases) > 1 else ''} " + ", ".join(sorted(wanted))
        params = {"query": "reid:(" + " OR ".join(release["id"] for release in releases) + ")"}
        params |= {"limit": str(SEARCH_LIMIT), "fmt": "json"}
        positions: dict[str, list[tuple]] = {release_id: [] for release_id in wanted}
        for page, hit in self._recording_hits(session, params, subject):
            on = [r for r in hit.get("releases") or [] if isinstance(r, dict) and r.get("id") in wanted]
            for document in self._releases_of_hit(session, page, hit, on):
                for medium in document["media"]:
                    for track in medium["tracks"]:
                        place = (medium.get("position") or 0, track.get("position") or 0)
                        positions[document["id"]].append((*place, hit["id"]))
        return {
            release_id: list(dict.fromkeys(recording for *_, recording in sorted(found)))
            for release_id, found in positions.items()
        }

    def _consider(
        self,
        session: ServiceSession,
        hit: dict,
        recordings: list[str],
        search: AlbumSearch,
        kept: list[dict],
    ) -> str | None:
        """Keep the release of a search hit (append its lookup to `kept`) or say why not.

        Everything that can reject an album is checked before its lookup, the one request that
        costs a MusicBrainz second per album.
        """
        if not recordings:
            return "without tracks in the search index"
        tracks = max(len(recordings), _track_count(hit) or 0)
        covered = self.acousticbrainz.coverage(recordings)
        if len(covered) < search.min_feature_coverage * tracks:
            return "with too few tracks in AcousticBrainz"
        release = self._lookup_release(session, hit["id"])
        if release is None:
            return "no longer in MusicBrainz"
        try:
            release_track_rows(release)
        except ReleaseDocumentError as error:
            raise session.shape_error(
                f"/release/{hit['id']}", self._lookup_params(), f"release {hit['id']}", str(error)
            ) from error
        kept.append(release)
        return None

    @staticmethod
    def _lookup_params() -> dict[str, str]:
        # Spaces become '+' in the query string, which is how MusicBrainz documents `inc`.
        return {"inc": " ".join(LOOKUP_INCLUDES), "fmt": "json"}

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


def _track_count(hit: dict) -> int | None:
    """The number of tracks a release search hit announces, when it does."""
    if isinstance(hit.get("track-count"), int):
        return hit["track-count"]
    counts = [medium.get("track-count") for medium in hit.get("media") or [] if isinstance(medium, dict)]
    return sum(counts) if counts and all(isinstance(count, int) for count in counts) else None


def _recording_batch(hits: list[dict]) -> list[dict]:
    """The first releases of `hits` whose tracks fit one page of a recording search (at least one release).

    Batches are cut from the page's candidates in order, so a re-run asks the same questions and
    the HTTP cache answers them.
    """
    batch, tracks = [], 0
    for hit in hits[:RELEASES_PER_RECORDING_SEARCH]:
        count = _track_count(hit) or UNKNOWN_TRACK_COUNT
        if batch and tracks + count > SEARCH_LIMIT:
            break
        batch.append(hit)
        tracks += count
    return batch


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
