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
