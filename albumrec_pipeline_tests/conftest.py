from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

# A developer's own settings (ALBUMREC_SOURCE=live, a list, a feedback file, a data folder) must
# not reach the tests: they are read when albumrec's modules are first imported, which is after this.
for _name in [name for name in os.environ if name.startswith("ALBUMREC_")]:
    del os.environ[_name]
# Nor their data: every default location (warehouse, feedback file, HTTP state) is a fresh folder.
os.environ["ALBUMREC_DATA_DIR"] = tempfile.mkdtemp(prefix="albumrec-tests-")

# The reference material lives beside the checkout; users do not have it, so tests skip without it.
SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture
def shared_dir() -> Path:
    if not (SHARED / "fixtures").is_dir():
        pytest.skip(f"reference material not found at {SHARED}")
    return SHARED


def load_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
