"""Checks on the trained network and its evaluation: held-out accuracy above a floor, and a
cross-validation that is of the current list.

Warnings, not gates: a weak model still ranks albums, and a small or lopsided list can hold
the accuracy down without anything being broken. The figure is on the test artists, which
neither training nor early stopping saw.
"""

import dagster as dg
from pydantic import Field

from albumrec_pipeline.assets.model import EVALUATED_LIST_KEY, LIKED_TRACKS, current_list_fingerprint
from albumrec_pipeline.core.model_artifacts import TrainedPreferenceModel
from albumrec_pipeline.core.previews import rounded
from albumrec_pipeline.recorded import latest_metadata


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
            "test_accuracy": rounded(accuracy),
            "test_roc_auc": rounded(preference_model.metrics.get("test_roc_auc")),
            "min_test_accuracy": config.min_test_accuracy,
        },
    )


@dg.asset_check(
    asset="model_evaluation",
    # Cross-validation is not rerun when the list changes (it takes minutes and feeds nothing):
    # this check follows liked_tracks instead, so a changed list marks the old figures at once.
    additional_deps=[LIKED_TRACKS],
    automation_condition=dg.AutomationCondition.any_deps_updated(),
    description="The cross-validation shown is of the current list (the one liked_tracks last read).",
)
def model_evaluation_of_current_list(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    recorded = latest_metadata(context.instance, "model_evaluation")
    evaluated = str(recorded[EVALUATED_LIST_KEY].value) if recorded and EVALUATED_LIST_KEY in recorded else None
    current = current_list_fingerprint(context.instance)
    if current is None:
        passed, problem = True, None
    elif recorded is None:
        passed, problem = False, "model_evaluation has not been materialized; materialize it to evaluate the current list"
    elif evaluated is None:
        passed, problem = False, "model_evaluation recorded no list, so it may be of another one; materialize it again"
    else:
        passed = evaluated == current
        problem = (
            None
            if passed
            else "the list (or feedback) changed after model_evaluation ran: its figures are of the earlier list; "
            "materialize model_evaluation again"
        )
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=problem,
        metadata={"evaluated_list_sha256": evaluated, "current_list_sha256": current},
    )


model_checks = [preference_model_accuracy_floor, model_evaluation_of_current_list]
