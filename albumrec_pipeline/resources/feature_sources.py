"""Where track features and album tracklists come from.

Two interfaces, one per outside system, so every asset runs unchanged on any source:

- `TrackFeatureSource.fetch_track_features(recording_ids)`: AcousticBrainz feature rows.
- `ReleaseCatalog.recording_metadata(recording_ids)` and `.candidate_tracklists(...)`:
  MusicBrainz metadata for the labelled tracks, and the tracklists of albums to judge.

`AcousticBrainzDumpSource` reads documents laid out as in the AcousticBrainz 2022 JSON dumps
(`<root>/lowlevel/<mbid[0:2]>/<mbid[2]>/<mbid>-<offset>.json`, same for `highlevel`);
`MusicBrainzReleaseDump` reads release documents, one per line, as in the MusicBrainz JSON
dump's `mbdump/release`. The embedded demo world is written in exactly these layouts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field

from albumrec_pipeline.core.documents import DocumentError, track_row_from_documents
from albumrec_pipeline.core.feature_columns import RAW_TRACK_COLUMNS, TITLE_COLUMNS
from albumrec_pipeline.core.releases import candidate_tracklists, recording_metadata, tracklist_table
from albumrec_pipeline.resources.progress import ProgressReporter
from albumrec_pipeline.settings import DEMO_WORLD_DIR

AUDIO_COLUMNS = [column for column in RAW_TRACK_COLUMNS if column not in ("release_year", *TITLE_COLUMNS)]

_fallback_log = logging.getLogger("albumrec").info


@dataclass
class TrackFeatureFetch:
    rows: pd.DataFrame           # AUDIO_COLUMNS, one row per recording that has both documents
    without_documents: list[str]  # recordings with no low-level or no high-level document
    unusable: dict[str, str]     # recording -> why its documents could not be read


class TrackFeatureSource(dg.ConfigurableResource):
    """Anything that can give AcousticBrainz feature rows for recordings."""

    def fetch_track_features(
        self, recording_ids: Sequence[str], log: Callable[[str], None] | None = None
    ) -> TrackFeatureFetch:
        raise NotImplementedError


class ReleaseCatalog(dg.ConfigurableResource):
    """Anything that can describe recordings and list candidate albums with their tracks."""

    def recording_metadata(self, recording_ids: Sequence[str]) -> pd.DataFrame:
        """Columns mbid, artist, release_year, release_title, recording_title."""
        raise NotImplementedError

    def candidate_tracklists(self, labelled_recordings: Sequence[str], primary_types: tuple[str, ...]) -> pd.DataFrame:
        """`releases.TRACK_COLUMNS`, one row per track of albums holding no labelled recording."""
        raise NotImplementedError


class AcousticBrainzDumpSource(TrackFeatureSource):
    """AcousticBrainz documents in the 2022 dump layout, unpacked under `root`."""

    root: str = Field(
        default=str(DEMO_WORLD_DIR / "acousticbrainz"),
        description="Folder holding lowlevel/ and highlevel/ as in the AcousticBrainz JSON dumps.",
    )

    def document_path(self, kind: str, recording_id: str, offset: int = 0) -> Path:
        return Path(self.root) / kind / recording_id[:2] / recording_id[2] / f"{recording_id}-{offset}.json"

    def _read(self, kind: str, recording_id: str) -> dict | None:
        # Submission 0 is the first analysis of a recording; later offsets are re-submissions.
        path = self.document_path(kind, recording_id)
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_bytes())
        except ValueError as error:
            raise DocumentError(recording_id, kind, str(path), f"is not valid JSON ({error})") from error

    def fetch_track_features(
        self, recording_ids: Sequence[str], log: Callable[[str], None] | None = None
    ) -> TrackFeatureFetch:
        log = log or _fallback_log
        root = Path(self.root)
        if not (root / "lowlevel").is_dir() or not (root / "highlevel").is_dir():
            raise FileNotFoundError(
                f"no AcousticBrainz documents under {root} (expected lowlevel/ and highlevel/); "
                "write the demo world with `python -m albumrec_pipeline.demo` or point "
                "AcousticBrainzDumpSource.root at an unpacked dump"
            )
        progress = ProgressReporter("AcousticBrainz documents read", len(recording_ids), log)
        rows, without, unusable = [], [], {}
        for recording_id in recording_ids:
            try:
                lowlevel, highlevel = self._read("lowlevel", recording_id), self._read("highlevel", recording_id)
                if lowlevel is None or highlevel is None:
                    without.append(recording_id)
                else:
                    rows.append(track_row_from_documents(recording_id, lowlevel, highlevel))
            except DocumentError as error:
                unusable[recording_id] = str(error)
            progress.advance()
        return TrackFeatureFetch(pd.DataFrame(rows, columns=AUDIO_COLUMNS), without, unusable)


class MusicBrainzReleaseDump(ReleaseCatalog):
    """MusicBrainz release documents as JSON lines (the JSON dump's `mbdump/release`, unpacked)."""

    releases_path: str = Field(
        default=str(DEMO_WORLD_DIR / "musicbrainz" / "release.jsonl"),
        description="File with one MusicBrainz release document per line.",
    )

    def iter_releases(self) -> Iterator[dict]:
        path = Path(self.releases_path)
        if not path.is_file():
            raise FileNotFoundError(
                f"no MusicBrainz release documents at {path}; write the demo world with "
                "`python -m albumrec_pipeline.demo` or point MusicBrainzReleaseDump.releases_path at a dump"
            )
        with path.open("rb") as lines:
            for number, line in enumerate(lines, start=1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except ValueError as error:
                        raise ValueError(f"{path} line {number}: not a JSON release document ({error})") from error

    def tracklists(self) -> pd.DataFrame:
        return tracklist_table(self.iter_releases())

    def recording_metadata(self, recording_ids: Sequence[str]) -> pd.DataFrame:
        return recording_metadata(self.tracklists(), recording_ids)

    def candidate_tracklists(self, labelled_recordings: Sequence[str], primary_types: tuple[str, ...]) -> pd.DataFrame:
        return candidate_tracklists(self.tracklists(), labelled_recordings, primary_types)
