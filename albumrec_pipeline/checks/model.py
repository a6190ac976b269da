"""Check on the trained network: held-out accuracy above a floor.

A warning, not a gate: a weak model still ranks albums, and a small or lopsided list can hold
the accuracy down without anything being broken. The figure is on the test artists, which
neither training nor early stopping saw.
"""

import dagster as dg
from pydantic import Field

from albumrec_pipeline.core.model_artifacts import TrainedPreferenceModel


class AccuracyFloorConfig(dg.Config):
    min_test_accuracy: float = Field(default=0.6, description="Warn when held-out (test-artist) accuracy is below this.")


@dg.asset_check(asset="preference_model", description="Held-out accuracy on unseen artists at or above a floor.")
def preference_model_accuracy_floor(
    config: AccuracyFloorConfig, preference_model: TrainedPreferenceModel
) -> dg.AssetCheckResult:
    accuracy = preference_model.metrics.get("test_accuracy")
    passed = accuracy is not None and accuracy >= config.min_test_accuracy
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=None
        if passed
        else f"test accuracy {accuracy if accuracy is None else round(accuracy, 3)} is below {config.min_test_accuracy}; "
        "more labelled tracks (from more artists) help most",
        metadata={
            "test_accuracy": None if accuracy is None else float(accuracy),
            "test_roc_auc": preference_model.metrics.get("test_roc_auc"),
            "min_test_accuracy": config.min_test_accuracy,
        },
    )


model_checks = [preference_model_accuracy_floor]
