"""Whether a trained taste model may replace the last good one: it must beat guessing, and not
trail a logistic regression, on the test artists it has never seen.

A list can pass the floors on its size (`core.learnability`) and still teach nothing: the
network then ranks held-out artists no better than a coin, and every candidate album lands near
0.5, so the ranking is noise dressed as advice. `judge_model` compares, on the test split
(artists that neither training nor early stopping saw):

- the network's ROC-AUC with a constant predictor's (0.5): at or below `min_test_roc_auc`
  (0.55) the network is no better than guessing;
- the network's ROC-AUC with that of a logistic regression fitted on the same scaled inputs
  (`core.evaluation.logistic_regression`): a network further behind it than the allowed gap
  learned less than the simplest model could. The gap allowed by default is twice the bootstrap
  standard error of the AUC difference, resampling the test artists (not rows: an artist's
  tracks rise and fall together), so a network level with logistic regression is not refused
  for the luck of a small test split, and one clearly behind it is;
- whether the test split is large enough to judge at all: with fewer than
  `min_test_artists_per_label` artists among its liked and among its disliked tracks, an AUC
  says little either way. Such a model is refused too, never waved through unjudged.

`enforce_model_guard` is the Dagster side: it raises `dg.Failure` with the listener's message
before the asset returns (so the IO manager writes nothing and the last good model, scores and
ranking stay), records the refusal beside the model in the warehouse for `albumrec top`, and
adds the figures to a passing model's metadata.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

import dagster as dg
import numpy as np
from pydantic import Field
from upath import UPath

from albumrec_pipeline.core.evaluation import logistic_regression
from albumrec_pipeline.core.training import roc_auc
from albumrec_pipeline.storage.freshness import REFUSAL_FILE

CONSTANT_ROC_AUC = 0.5
# Bootstrap standard errors of the AUC difference that the network may trail logistic regression by.
SPREAD_MULTIPLIER = 2.0
# The metadata keys of the verdict, on preference_model's materialization (and its check).
VERDICT_PREFIX = "guard_"


@dataclass(frozen=True)
class GuardFloors:
    min_test_roc_auc: float = 0.55
    # None: SPREAD_MULTIPLIER bootstrap standard errors of the AUC difference.
    max_auc_behind_logistic_regression: float | None = None
    min_test_artists_per_label: int = 2
    bootstrap_rounds: int = 1000
    seed: int = 0


@dataclass(frozen=True)
class ModelVerdict:
    passed: bool
    judged: bool  # False: the test split was too small to judge the model
    model_roc_auc: float
    logistic_regression_roc_auc: float
    constant_roc_auc: float
    allowed_gap: float  # how far the network may trail logistic regression
    gap_spread: float  # bootstrap standard error of (network - logistic regression) AUC; NaN if unmeasured
    test_rows: int
    test_artists: int
    test_liked_artists: int
    test_disliked_artists: int
    problems: tuple[str, ...]
    message: str | None  # to the listener; None when the model passed

    def metadata(self) -> dict[str, object]:
        """The figures, rounded to what they mean, under `VERDICT_PREFIX` names."""
        figures = {
            "passed": self.passed,
            "judged": self.judged,
            "model_roc_auc": _rounded(self.model_roc_auc),
            "logistic_regression_roc_auc": _rounded(self.logistic_regression_roc_auc),
            "constant_roc_auc": self.constant_roc_auc,
            "allowed_gap": _rounded(self.allowed_gap),
            "gap_spread": _rounded(self.gap_spread),
            "test_rows": self.test_rows,
            "test_artists": self.test_artists,
            "test_liked_artists": self.test_liked_artists,
            "test_disliked_artists": self.test_disliked_artists,
        }
        return {f"{VERDICT_PREFIX}{name}": value for name, value in figures.items()}


def _rounded(value: float) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), 3)


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    return roc_auc(np.asarray(labels) == 1, np.asarray(scores, dtype="float64"))


def auc_difference_spread(
    labels: np.ndarray, model: np.ndarray, baseline: np.ndarray, artists: np.ndarray, rounds: int, seed: int
) -> float:
    """Bootstrap standard error of AUC(model) - AUC(baseline) on the test rows, resampling artists
    with replacement (every track of a drawn artist comes along, as often as the artist is drawn).
    Resamples holding one label only are skipped; NaN when fewer than half of them hold both."""
    codes, groups = np.unique(np.asarray(artists).astype("str"), return_inverse=True)
    rows_of = [np.flatnonzero(groups == index) for index in range(len(codes))]
    generator = np.random.default_rng(seed)
    differences = []
    for _ in range(rounds):
        drawn = np.concatenate([rows_of[index] for index in generator.integers(0, len(codes), len(codes))])
        difference = _auc(labels[drawn], model[drawn]) - _auc(labels[drawn], baseline[drawn])
        if not math.isnan(difference):
            differences.append(difference)
    if len(differences) < max(2, rounds // 2):
        return math.nan
    return float(np.std(differences, ddof=1))


def judge_model(
    test_probabilities: np.ndarray,
    test_labels: np.ndarray,
    test_artists: np.ndarray,
    train_inputs: np.ndarray,
    train_labels: np.ndarray,
    test_inputs: np.ndarray,
    floors: GuardFloors = GuardFloors(),
) -> ModelVerdict:
    """The verdict on a model from its probabilities on the test rows (with their labels and
    artists), against a constant and a logistic regression fitted on `train_inputs` (the scaled
    rows the network learned from) and scored on `test_inputs` (the test rows, scaled alike)."""
    labels = np.asarray(test_labels, dtype="int64")
    model = np.asarray(test_probabilities, dtype="float64")
    artists = np.asarray(test_artists).astype("str")
    if not len(labels) == len(model) == len(artists) == len(test_inputs):
        raise ValueError("the test probabilities, labels, artists and inputs must have one row each")
    liked_artists = len(set(artists[labels == 1]))
    disliked_artists = len(set(artists[labels == 0]))
    model_auc = _auc(labels, model)
    baseline_auc, baseline = math.nan, np.full(len(labels), 0.5)
    if len(set(np.asarray(train_labels).tolist())) == 2 and len(labels):
        fitted = logistic_regression().fit(train_inputs, np.asarray(train_labels, dtype="int64"))
        baseline = fitted.predict_proba(test_inputs)[:, 1]
        baseline_auc = _auc(labels, baseline)
    enough_artists = min(liked_artists, disliked_artists) >= max(1, floors.min_test_artists_per_label)
    spread = (
        auc_difference_spread(labels, model, baseline, artists, floors.bootstrap_rounds, floors.seed)
        if enough_artists and not math.isnan(baseline_auc)
        else math.nan
    )
    allowed = (
        floors.max_auc_behind_logistic_regression
        if floors.max_auc_behind_logistic_regression is not None
        else SPREAD_MULTIPLIER * spread
    )
    # Judged: enough test artists a side, and a gap to hold the network to (given, or measured).
    judged = enough_artists and not math.isnan(baseline_auc) and not math.isnan(allowed)
    test_artist_count = len(set(artists))
    held_out = f"{test_artist_count} held-out artist{'' if test_artist_count == 1 else 's'}"
    problems = []
    if not enough_artists:
        problems.append(
            f"Your taste model cannot be judged: the artists it has not seen are too few "
            f"({liked_artists} among your liked tracks and {disliked_artists} among your disliked ones held out "
            f"for the test; at least {floors.min_test_artists_per_label} of each are needed), so there is no "
            "telling whether it learned your taste or guesses"
        )
    elif not judged:
        problems.append(
            f"Your taste model cannot be judged: the {held_out} it was tested on are too few, or too alike, to "
            f"compare it with a simple logistic regression (ROC-AUC {model_auc:.2f} against "
            f"{'none' if math.isnan(baseline_auc) else f'{baseline_auc:.2f}'})"
        )
    elif math.isnan(model_auc) or model_auc <= floors.min_test_roc_auc:
        problems.append(
            f"Your taste model does no better than guessing on artists it has not seen (ROC-AUC "
            f"{model_auc:.2f} on {held_out}; guessing scores {CONSTANT_ROC_AUC:.2f}, and more than "
            f"{floors.min_test_roc_auc:.2f} is needed; logistic regression {baseline_auc:.2f})"
        )
    elif baseline_auc - model_auc > allowed:
        problems.append(
            f"Your taste model ranks artists it has not seen clearly worse than a simple logistic regression "
            f"does (ROC-AUC {model_auc:.2f} against {baseline_auc:.2f} on {held_out}; it may trail by "
            f"{allowed:.2f} at most)"
        )
    message = None
    if problems:
        message = (
            f"{problems[0]}. Add liked and disliked tracks from more artists (the more artists, the better the "
            "model can tell your taste from who the artists are), and check that the labels say what you like. "
            "This model was not saved: your previous model and ranking, if you have them, stay in place."
        )
    return ModelVerdict(
        passed=not problems,
        judged=judged,
        model_roc_auc=model_auc,
        logistic_regression_roc_auc=baseline_auc,
        constant_roc_auc=CONSTANT_ROC_AUC,
        allowed_gap=allowed,
        gap_spread=spread,
        test_rows=len(labels),
        test_artists=test_artist_count,
        test_liked_artists=liked_artists,
        test_disliked_artists=disliked_artists,
        problems=tuple(problems),
        message=message,
    )


# ---- Dagster: the guard's config, and its enforcement inside preference_model ----------------


class ModelGuardConfig(dg.Config):
    enabled: bool = Field(
        default=True,
        description="Refuse a model that fails the guard (False: judge and record the figures, never refuse; "
        "the check preference_model_beats_baselines then warns).",
    )
    min_test_roc_auc: float = Field(
        default=0.55,
        description="Refuse a model whose ROC-AUC on the test artists is at or below this (0.5 is guessing).",
    )
    max_auc_behind_logistic_regression: float | None = Field(
        default=None,
        description="Refuse a model whose test ROC-AUC trails logistic regression's by more than this; "
        "None: twice the bootstrap standard error of the difference over the test artists.",
    )
    min_test_artists_per_label: int = Field(
        default=2,
        description="Refuse a model the test split cannot judge: fewer test artists than this among the liked "
        "tracks, or among the disliked ones.",
    )

    def floors(self) -> GuardFloors:
        return GuardFloors(
            min_test_roc_auc=self.min_test_roc_auc,
            max_auc_behind_logistic_regression=self.max_auc_behind_logistic_regression,
            min_test_artists_per_label=self.min_test_artists_per_label,
        )


def write_refusal(warehouse: UPath, verdict: ModelVerdict) -> None:
    """Record a refused model beside the last good one, for `albumrec top` (storage.freshness)."""
    from albumrec_pipeline.storage.atomic import atomic_write_bytes

    record = {"refused_at": time.time(), "message": verdict.message, **verdict.metadata()}
    atomic_write_bytes(warehouse / REFUSAL_FILE, json.dumps(record, indent=1).encode("utf-8"))


def enforce_model_guard(context: dg.AssetExecutionContext, config, model, parts: Mapping, scaled: Mapping) -> None:
    """Judge `model` on preference_model's test split (`config` is its TrainingConfig, `parts` the
    split tables, `scaled` their network inputs). A failing model raises `dg.Failure` with the
    listener's message, so nothing is stored and the last good model and ranking stay; a passing
    one gets the figures in its metadata. Logistic regression learns from the rows the network's
    final fit learned from: train, plus validation when the network was refitted on both."""
    from albumrec_pipeline.core.feature_columns import LABEL_COLUMN

    guard: ModelGuardConfig = config.guard
    learned = ["train", "validation"] if config.refit_on_train_and_validation else ["train"]
    verdict = judge_model(
        model.like_probability(scaled["test"]),
        parts["test"][LABEL_COLUMN].to_numpy(),
        parts["test"]["artist"].to_numpy(),
        np.concatenate([scaled[name] for name in learned]),
        np.concatenate([parts[name][LABEL_COLUMN].to_numpy() for name in learned]),
        scaled["test"],
        guard.floors(),
    )
    figures = {**verdict.metadata(), f"{VERDICT_PREFIX}enabled": guard.enabled}
    if verdict.passed or not guard.enabled:
        if not verdict.passed:
            context.log.warning(f"model guard disabled; this model would have been refused: {verdict.message}")
        context.add_output_metadata({**figures, **({f"{VERDICT_PREFIX}message": verdict.message} if verdict.message else {})})
        return
    # The warehouse the IO manager writes to: where `albumrec top` looks for the refusal.
    warehouse = getattr(getattr(context.resources, "io_manager", None), "warehouse", None)
    if warehouse is not None:
        write_refusal(UPath(warehouse), verdict)
    raise dg.Failure(description=verdict.message, metadata=figures, allow_retries=False)
