"""Default locations. `ALBUMREC_DATA_DIR` moves them all; each resource can still be configured."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("ALBUMREC_DATA_DIR", REPO_ROOT / "data")).resolve()
DEMO_WORLD_DIR = DATA_DIR / "demo"
WAREHOUSE_DIR = DATA_DIR / "warehouse"
