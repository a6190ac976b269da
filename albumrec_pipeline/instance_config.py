"""The Dagster instance configuration (`dagster.yaml`) that `make demo` and `make dev` write.

- Pools: at most one step at a time in each pool, across all runs (the live-service assets
  share one), so concurrent runs never add up to more than a service's rate limit.
- One writer of the model and the ranking at a time: every job that writes them carries the tag
  `WRITER_TAG`, and the run queue starts at most one run with it; the others wait in the queue.
  Two refreshes interleaving step by step would otherwise train one run's network on the other's
  scaler, or rank with a model that another run is replacing.

    python -m albumrec_pipeline.instance_config data/dagster_home/dagster.yaml
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

# Tag of every run that writes the model or the ranking (see definitions.py).
WRITER_TAG = {"albumrec/writes": "model_and_ranking"}


def instance_config() -> dict[str, Any]:
    (key, value), = WRITER_TAG.items()
    return {
        "telemetry": {"enabled": False},
        "concurrency": {
            "pools": {"default_limit": 1},
            "runs": {"tag_concurrency_limits": [{"key": key, "value": value, "limit": 1}]},
        },
    }


def write_instance_config(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(instance_config(), sort_keys=False))


if __name__ == "__main__":
    write_instance_config(Path(sys.argv[1]))
