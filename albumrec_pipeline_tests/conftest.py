from __future__ import annotations

import json
from pathlib import Path

import pytest

# The reference material lives beside the checkout; users do not have it, so tests skip without it.
SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture
def shared_dir() -> Path:
    if not (SHARED / "fixtures").is_dir():
        pytest.skip(f"reference material not found at {SHARED}")
    return SHARED


def load_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
