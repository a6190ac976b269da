"""Checks on the trained network and its evaluation: held-out accuracy above a floor, the guard's
comparison with guessing and logistic regression, and a cross-validation that is of the current list.

Warnings, not gates: a weak model still ranks albums, and a small or lopsided list can hold
the accuracy down without anything being broken. The figure is on the test artists, which
neither training nor early stopping saw. The gate on a junk model is preference_model's own
guard (`core.model_guard`), which refuses to store it; the check here shows the comparison the
guard recorded on the stored model.
"""

import dagster as dg
from pydantic import Field

from albumrec_pipeline.assets.model import EVALUATED_LIST_KEY, LIKED_TRACKS, current_list_fingerprint
from albumrec_pipeline.core.model_artifacts import TrainedPreferenceModel
from albumrec_pipeline.core.model_guard import VERDICT_PREFIX
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
    asset="preference_model",
    description="The stored model beats guessing and is not clearly behind logistic regression on the test "
    "artists: the comparison preference_model's guard recorded (a model that fails it is refused, not stored).",
)
def preference_model_beats_baselines(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    recorded = latest_metadata(context.instance, "preference_model") or {}
    figures = {name: value.value for name, value in recorded.items() if name.startswith(VERDICT_PREFIX)}
    verdict = figures.get(f"{VERDICT_PREFIX}passed")
    if verdict is None:
        passed = False
        problem = "preference_model recorded no comparison with guessing and logistic regression; materialize it again"
    else:
        passed = bool(verdict)
        # Stored although it failed: only with the guard disabled (its config `guard: enabled: false`).
        problem = None if passed else f"stored with the model guard disabled: {figures.get(f'{VERDICT_PREFIX}message')}"
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=problem,
        metadata={
            name.removeprefix(VERDICT_PREFIX): value for name, value in figures.items() if name != f"{VERDICT_PREFIX}message"
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


model_checks = [preference_model_accuracy_floor, preference_model_beats_baselines, model_evaluation_of_current_list]
