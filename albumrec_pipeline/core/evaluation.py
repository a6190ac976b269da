"""Honest model evaluation: cross-validation grouped by artist, baselines on the same folds.

Every fold's test artists are unseen in training. The network's early stopping uses a
validation split carved, again by artist, out of the fold's training rows only; the fold's
test rows are predicted once, at the end. A model's genre-tag vocabulary is fitted on the
fold's training rows only, like its scaling.

Artist pooling: labels are nearly pure per artist, and an artist's tracks are scored together
(an album, a candidate catalog), so a track's score can be pooled with its artist's other tracks
in the same scored set: `(1 - w) * own + w * artist mean`. It uses their features, never their
labels. Summaries report each model with the pooling the product uses, and without it.
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
from albumrec_pipeline.core.model_artifacts import FittedScaler, TrainedPreferenceModel
from albumrec_pipeline.core.network import PreferenceNet
from albumrec_pipeline.core.tags import TAG_TEXT_COLUMNS, TAGS_FEATURE, TagVocabulary
from albumrec_pipeline.core.training import (
    EnsembleTraining,
    TrainingSettings,
    classification_metrics,
    single_threaded,
    train_ensemble,
)

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


@dataclass(frozen=True)
class ModelInputs:
    """What a model reads: encoded feature columns, and whether genre tags are added to them."""

    columns: tuple[str, ...]
    tags: bool = False
    # A tag term becomes an input when at least this many training artists carry it.
    min_tag_artists: int = 2

    @classmethod
    def of(cls, given: ModelInputs | Sequence[str]) -> ModelInputs:
        return given if isinstance(given, ModelInputs) else cls(tuple(given))

    def vocabulary(self, rows: pd.DataFrame, artists: np.ndarray) -> TagVocabulary | None:
        return TagVocabulary.fit(rows, artists, self.min_tag_artists) if self.tags else None

    def read(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The columns of `rows` these inputs are made from (tag text columns that are present)."""
        text = [column for column in TAG_TEXT_COLUMNS if self.tags and column in rows]
        return rows[list(self.columns) + text]


# The product's artist pooling weight (see the module docstring), chosen on the reference data.
ARTIST_POOLING = 0.7


def pool_by_artist(probabilities: np.ndarray, artists: Sequence[object], weight: float) -> np.ndarray:
    """`(1 - weight) * own + weight * mean over the same artist's rows`; rows without an artist keep their own."""
    probabilities = np.asarray(probabilities, dtype="float64")
    if weight <= 0 or not len(probabilities):
        return probabilities
    keys = pd.Series(list(artists), dtype="object")
    means = pd.Series(probabilities).groupby(keys.to_numpy(), dropna=True).transform("mean").to_numpy(dtype="float64")
    known = keys.notna().to_numpy() & np.isfinite(means)
    return np.where(known, (1 - weight) * probabilities + weight * means, probabilities)


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
    """A fold's scaler (with its tag vocabulary) and the networks trained on its rows. Predictions go
    through the pipeline's own classes, so cross-validation scores what the product ships."""

    scaler: FittedScaler
    model: TrainedPreferenceModel
    training: EnsembleTraining
    # The labels of the rows early stopping watched (the fold's validation artists).
    validation_labels: np.ndarray

    @property
    def networks(self) -> list[PreferenceNet]:
        return self.model.networks

    @property
    def histories(self) -> list[pd.DataFrame]:
        return self.training.histories

    def validation_liked_probability(self) -> np.ndarray:
        """The early-stopped ensemble's probabilities of the validation artists' liked tracks: what
        the liked-only mode estimates its label frequency from (`core.liked_only.label_frequency`)."""
        return self.training.validation_probability()[self.validation_labels == 1]

    def like_probability(self, rows: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Like-probabilities of rows holding the feature columns (a bare array is read as them, in
        order) and, for a model with tags, the raw tag text columns."""
        if isinstance(rows, np.ndarray):
            rows = pd.DataFrame(rows, columns=self.scaler.feature_columns)
        return self.model.like_probability(self.scaler.transform(rows))


def fit_network(
    rows: pd.DataFrame | np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray,
    recipe: NetworkRecipe,
    seed: int = 0,
    feature_columns: Sequence[str] | ModelInputs = (),
) -> FittedNetworkEnsemble:
    """Train as `preference_model` does, on the given rows: hold out `validation_size` of the
    artists (`groups`) for early stopping, fit the scaling and the tag vocabulary on the other
    rows only, then `train_ensemble`. `feature_columns` says what the model reads; a bare array of
    `rows` is read as those columns, in order."""
    inputs = ModelInputs.of(feature_columns)
    if isinstance(rows, np.ndarray):
        rows = pd.DataFrame(rows, columns=list(inputs.columns))
    labels, groups = np.asarray(labels), np.asarray(groups)
    fit, validation = validation_split(groups, labels, recipe.validation_size, seed)
    fit_rows = rows[fit]
    scaler = FittedScaler.fit(fit_rows[list(inputs.columns)], recipe.scaling, inputs.vocabulary(fit_rows, groups[fit]))
    scaled = scaler.transform(rows)
    training = train_ensemble(
        scaled[fit], labels[fit], groups[fit],
        scaled[validation], labels[validation], groups[validation],
        replace(recipe.settings, seed=recipe.settings.seed + seed),
        recipe.ensemble_size, recipe.artist_weighting, recipe.refit_on_all_rows,
    )
    networks = training.networks
    model = TrainedPreferenceModel(
        network=networks[0],
        feature_columns=list(inputs.columns),
        history=training.history,
        input_names=scaler.input_names,
        more_networks=networks[1:],
        feature_schema=scaler.feature_schema,
        scaler=scaler,
    )
    return FittedNetworkEnsemble(scaler, model, training, labels[validation])


def baseline_matrix(
    train_rows: pd.DataFrame, train_artists: np.ndarray, rows: pd.DataFrame, inputs: ModelInputs
) -> tuple[np.ndarray, np.ndarray]:
    """A baseline's (train, rows) matrices: the feature columns, then multi-hot tags over a
    vocabulary fitted on the training rows only."""
    train = train_rows[list(inputs.columns)].to_numpy(dtype="float64")
    other = rows[list(inputs.columns)].to_numpy(dtype="float64")
    vocabulary = inputs.vocabulary(train_rows, train_artists)
    if vocabulary is None:
        return train, other
    return np.hstack([train, vocabulary.encode(train_rows)]), np.hstack([other, vocabulary.encode(rows)])


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
    predictions: pd.DataFrame  # model, grouping, fold, mbid, artist, label, probability
    seconds: dict[str, float]
    histories: list[pd.DataFrame]
    # Permutation importance of the first network recipe on each artist-grouped fold's held-out rows.
    importances: list[pd.DataFrame] = field(default_factory=list)


def cross_validate_table(
    table: pd.DataFrame,
    network_recipes: dict[str, NetworkRecipe],
    recipe_columns: dict[str, Sequence[str] | ModelInputs],
    baseline_columns: Sequence[str] | ModelInputs,
    folds: int = 5,
    seed: int = 0,
    groupings: tuple[str, ...] = GROUPINGS,
    progress: Callable[[str], None] | None = None,
    baselines: Sequence[str] = tuple(BASELINES),
) -> CrossValidationResult:
    """Out-of-fold predictions of every network recipe and the baselines on identical folds.

    `table` is a cleaned dataset (`mbid`, `artist`, `liked`, feature columns and, for models with
    tags, the raw tag text columns); each recipe reads its own inputs, the baselines read
    `baseline_columns`. Tag vocabularies and scalings are fitted on each fold's training rows.
    """
    labels = table[LABEL_COLUMN].to_numpy(dtype="int64")
    artists = table["artist"].to_numpy()
    group_of = {"artist": artists, "recording": table["mbid"].to_numpy()}
    inputs = {name: ModelInputs.of(columns) for name, columns in recipe_columns.items()}
    baseline_inputs = ModelInputs.of(baseline_columns)
    frames, seconds, histories, importances = [], {}, [], []
    explained = next(iter(network_recipes), None)
    for grouping in groupings:
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        for fold, (train_index, test_index) in enumerate(splitter.split(np.zeros(len(labels)), labels, group_of[grouping])):
            y_train = labels[train_index]
            train_rows, test_rows = table.iloc[train_index], table.iloc[test_index]
            fitted: dict[str, Callable[[], np.ndarray]] = {}
            for name, recipe in network_recipes.items():
                started = time.perf_counter()
                # Early stopping always holds out whole artists, whatever the outer grouping.
                ensemble = fit_network(
                    inputs[name].read(train_rows), y_train, artists[train_index], recipe, seed=fold, feature_columns=inputs[name]
                )
                seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - started
                fitted[name] = lambda ensemble=ensemble, name=name: ensemble.like_probability(inputs[name].read(test_rows))
                histories += [history.assign(model=name, grouping=grouping, fold=fold) for history in ensemble.histories]
                if name == explained and grouping == "artist" and len(np.unique(labels[test_index])) == 2:
                    # Hundreds of small predictions: a second thread only makes each one wait.
                    with single_threaded():
                        importance = permutation_importance_of(ensemble, inputs[name], test_rows, labels[test_index], fold)
                    importances.append(importance.assign(model=name, fold=fold))
            if baselines:
                train_matrix, test_matrix = baseline_matrix(train_rows, artists[train_index], test_rows, baseline_inputs)
            for name in baselines:
                started = time.perf_counter()
                model = BASELINES[name]().fit(train_matrix, y_train)
                seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - started
                fitted[name] = lambda model=model, test_matrix=test_matrix: model.predict_proba(test_matrix)[:, 1]
            for name, predict in fitted.items():
                frames.append(
                    pd.DataFrame(
                        {
                            "model": name,
                            "grouping": grouping,
                            "fold": fold,
                            "mbid": table["mbid"].to_numpy()[test_index],
                            "artist": artists[test_index],
                            "label": labels[test_index],
                            "probability": predict(),
                        }
                    )
                )
            if progress:
                progress(f"{grouping}-grouped fold {fold + 1}/{folds} done")
    return CrossValidationResult(pd.concat(frames, ignore_index=True), seconds, histories, importances)


def permutation_importance_of(
    ensemble: FittedNetworkEnsemble, inputs: ModelInputs, rows: pd.DataFrame, labels: np.ndarray, seed: int
) -> pd.DataFrame:
    """Permutation importance of each feature column and, for a model with tags, of the tags as one
    feature (every row's tag text shuffled together)."""
    columns = list(inputs.columns)
    text = rows[[column for column in TAG_TEXT_COLUMNS if inputs.tags and column in rows]].reset_index(drop=True)
    names = columns + ([TAGS_FEATURE] if len(text.columns) else [])
    codes = np.arange(len(rows), dtype="float64")[:, None]

    def predict(matrix: np.ndarray) -> np.ndarray:
        frame = pd.DataFrame(matrix[:, : len(columns)], columns=columns)
        if len(text.columns):
            # The last column holds row numbers; shuffling it hands each row another row's tags.
            frame = pd.concat([frame, text.iloc[matrix[:, -1].astype("int64")].reset_index(drop=True)], axis=1)
        return ensemble.like_probability(frame)

    matrix = rows[columns].to_numpy(dtype="float64")
    if len(text.columns):
        matrix = np.hstack([matrix, codes])
    return permutation_importance(predict, matrix, labels, names, seed=seed)


def evaluation_report(result: CrossValidationResult, artist_pooling: float = ARTIST_POOLING) -> EvaluationReport:
    predictions = result.predictions
    return EvaluationReport(
        {
            "summary": summary_with_own_scores(predictions, artist_pooling),
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


def pooled(predictions: pd.DataFrame, weight: float) -> pd.DataFrame:
    """`predictions` with each fold's probabilities pooled by artist (`pool_by_artist`)."""
    if weight <= 0 or "artist" not in predictions:
        return predictions
    probability = predictions["probability"].to_numpy(dtype="float64").copy()
    for _, index in predictions.groupby(["model", "grouping", "fold"], sort=False).indices.items():
        probability[index] = pool_by_artist(probability[index], predictions["artist"].to_numpy()[index], weight)
    return predictions.assign(probability=probability)


def summary_with_own_scores(predictions: pd.DataFrame, artist_pooling: float) -> pd.DataFrame:
    """One row per model and grouping: metrics of the scores as the product pools them, then the
    accuracy and ROC-AUC of each track's own, unpooled score (`own_accuracy`, `own_roc_auc`)."""
    summary = summarize_predictions(predictions, artist_pooling)
    own = summarize_predictions(predictions, 0.0)[["model", "grouping", "accuracy", "roc_auc"]]
    return summary.merge(own.rename(columns={"accuracy": "own_accuracy", "roc_auc": "own_roc_auc"}), on=["model", "grouping"])


def summarize_predictions(predictions: pd.DataFrame, artist_pooling: float = 0.0) -> pd.DataFrame:
    """Per model and grouping: out-of-fold metrics over all folds' rows, and the spread of per-fold
    AUC; with `artist_pooling`, of probabilities pooled by artist within each fold."""
    predictions = pooled(predictions, artist_pooling)
    rows = []
    for (model, grouping), part in predictions.groupby(["model", "grouping"], sort=False):
        overall = classification_metrics(part["label"].to_numpy(), part["probability"].to_numpy())
        decided = (part["probability"] >= 0.5).astype(int)
        per_fold = [
            classification_metrics(fold["label"].to_numpy(), fold["probability"].to_numpy())["roc_auc"]
            for _, fold in part.groupby("fold")
        ]
        rows.append(
            {
                "model": model,
                "grouping": grouping,
                "artist_pooling": artist_pooling,
                "rows": overall["rows"],
                "accuracy": overall["accuracy"],
                "roc_auc": overall["roc_auc"],
                "log_loss": overall["log_loss"],
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
