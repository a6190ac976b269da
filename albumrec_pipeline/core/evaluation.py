"""Honest model evaluation: cross-validation grouped by artist, baselines on the same folds.

Every fold's test artists are unseen in training. The network's early stopping uses a
validation split carved, again by artist, out of the fold's training rows only; the fold's
test rows are predicted once, at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix, precision_score, recall_score, roc_curve
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from albumrec_pipeline.core.evaluation_report import EvaluationReport
from albumrec_pipeline.core.explanations import permutation_importance
from albumrec_pipeline.core.feature_columns import LABEL_COLUMN, feature_group
from albumrec_pipeline.core.model_artifacts import TrainedPreferenceModel
from albumrec_pipeline.core.network import PreferenceNet
from albumrec_pipeline.core.scaling import make_scaler
from albumrec_pipeline.core.training import TrainingSettings, classification_metrics, fit_preference_network

GROUPINGS = ("artist", "recording")


@dataclass(frozen=True)
class NetworkRecipe:
    """How the network is built and trained: settings, input scaling and an ensemble of seeds."""

    settings: TrainingSettings = field(default_factory=TrainingSettings)
    scaling: str = "minmax"
    ensemble_size: int = 1
    validation_size: float = 0.2
    # Weight each track by 1 / (its artist's track count) ** artist_weighting: 0 weighs tracks equally,
    # 1 weighs artists equally, so prolific artists do not dominate what "taste" means.
    artist_weighting: float = 0.0
    # After early stopping has found the best epoch count, train again on every row for that many
    # epochs, so the held-out artists also contribute to the final network.
    refit_on_all_rows: bool = False


# The original project's recipe: min-max scaling of every encoded column, one network.
ORIGINAL_RECIPE = NetworkRecipe()

# albumrec's recipe, chosen by artist-grouped cross-validation on the reference data
# (benchmarks/model_quality.py): a piecewise-linear encoding of each numeric feature over four
# training-quantile bins, input dropout, stronger weight decay, tracks weighted by
# 1/sqrt(artist size), early stopping every 2 epochs, then a refit on every training row;
# five such networks (seeds and validation artists differ) averaged.
ALBUMREC_SETTINGS = TrainingSettings(
    input_dropout=0.2, dropout=0.5, weight_decay=1e-2, evaluate_every=2, early_stopping_patience=15
)
ALBUMREC_RECIPE = NetworkRecipe(
    ALBUMREC_SETTINGS, scaling="piecewise:4", ensemble_size=5, artist_weighting=0.5, refit_on_all_rows=True
)


def validation_split(groups: np.ndarray, labels: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (fit, validation), grouped and stratified, about `share` in validation."""
    folds = max(2, round(1 / share))
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    _, validation_index = next(splitter.split(np.zeros(len(labels)), labels, groups))
    validation = np.zeros(len(labels), dtype=bool)
    validation[validation_index] = True
    return ~validation, validation


@dataclass
class FittedNetworkEnsemble:
    """A fold's scaler and the networks trained on its rows. Predictions go through the pipeline's
    own model class, so cross-validation scores the very ensemble averaging the product ships."""

    scaler: object
    model: TrainedPreferenceModel
    histories: list[pd.DataFrame]

    @property
    def networks(self) -> list[PreferenceNet]:
        return self.model.networks

    def like_probability(self, features: np.ndarray) -> np.ndarray:
        return self.model.like_probability(self.scaler.transform(features))


def fit_network(
    features: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray,
    recipe: NetworkRecipe,
    seed: int = 0,
    feature_columns: Sequence[str] = (),
) -> FittedNetworkEnsemble:
    """Scale on all given rows, then train `ensemble_size` networks, each with early stopping on its
    own held-out artists: members differ in seed and in which artists they validate on.
    `feature_columns` names the columns of `features`, for the model's record."""
    scaler = make_scaler(recipe.scaling).fit(features)
    scaled = scaler.transform(features)
    networks, histories = [], []
    for member in range(recipe.ensemble_size):
        fit, validation = validation_split(groups, labels, recipe.validation_size, seed + 7919 * member)
        settings = replace(recipe.settings, seed=recipe.settings.seed + 1000 * member + seed)
        outcome = fit_preference_network(
            scaled[fit], labels[fit], groups[fit],
            scaled[validation], labels[validation], groups[validation],
            settings, recipe.artist_weighting, recipe.refit_on_all_rows,
        )
        networks.append(outcome.network)
        histories.append(outcome.history.assign(member=member))
    model = TrainedPreferenceModel(
        network=networks[0],
        feature_columns=list(feature_columns),
        history=pd.concat(histories, ignore_index=True),
        more_networks=networks[1:],
    )
    return FittedNetworkEnsemble(scaler, model, histories)


def logistic_regression() -> object:
    return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))


def hist_gradient_boosting(seed: int = 0) -> object:
    return HistGradientBoostingClassifier(learning_rate=0.05, max_iter=200, max_leaf_nodes=15, l2_regularization=1.0, random_state=seed)


BASELINES: dict[str, Callable[[], object]] = {
    "logistic_regression": logistic_regression,
    "hist_gradient_boosting": hist_gradient_boosting,
}


@dataclass
class CrossValidationResult:
    predictions: pd.DataFrame  # model, grouping, fold, mbid, label, probability
    seconds: dict[str, float]
    histories: list[pd.DataFrame]
    # Permutation importance of the first network recipe on each artist-grouped fold's held-out rows.
    importances: list[pd.DataFrame] = field(default_factory=list)


def cross_validate_table(
    table: pd.DataFrame,
    network_recipes: dict[str, NetworkRecipe],
    recipe_columns: dict[str, list[str]],
    baseline_columns: list[str],
    folds: int = 5,
    seed: int = 0,
    groupings: tuple[str, ...] = GROUPINGS,
    progress: Callable[[str], None] | None = None,
) -> CrossValidationResult:
    """Out-of-fold predictions of every network recipe and both baselines on identical folds.

    `table` is a cleaned dataset (`mbid`, `artist`, `liked` and feature columns); each recipe
    reads its own columns, the baselines read `baseline_columns`.
    """
    labels = table[LABEL_COLUMN].to_numpy(dtype="int64")
    artists = table["artist"].to_numpy()
    group_of = {"artist": artists, "recording": table["mbid"].to_numpy()}
    matrices = {name: table[columns].to_numpy(dtype="float64") for name, columns in recipe_columns.items()}
    baseline_matrix = table[baseline_columns].to_numpy(dtype="float64")
    frames, seconds, histories, importances = [], {}, [], []
    explained = next(iter(network_recipes), None)
    for grouping in groupings:
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        for fold, (train_index, test_index) in enumerate(splitter.split(baseline_matrix, labels, group_of[grouping])):
            y_train = labels[train_index]
            fitted: dict[str, Callable[[], np.ndarray]] = {}
            for name, recipe in network_recipes.items():
                started = time.perf_counter()
                # Early stopping always holds out whole artists, whatever the outer grouping.
                ensemble = fit_network(
                    matrices[name][train_index], y_train, artists[train_index], recipe, seed=fold,
                    feature_columns=recipe_columns[name],
                )
                seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - started
                fitted[name] = lambda ensemble=ensemble, name=name: ensemble.like_probability(matrices[name][test_index])
                histories += [history.assign(model=name, grouping=grouping, fold=fold) for history in ensemble.histories]
                if name == explained and grouping == "artist" and len(np.unique(labels[test_index])) == 2:
                    importances.append(
                        permutation_importance(
                            ensemble.like_probability, matrices[name][test_index], labels[test_index],
                            recipe_columns[name], seed=fold,
                        ).assign(model=name, fold=fold)
                    )
            for name, factory in BASELINES.items():
                started = time.perf_counter()
                model = factory().fit(baseline_matrix[train_index], y_train)
                seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - started
                fitted[name] = lambda model=model: model.predict_proba(baseline_matrix[test_index])[:, 1]
            for name, predict in fitted.items():
                frames.append(
                    pd.DataFrame(
                        {
                            "model": name,
                            "grouping": grouping,
                            "fold": fold,
                            "mbid": table["mbid"].to_numpy()[test_index],
                            "label": labels[test_index],
                            "probability": predict(),
                        }
                    )
                )
            if progress:
                progress(f"{grouping}-grouped fold {fold + 1}/{folds} done")
    return CrossValidationResult(pd.concat(frames, ignore_index=True), seconds, histories, importances)


def evaluation_report(result: CrossValidationResult) -> EvaluationReport:
    predictions = result.predictions
    return EvaluationReport(
        {
            "summary": summarize_predictions(predictions),
            "predictions": predictions,
            "confusion": confusion_table(predictions),
            "calibration": calibration_table(predictions),
            "roc": roc_table(predictions),
            "training_histories": pd.concat(result.histories, ignore_index=True) if result.histories else pd.DataFrame(),
            "training_seconds": pd.DataFrame({"model": list(result.seconds), "seconds": list(result.seconds.values())}),
            "permutation_importance": permutation_importance_summary(result.importances),
        }
    )


def permutation_importance_summary(importances: list[pd.DataFrame]) -> pd.DataFrame:
    """Mean AUC drop per feature over the folds, largest first, with its feature group."""
    if not importances:
        return pd.DataFrame(columns=["feature", "group", "auc_drop", "auc_drop_std_over_folds", "folds"])
    table = pd.concat(importances, ignore_index=True)
    summary = table.groupby("feature", as_index=False).agg(
        auc_drop=("auc_drop", "mean"), auc_drop_std_over_folds=("auc_drop", "std"), folds=("fold", "nunique")
    )
    summary.insert(1, "group", summary["feature"].map(feature_group))
    return summary.sort_values("auc_drop", ascending=False, ignore_index=True)


def summarize_predictions(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per model and grouping: pooled out-of-fold metrics, and the spread of per-fold AUC."""
    rows = []
    for (model, grouping), part in predictions.groupby(["model", "grouping"], sort=False):
        pooled = classification_metrics(part["label"].to_numpy(), part["probability"].to_numpy())
        decided = (part["probability"] >= 0.5).astype(int)
        per_fold = [
            classification_metrics(fold["label"].to_numpy(), fold["probability"].to_numpy())["roc_auc"]
            for _, fold in part.groupby("fold")
        ]
        rows.append(
            {
                "model": model,
                "grouping": grouping,
                "rows": pooled["rows"],
                "accuracy": pooled["accuracy"],
                "roc_auc": pooled["roc_auc"],
                "log_loss": pooled["log_loss"],
                "precision": precision_score(part["label"], decided, zero_division=0),
                "recall": recall_score(part["label"], decided, zero_division=0),
                "fold_auc_mean": float(np.nanmean(per_fold)),
                "fold_auc_std": float(np.nanstd(per_fold)),
            }
        )
    return pd.DataFrame(rows)


def confusion_table(predictions: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (model, grouping), part in predictions.groupby(["model", "grouping"], sort=False):
        matrix = confusion_matrix(part["label"], (part["probability"] >= 0.5).astype(int), labels=[0, 1])
        for actual in (0, 1):
            for predicted in (0, 1):
                rows.append({"model": model, "grouping": grouping, "actual": actual, "predicted": predicted, "count": int(matrix[actual, predicted])})
    return pd.DataFrame(rows)


def calibration_table(predictions: pd.DataFrame, bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability against the observed liked share, in equal-width bins."""
    edges = np.linspace(0, 1, bins + 1)
    rows = []
    for (model, grouping), part in predictions.groupby(["model", "grouping"], sort=False):
        which = np.clip(np.digitize(part["probability"], edges[1:-1]), 0, bins - 1)
        for index in range(bins):
            inside = part[which == index]
            if len(inside):
                rows.append(
                    {
                        "model": model,
                        "grouping": grouping,
                        "bin_low": edges[index],
                        "bin_high": edges[index + 1],
                        "rows": len(inside),
                        "mean_predicted": float(inside["probability"].mean()),
                        "observed_liked_share": float(inside["label"].mean()),
                    }
                )
    return pd.DataFrame(rows)


def roc_table(predictions: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (model, grouping), part in predictions.groupby(["model", "grouping"], sort=False):
        false_positive, true_positive, _ = roc_curve(part["label"], part["probability"])
        rows.append(pd.DataFrame({"model": model, "grouping": grouping, "false_positive_rate": false_positive, "true_positive_rate": true_positive}))
    return pd.concat(rows, ignore_index=True)
