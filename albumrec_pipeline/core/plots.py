"""Figures for asset metadata."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # no display on servers and in tests

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def training_curves_figure(history: pd.DataFrame, best_epoch: int) -> Figure:
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(9, 3.2))
    loss_axes.plot(history["epoch"], history["train_loss"], label="train")
    loss_axes.plot(history["epoch"], history["validation_loss"], label="validation")
    loss_axes.set_title("log loss")
    accuracy_axes.plot(history["epoch"], history["train_accuracy"], label="train")
    accuracy_axes.plot(history["epoch"], history["validation_accuracy"], label="validation")
    accuracy_axes.set_title("accuracy")
    for axes in (loss_axes, accuracy_axes):
        axes.axvline(best_epoch, color="grey", linestyle="--", linewidth=1, label="kept")
        axes.set_xlabel("epoch")
        axes.legend(fontsize=8)
    figure.tight_layout()
    return figure


def _per_model_figure(table: pd.DataFrame, grouping: str, x: str, y: str, title: str, xlabel: str, ylabel: str, **style) -> Figure:
    """One line per model for one grouping, against the diagonal a useless (ROC) or perfectly
    calibrated model would draw."""
    figure, axes = plt.subplots(figsize=(4.5, 4))
    for model, part in table[table["grouping"] == grouping].groupby("model", sort=False):
        axes.plot(part[x], part[y], label=model, **style)
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    axes.set(title=f"{title}, {grouping}-grouped CV", xlabel=xlabel, ylabel=ylabel)
    axes.legend(fontsize=8)
    figure.tight_layout()
    return figure


def roc_figure(roc: pd.DataFrame, grouping: str = "artist") -> Figure:
    return _per_model_figure(
        roc, grouping, "false_positive_rate", "true_positive_rate", "ROC", "false positive rate", "true positive rate"
    )


def calibration_figure(calibration: pd.DataFrame, grouping: str = "artist") -> Figure:
    return _per_model_figure(
        calibration, grouping, "mean_predicted", "observed_liked_share", "calibration",
        "mean predicted", "observed liked share", marker="o", markersize=3,
    )


def fold_loss_curves_figure(histories: pd.DataFrame, grouping: str = "artist") -> Figure:
    figure, axes = plt.subplots(figsize=(6, 3.5))
    chosen = histories[(histories["grouping"] == grouping) & (histories.get("phase", "early_stopping") == "early_stopping")]
    for (model, fold), part in chosen.groupby(["model", "fold"], sort=False):
        axes.plot(part["epoch"], part["validation_loss"], linewidth=1, label=f"{model} fold {fold}" if fold == 0 else None)
    axes.set(title="validation loss per fold (early stopping)", xlabel="epoch", ylabel="log loss")
    axes.legend(fontsize=8)
    figure.tight_layout()
    return figure


def album_scores_figure(histogram: pd.DataFrame, liked_song_threshold: float, recommendation_threshold: float) -> Figure:
    """Albums by mean score and by predicted liked share, recommended ones in colour.

    `histogram`: `measure` (mean_score or predicted_liked_share), `bin_start`, `bin_width`,
    `recommended`, `albums`. The decision is taken on the predicted liked share, so that is where the
    recommendation threshold is drawn; the mean-score panel marks the probability at which a
    track counts as liked.
    """
    figure, panels = plt.subplots(1, 2, figsize=(9, 3.2))
    lines = {
        "mean_score": (liked_song_threshold, "a track counts as liked", "album mean score (like-probability)"),
        "predicted_liked_share": (recommendation_threshold, "recommendation threshold", "predicted liked share"),
    }
    for axes, (measure, (threshold, meaning, xlabel)) in zip(panels, lines.items(), strict=True):
        part = histogram[histogram["measure"] == measure]
        bottom = None
        for recommended, colour, name in ((False, "#b0b0b0", "not recommended"), (True, "#2a7ab9", "recommended")):
            bars = part[part["recommended"] == recommended].set_index("bin_start")["albums"]
            index = sorted(set(part["bin_start"]))
            heights = bars.reindex(index, fill_value=0)
            width = float(part["bin_width"].iloc[0]) if len(part) else 0.025
            axes.bar(index, heights.to_numpy(), width=width, align="edge", color=colour, label=name,
                     bottom=None if bottom is None else bottom.to_numpy())
            bottom = heights if bottom is None else bottom + heights
        axes.axvline(threshold, color="#d62728", linestyle="--", linewidth=1.2, label=f"{meaning} ({threshold:g})")
        axes.set(xlabel=xlabel, ylabel="albums", xlim=(0, 1))
        axes.legend(fontsize=7)
    figure.tight_layout()
    return figure


def group_importance_figure(importance: pd.DataFrame, labels: dict[str, str] | None = None) -> Figure:
    """Permutation importance added up per feature group: how much ROC-AUC drops, on unseen artists,
    when that family's features are shuffled one at a time."""
    totals = importance.groupby("group")["auc_drop"].sum().sort_values()
    figure, axes = plt.subplots(figsize=(8, 0.9 + 0.45 * max(len(totals), 1)))
    names = [(labels or {}).get(group, group) for group in totals.index]
    axes.barh(names, totals.to_numpy(), color=["#2a7ab9" if value >= 0 else "#b0b0b0" for value in totals])
    axes.axvline(0, color="grey", linewidth=0.8)
    axes.set(xlabel="ROC-AUC drop when shuffled (sum over the group's features)", title="permutation importance by feature group")
    figure.tight_layout()
    return figure


def album_lifts_figure(lifts: pd.DataFrame, titles: list[str], features: int = 4) -> Figure:
    """One small bar chart per album (rows of `lifts`, in order): the features that lifted its
    tracks' scores most. `lifts`: albums x features, columns already in words."""
    count = max(len(lifts), 1)
    # One x scale for all: the albums' lifts compare at a glance.
    figure, panels = plt.subplots(count, 1, figsize=(7.5, 1.15 * count + 0.4), squeeze=False, sharex=True)
    for axes, title, (_, row) in zip(panels[:, 0], titles, lifts.iterrows(), strict=False):
        strongest = row.sort_values(ascending=False).head(features)[::-1]
        axes.barh([str(name) for name in strongest.index], strongest.to_numpy(),
                  color=["#2a7ab9" if value > 0 else "#b0b0b0" for value in strongest])
        axes.set_title(title, fontsize=9, loc="left")
        axes.tick_params(labelsize=7)
    panels[-1, 0].set_xlabel("lift of the like-logit (gradient x input vs. an average training track)", fontsize=8)
    figure.tight_layout()
    return figure
