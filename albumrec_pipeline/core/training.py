"""Training the preference network: whole-tensor batches, early stopping on validation loss."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import log_loss, roc_auc_score
from torch import nn

from albumrec_pipeline.core.network import ORIGINAL_HIDDEN_SIZES, PreferenceNet


@dataclass(frozen=True)
class TrainingSettings:
    epochs: int = 1000
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    evaluate_every: int = 10
    # Stop after this many evaluations without a better validation loss; 0 trains every epoch.
    early_stopping_patience: int = 10
    hidden_sizes: tuple[int, ...] = ORIGINAL_HIDDEN_SIZES
    dropout: float = 0.2
    seed: int = 0


@dataclass
class TrainingOutcome:
    network: PreferenceNet
    history: pd.DataFrame
    best_epoch: int
    epochs_run: int
    seconds: float
    notes: list[str] = field(default_factory=list)


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Accuracy at 0.5, ROC-AUC (NaN when one class is absent) and log loss."""
    labels = np.asarray(labels, dtype="int64")
    probabilities = np.clip(np.asarray(probabilities, dtype="float64"), 1e-7, 1 - 1e-7)
    both_classes = len(np.unique(labels)) == 2
    return {
        "rows": int(len(labels)),
        "accuracy": float(np.mean((probabilities >= 0.5) == labels)) if len(labels) else math.nan,
        "roc_auc": float(roc_auc_score(labels, probabilities)) if both_classes else math.nan,
        "log_loss": float(log_loss(labels, probabilities, labels=[0, 1])) if len(labels) else math.nan,
    }


def _as_tensors(features: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    # Copies: the arrays may be read-only views of pandas data, and the tensors live for the whole run.
    return (
        torch.tensor(np.asarray(features), dtype=torch.float32),
        torch.tensor(np.asarray(labels), dtype=torch.float32),
    )


@contextmanager
def single_threaded_torch() -> Iterator[None]:
    """Batches of 32 rows through a 110x64 layer are far too small to split across cores:
    with two threads each step waits on synchronisation and runs several times slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def train_step(
    network: PreferenceNet, optimizer: torch.optim.Optimizer, loss_fn: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> float:
    """One optimiser step on one batch; returns the batch loss."""
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(network(x), y)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def train_preference_network(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_validation: np.ndarray,
    y_validation: np.ndarray,
    settings: TrainingSettings,
    progress: Callable[[str], None] | None = None,
) -> TrainingOutcome:
    """Train with Adam and binary cross-entropy, keeping the weights of the best validation loss.

    The validation rows come from artists the network never trains on, so early stopping picks
    the epoch that generalises to new artists; the test split is not looked at here.
    """
    with single_threaded_torch():
        return _train(x_train, y_train, x_validation, y_validation, settings, progress)


def _train(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_validation: np.ndarray,
    y_validation: np.ndarray,
    settings: TrainingSettings,
    progress: Callable[[str], None] | None,
) -> TrainingOutcome:
    started = time.perf_counter()
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    xt, yt = _as_tensors(x_train, y_train)
    xv, yv = _as_tensors(x_validation, y_validation)
    network = PreferenceNet(xt.shape[1], settings.hidden_sizes, settings.dropout)
    optimizer = torch.optim.Adam(network.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    # BCE on logits is the numerically stable form of sigmoid + BCELoss.
    loss_fn = nn.BCEWithLogitsLoss()
    rows = xt.shape[0]
    history = []
    best_loss, best_epoch, best_state = math.inf, 0, copy.deepcopy(network.state_dict())
    evaluations_without_gain = 0
    notes = []
    epoch = 0
    for epoch in range(1, settings.epochs + 1):
        network.train()
        order = torch.randperm(rows, generator=generator)
        epoch_loss = 0.0
        for start in range(0, rows, settings.batch_size):
            batch = order[start : start + settings.batch_size]
            epoch_loss += train_step(network, optimizer, loss_fn, xt[batch], yt[batch]) * len(batch)
        if epoch % settings.evaluate_every and epoch != settings.epochs:
            continue
        train_metrics = classification_metrics(y_train, network.like_probability(xt).numpy())
        validation_metrics = classification_metrics(y_validation, network.like_probability(xv).numpy())
        history.append(
            {
                "epoch": epoch,
                "epoch_train_loss": epoch_loss / rows,
                "train_loss": train_metrics["log_loss"],
                "train_accuracy": train_metrics["accuracy"],
                "validation_loss": validation_metrics["log_loss"],
                "validation_accuracy": validation_metrics["accuracy"],
                "validation_roc_auc": validation_metrics["roc_auc"],
            }
        )
        if progress:
            progress(
                f"epoch {epoch}/{settings.epochs}: train loss {train_metrics['log_loss']:.4f} "
                f"acc {train_metrics['accuracy']:.3f} | validation loss {validation_metrics['log_loss']:.4f} "
                f"acc {validation_metrics['accuracy']:.3f}"
            )
        if validation_metrics["log_loss"] < best_loss - 1e-4:
            best_loss, best_epoch = validation_metrics["log_loss"], epoch
            best_state = copy.deepcopy(network.state_dict())
            evaluations_without_gain = 0
        else:
            evaluations_without_gain += 1
        if settings.early_stopping_patience and evaluations_without_gain >= settings.early_stopping_patience:
            notes.append(
                f"stopped early at epoch {epoch}: no better validation loss for "
                f"{evaluations_without_gain} evaluations; kept epoch {best_epoch}"
            )
            break
    network.load_state_dict(best_state)
    network.eval()
    return TrainingOutcome(
        network=network,
        history=pd.DataFrame(history),
        best_epoch=best_epoch,
        epochs_run=epoch,
        seconds=time.perf_counter() - started,
        notes=notes,
    )
