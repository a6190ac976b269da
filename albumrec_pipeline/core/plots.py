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
