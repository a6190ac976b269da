"""AcousticBrainz API v1 as a `TrackFeatureSource`: bulk documents, 25 recordings per request.

Instead of two requests per recording (`/<mbid>/low-level`, `/<mbid>/high-level`), the bulk
endpoints `GET /api/v1/low-level?recording_ids=a;b;...` and `/api/v1/high-level?...` answer for
up to 25 recordings at once, as `{mbid: {"<offset>": document}, "mbid_mapping": {...}}`.
Recordings the service has no document for are simply absent from the answer; they are stored
as "no features" so they are never asked for again.

Every document is kept in a checkpoint store as soon as its batch arrives, so a killed run
resumes where it stopped, and a later run over a longer list asks only for the new recordings.
AcousticBrainz stopped taking submissions in 2022: its documents never change, so neither the
stored documents nor the HTTP cache expire by default.

Besides model-ready rows (`fetch_track_features`), the source hands out the documents themselves
with their submission offsets (`feature_documents`), which the `acousticbrainz_archive` asset
stores as the live partition of the catalog's feature tables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import dagster as dg
import pandas as pd
from pydantic import Field

from albumrec_pipeline.core import feature_dumps
from albumrec_pipeline.core.documents import DocumentError, track_row_from_documents
from albumrec_pipeline.resources.feature_sources import (
    AUDIO_COLUMNS,
    FeatureDocuments,
    TrackFeatureFetch,
    TrackFeatureSource,
)
from albumrec_pipeline.resources.http_client import describe_recordings
from albumrec_pipeline.resources.progress import ProgressReporter
from albumrec_pipeline.resources.service_client import LiveServiceClient

# The service answers 400 to more recordings than this in one bulk request.
BULK_LIMIT = 25
LOWLEVEL = "low-level"
HIGHLEVEL = "high-level"

_fallback_log = dg.get_dagster_logger("albumrec.acousticbrainz").info


def _unique(recording_ids: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(str(recording_id) for recording_id in recording_ids))


def lowest_offset_document(entry: Any) -> dict:
    """The first submission's document from a bulk entry `{"0": doc, "1": doc, ...}`.

    A recording analysed several times has several submissions; the lowest offset is the first
    one, the same choice the dump source makes, so both sources give a recording the same row.
    """
    return lowest_offset_submission(entry)[1]


def lowest_offset_submission(entry: Any) -> tuple[int, dict]:
    """(offset, document) of the first submission in a bulk entry (see `lowest_offset_document`)."""
    if not isinstance(entry, dict) or not entry:
        raise ValueError(f"expected an object of submissions keyed by offset, got {type(entry).__name__}")
    offsets = {}
    for key, document in entry.items():
        if not isinstance(key, str) or not key.isdigit():
            raise ValueError(f"submission key {key!r} is not an offset")
        if not isinstance(document, dict):
            raise ValueError(f"submission {key} is a {type(document).__name__}, not a document")
        offsets[int(key)] = document
    first = min(offsets)
    return first, offsets[first]


def _offsets(kind: str) -> str:
    """The checkpoint namespace of the submission offsets of the `kind` documents."""
    return f"{kind} offsets"


class AcousticBrainzApiSource(LiveServiceClient, TrackFeatureSource):
    """Feature rows from the live AcousticBrainz API v1, fetched in bulk and kept on disk."""

    SERVICE: ClassVar[str] = "AcousticBrainz"
    CACHE_NAME: ClassVar[str] = "acousticbrainz_http_cache"
    STORE_NAME: ClassVar[str] = "acousticbrainz_documents.sqlite"

    base_url: str = Field(default="https://acousticbrainz.org", description="AcousticBrainz server, without /api/v1.")
    requests_per_window: int = Field(
        default=10,
        ge=1,
        description="Requests allowed per window until the server's X-RateLimit headers say otherwise.",
    )
    window_seconds: float = Field(default=10.0, gt=0, description="Length of the rate-limit window, in seconds.")
    follow_rate_limit_headers: bool = Field(
        default=True, description="Adopt the server's X-RateLimit-Limit and pause when X-RateLimit-Remaining is 0."
    )
    batch_size: int = Field(default=BULK_LIMIT, ge=1, le=BULK_LIMIT, description="Recordings per bulk request.")

    def follows_rate_limit_headers(self) -> bool:
        return self.follow_rate_limit_headers

    # --- the interface ----------------------------------------------------------------------

    def coverage(self, recording_ids: Sequence[str], log: Callable[[str], None] | None = None) -> set[str]:
        """The recordings AcousticBrainz has a low-level document for: one bulk request per 25.

        The documents fetched for the check are kept, so features for an album that passes the
        check later cost only the high-level requests.
        """
        ids = _unique(recording_ids)
        self._fetch_missing(LOWLEVEL, ids, log or _fallback_log, quiet=True)
        return {recording_id for recording_id, doc in self.store.get_many(LOWLEVEL, ids).items() if doc is not None}

    def fetch_track_features(
        self, recording_ids: Sequence[str], log: Callable[[str], None] | None = None
    ) -> TrackFeatureFetch:
        log = log or _fallback_log
        ids = _unique(recording_ids)
        sent_before, cached_before = self.session.stats.network_requests, self.session.stats.cache_hits
        lowlevel, highlevel = self._documents(ids, log)

        rows, without, unusable = [], [], {}
        for recording_id in ids:
            low, high = lowlevel.get(recording_id), highlevel.get(recording_id)
            if low is None or high is None:
                without.append(recording_id)
                continue
            try:
                rows.append(track_row_from_documents(recording_id, low, high))
            except DocumentError as error:
                unusable[recording_id] = str(error)
        log(
            f"AcousticBrainz: {len(rows)} of {len(ids)} recordings with features, {len(without)} without "
            f"documents, {len(unusable)} with unusable documents; "
            f"{self.session.stats.network_requests - sent_before} requests sent, "
            f"{self.session.stats.cache_hits - cached_before} answered from the cache"
        )
        return TrackFeatureFetch(pd.DataFrame(rows, columns=AUDIO_COLUMNS), without, unusable)

    def feature_documents(
        self, recording_ids: Sequence[str], log: Callable[[str], None] | None = None
    ) -> FeatureDocuments:
        """Both documents of every recording that has them, with their submission offsets, for the
        catalog's feature tables (a recording without a high-level document keeps its low-level one)."""
        log = log or _fallback_log
        ids = _unique(recording_ids)
        sent_before = self.session.stats.network_requests
        lowlevel, highlevel = self._documents(ids, log)
        documents: dict[str, dict[str, tuple[int, dict]]] = {}
        for table_kind, kind, fetched in (
            (feature_dumps.LOWLEVEL, LOWLEVEL, lowlevel),
            (feature_dumps.HIGHLEVEL, HIGHLEVEL, highlevel),
        ):
            present = [recording_id for recording_id in ids if fetched.get(recording_id) is not None]
            # Stores written before offsets were kept hold answers to requests without an offset,
            # which the service answers with submission 0.
            offsets = self.store.get_many(_offsets(kind), present)
            documents[table_kind] = {r: (int(offsets.get(r) or 0), fetched[r]) for r in present}
        without = [recording_id for recording_id in ids if lowlevel.get(recording_id) is None]
        log(
            f"AcousticBrainz: low-level documents for {len(documents[feature_dumps.LOWLEVEL])} and high-level "
            f"for {len(documents[feature_dumps.HIGHLEVEL])} of {len(ids)} recordings; "
            f"{self.session.stats.network_requests - sent_before} requests sent"
        )
        return FeatureDocuments(documents, without)

    def _documents(self, ids: list[str], log: Callable[[str], None]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Stored low- and high-level documents of the recordings, fetching those never asked for."""
        self._fetch_missing(LOWLEVEL, ids, log)
        lowlevel = self.store.get_many(LOWLEVEL, ids)
        # High-level documents are computed from low-level ones: without one there is no other to ask for.
        with_lowlevel = [recording_id for recording_id in ids if lowlevel.get(recording_id) is not None]
        self._fetch_missing(HIGHLEVEL, with_lowlevel, log)
        return lowlevel, self.store.get_many(HIGHLEVEL, with_lowlevel)

    # --- fetching ---------------------------------------------------------------------------

    def _fetch_missing(self, kind: str, ids: list[str], log: Callable[[str], None], quiet: bool = False) -> None:
        """Fetch and store the `kind` documents of the recordings that have no stored answer yet."""
        known = self.store.known(kind, ids)
        todo = [recording_id for recording_id in ids if recording_id not in known]
        if not todo:
            return
        batches = [todo[start : start + self.batch_size] for start in range(0, len(todo), self.batch_size)]
        if not quiet:
            log(
                f"AcousticBrainz {kind}: {len(known)} of {len(ids)} recordings already stored; fetching "
                f"{len(todo)} in {len(batches)} requests of up to {self.batch_size}"
            )
        progress = ProgressReporter(f"AcousticBrainz {kind} documents", len(todo), log if not quiet else _silent)
        for batch in batches:
            found, missing = self._bulk(kind, batch)
            # One transaction per batch: a run killed now loses at most the batch in flight.
            self.store.put_many(kind, {recording: document for recording, (_, document) in found.items()}, missing)
            self.store.put_many(_offsets(kind), {recording: offset for recording, (offset, _) in found.items()})
            progress.advance(len(batch))

    def _bulk(self, kind: str, batch: list[str]) -> tuple[dict[str, tuple[int, dict]], list[str]]:
        """(submission offset, document) of the batch's recordings that have one, and those that have none."""
        path = f"/api/v1/{kind}"
        params = {"recording_ids": ";".join(batch)}
        body = self.session.get_json(path, params, describe_recordings(batch))
        if not isinstance(body, dict):
            raise self.session.shape_error(
                path,
                params,
                describe_recordings(batch),
                f"expected an object keyed by recording, got {type(body).__name__}",
            )
        # The service answers with lower-case ids and may name the id it used in "mbid_mapping".
        mapping = body.get("mbid_mapping") if isinstance(body.get("mbid_mapping"), dict) else {}
        found: dict[str, tuple[int, dict]] = {}
        missing: list[str] = []
        for recording_id in batch:
            key = next(
                (k for k in (recording_id, recording_id.lower(), mapping.get(recording_id)) if k and k in body), None
            )
            if key is None:
                missing.append(recording_id)
                continue
            try:
                found[recording_id] = lowest_offset_submission(body[key])
            except ValueError as error:
                raise self.session.shape_error(path, params, describe_recordings([recording_id]), str(error)) from error
        return found, missing


def _silent(_: str) -> None:
    pass
