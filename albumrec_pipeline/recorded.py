"""What the latest materialization of an asset recorded, read back from the Dagster instance.

The liked-list sensor, the checks and `model_evaluation` compare what a run recorded (the list's
fingerprint, the thresholds of a ranking) with what holds now.
"""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg


def latest_metadata(instance: dg.DagsterInstance, asset: dg.AssetKey | str) -> Mapping[str, dg.MetadataValue] | None:
    """The metadata of the asset's latest materialization; None when it was never materialized."""
    event = instance.get_latest_materialization_event(dg.AssetKey.from_coercible(asset))
    if event is None or event.asset_materialization is None:
        return None
    return event.asset_materialization.metadata
