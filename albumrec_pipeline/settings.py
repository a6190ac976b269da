"""Default locations. `ALBUMREC_DATA_DIR` moves them all; each one can still be set on its own."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("ALBUMREC_DATA_DIR", REPO_ROOT / "data")).resolve()
DEMO_WORLD_DIR = DATA_DIR / "demo"
WAREHOUSE_DIR = DATA_DIR / "warehouse"


def _location(variable: str, default: Path) -> Path:
    value = os.environ.get(variable, "").strip()
    return Path(value).expanduser().resolve() if value else default


# Folders of dump archives; each archive in them is one partition of the ingest assets.
# By default the demo world's, which is written in the dumps' formats.
ACOUSTICBRAINZ_DUMPS_ENV_VAR = "ALBUMREC_ACOUSTICBRAINZ_DUMPS"
MUSICBRAINZ_DUMPS_ENV_VAR = "ALBUMREC_MUSICBRAINZ_DUMPS"
ACOUSTICBRAINZ_DUMPS_DIR = _location(ACOUSTICBRAINZ_DUMPS_ENV_VAR, DEMO_WORLD_DIR / "acousticbrainz")
MUSICBRAINZ_DUMPS_DIR = _location(MUSICBRAINZ_DUMPS_ENV_VAR, DEMO_WORLD_DIR / "musicbrainz")

# Local space for tables being written and for DuckDB's spill files. Next to the warehouse by
# default, so that a finished table moves into a local warehouse by a rename, not a copy.
SCRATCH_DIR = _location("ALBUMREC_SCRATCH_DIR", DATA_DIR / "scratch")

# The listener's list, and the feedback file where recommended albums and tracks get marked
# liked or disliked. The liked-list sensor watches both (by content) and the liked_tracks asset
# reads both; a missing feedback file means no feedback yet.
LIKED_TRACKS_CSV = _location("ALBUMREC_LIKED_TRACKS", DEMO_WORLD_DIR / "liked_tracks.csv")
FEEDBACK_CSV = _location("ALBUMREC_FEEDBACK", DATA_DIR / "feedback.csv")
