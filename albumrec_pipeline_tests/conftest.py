from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import NoReturn

import pytest

# A developer's own settings (ALBUMREC_SOURCE=live, a list, a feedback file, a data folder) must
# not reach the tests: they are read when albumrec's modules are first imported, which is after this.
for _name in [name for name in os.environ if name.startswith("ALBUMREC_")]:
    del os.environ[_name]
# Nor their data: every default location (warehouse, feedback file, HTTP state) is a fresh folder.
os.environ["ALBUMREC_DATA_DIR"] = tempfile.mkdtemp(prefix="albumrec-tests-")

# The reference material lives beside the checkout; users do not have it, so tests skip without
# it. CI always has it: there a missing folder is a broken checkout, and a skip would hide it.
SHARED = Path(__file__).resolve().parents[2] / "shared"


def skip_unless_ci(message: str) -> NoReturn:
    """Skip a test whose outside requirement is missing, except under CI (the `CI` variable set),
    where everything the tests need is provided: there the test fails, so nothing stops running
    unnoticed."""
    if os.environ.get("CI"):
        pytest.fail(f"{message}; under CI this test must run, not skip")
    pytest.skip(message)


def reference_material(shared: Path = SHARED) -> Path:
    """The `../shared` folder of real reference documents and datasets, or a skip (a failure under CI)."""
    if not (shared / "fixtures").is_dir():
        skip_unless_ci(f"reference material not found at {shared}")
    return shared


@pytest.fixture
def shared_dir() -> Path:
    return reference_material()


def load_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
