"""Training the preference network: whole-tensor batches, early stopping on validation loss."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

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
    input_dropout: float = 0.0
    # Standard deviation of Gaussian noise added to each training batch's (scaled) inputs.
    input_noise: float = 0.0
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
    network: PreferenceNet,
    optimizer: torch.optim.Optimizer,
    loss_fn: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    weights: torch.Tensor | None = None,
) -> float:
    """One optimiser step on one batch; returns the batch loss."""
    optimizer.zero_grad(set_to_none=True)
    losses = loss_fn(network(x), y)
    loss = losses.mean() if weights is None else (losses * weights).sum() / weights.sum()
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
    sample_weights: np.ndarray | None = None,
) -> TrainingOutcome:
    """Train with Adam and binary cross-entropy, keeping the weights of the best validation loss.

    The validation rows come from artists the network never trains on, so early stopping picks
    the epoch that generalises to new artists; the test split is not looked at here.
    """
    with single_threaded_torch():
        return _train(x_train, y_train, x_validation, y_validation, settings, progress, sample_weights)


def _train(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_validation: np.ndarray,
    y_validation: np.ndarray,
    settings: TrainingSettings,
    progress: Callable[[str], None] | None,
    sample_weights: np.ndarray | None,
) -> TrainingOutcome:
    started = time.perf_counter()
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    xt, yt = _as_tensors(x_train, y_train)
    xv, yv = _as_tensors(x_validation, y_validation)
    wt = None if sample_weights is None else torch.tensor(np.asarray(sample_weights), dtype=torch.float32)
    network = PreferenceNet(xt.shape[1], settings.hidden_sizes, settings.dropout, settings.input_dropout)
    # The fused CPU kernel updates every parameter in one call instead of a dozen small ones.
    optimizer = torch.optim.Adam(
        network.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay, fused=True
    )
    # BCE on logits is the numerically stable form of sigmoid + BCELoss.
    loss_fn = nn.BCEWithLogitsLoss(reduction="none")
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
            inputs = xt[batch]
            if settings.input_noise:
                inputs = inputs + settings.input_noise * torch.randn(inputs.shape, generator=generator)
            weights = None if wt is None else wt[batch]
            epoch_loss += train_step(network, optimizer, loss_fn, inputs, yt[batch], weights) * len(batch)
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


def artist_weights(artists: np.ndarray, power: float) -> np.ndarray | None:
    """Per-track weights of 1 / (tracks by the same artist) ** power, averaging 1.

    0 weighs tracks equally; 1 weighs artists equally. Labels are nearly pure per artist, so
    without this an artist with sixty tracks teaches the network sixty times the same lesson.
    """
    if not power:
        return None
    artists = pd.Series(np.asarray(artists))
    weights = artists.map(artists.value_counts()).to_numpy(dtype="float64") ** -power
    return weights / weights.mean()


def fit_preference_network(
    x_fit: np.ndarray,
    y_fit: np.ndarray,
    artists_fit: np.ndarray,
    x_validation: np.ndarray,
    y_validation: np.ndarray,
    artists_validation: np.ndarray,
    settings: TrainingSettings,
    artist_weighting: float = 0.0,
    refit_on_all_rows: bool = False,
    progress: Callable[[str], None] | None = None,
) -> TrainingOutcome:
    """Early stopping on the validation artists; then, optionally, a fresh network trained on the
    fit and validation rows together for the number of epochs early stopping chose, so the
    validation artists also teach the final network. No test rows are involved."""
    outcome = train_preference_network(
        x_fit, y_fit, x_validation, y_validation, settings, progress, artist_weights(artists_fit, artist_weighting)
    )
    if not refit_on_all_rows:
        return outcome
    refit_settings = replace(settings, epochs=max(outcome.best_epoch, 1), early_stopping_patience=0)
    refit = train_preference_network(
        np.concatenate([x_fit, x_validation]),
        np.concatenate([y_fit, y_validation]),
        x_validation,
        y_validation,
        refit_settings,
        progress,
        artist_weights(np.concatenate([artists_fit, artists_validation]), artist_weighting),
    )
    refit.notes = outcome.notes + [
        f"retrained on training and validation rows for {refit_settings.epochs} epochs (the early-stopping choice)"
    ]
    refit.best_epoch = outcome.best_epoch
    refit.history = pd.concat([outcome.history.assign(phase="early_stopping"), refit.history.assign(phase="refit")], ignore_index=True)
    refit.seconds += outcome.seconds
    return refit
