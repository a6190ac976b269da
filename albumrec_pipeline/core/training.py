"""Training the preference network: Adam on binary cross-entropy, early stopping on validation loss.

Two engines run the same training loop. The default, `numpy`, writes PreferenceNet's forward and
backward pass out in NumPy on buffers allocated once, and updates every parameter with torch's
fused Adam kernel in one call on a single flat tensor. A step of 32 rows through this small network
is some forty tiny array operations: NumPy spends about a microsecond on each where torch spends
several, plus autograd's graph bookkeeping, so a step costs about a quarter of autograd's. The
trained result is the same `PreferenceNet` module either way. The `autograd` engine is the
textbook loop: it trains any network the NumPy pass does not know, and the tests check the NumPy
pass against it.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits
from torch import nn

from albumrec_pipeline.core.network import ORIGINAL_HIDDEN_SIZES, PreferenceNet

ENGINES = ("numpy", "autograd")


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
    # "numpy" (the hand-written pass; falls back to autograd for a network it does not know) or "autograd".
    engine: str = "numpy"


@dataclass
class TrainingOutcome:
    network: PreferenceNet
    history: pd.DataFrame
    best_epoch: int
    epochs_run: int
    seconds: float
    # The engine that actually trained the network (see ENGINES).
    engine: str
    notes: list[str] = field(default_factory=list)
    # The early-stopped network's probabilities for the validation rows: held-out predictions even
    # when the final network was retrained on those rows (see `fit_preference_network`).
    validation_probability: np.ndarray | None = None


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Accuracy at 0.5, ROC-AUC (NaN when one class is absent) and log loss of 0/1 labels.

    The same values as scikit-learn's `roc_auc_score` and `log_loss`, computed directly: training
    evaluates twice every few epochs, and scikit-learn's input validation made those calls take
    longer than the training epochs between them.
    """
    labels = np.asarray(labels, dtype="int64")
    probabilities = np.clip(np.asarray(probabilities, dtype="float64"), 1e-7, 1 - 1e-7)
    if len(labels) != len(probabilities):
        raise ValueError(f"{len(labels)} labels but {len(probabilities)} probabilities")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    if not len(labels):
        return {"rows": 0, "accuracy": math.nan, "roc_auc": math.nan, "log_loss": math.nan}
    liked = labels == 1
    return {
        "rows": int(len(labels)),
        "accuracy": float(np.mean((probabilities >= 0.5) == liked)),
        "roc_auc": roc_auc(liked, probabilities),
        "log_loss": float(-np.mean(np.where(liked, np.log(probabilities), np.log1p(-probabilities)))),
    }


def roc_auc(liked: np.ndarray, scores: np.ndarray) -> float:
    """The area under the ROC curve as the Mann-Whitney statistic: the chance that a liked row
    outscores a disliked one, ties counting half (average ranks). NaN when one class is absent."""
    positives = int(liked.sum())
    negatives = len(liked) - positives
    if not positives or not negatives:
        return math.nan
    _, tie_group, tie_counts = np.unique(scores, return_inverse=True, return_counts=True)
    ends = np.cumsum(tie_counts)
    average_ranks = ends - (tie_counts - 1) / 2
    rank_sum = average_ranks[tie_group][liked].sum()
    return float((rank_sum - positives * (positives + 1) / 2) / (positives * negatives))


@contextmanager
def single_threaded() -> Iterator[None]:
    """Batches of 32 rows through a 110x64 layer are far too small to split across cores: with
    two threads each step waits on synchronisation and runs several times slower, and more so
    when another process holds the other core. Applies to torch and to NumPy's BLAS."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
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
    """One autograd optimiser step on one batch; returns the batch loss."""
    optimizer.zero_grad(set_to_none=True)
    losses = loss_fn(network(x), y)
    loss = losses.mean() if weights is None else (losses * weights).sum() / weights.sum()
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def batch_bounds(rows: int, batch_size: int) -> list[tuple[int, int]]:
    return [(start, min(start + batch_size, rows)) for start in range(0, rows, batch_size)]


class AutogradEngine:
    """Batches of shuffled rows through the module, autograd, fused Adam."""

    name = "autograd"

    def __init__(
        self, network: PreferenceNet, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None, settings: TrainingSettings
    ):
        self.network = network
        self.settings = settings
        self.generator = torch.Generator().manual_seed(settings.seed)
        # Copies: the arrays may be read-only views of pandas data, and the tensors live for the whole run.
        self.x = torch.tensor(x)
        self.y = torch.tensor(y)
        self.weights = None if weights is None else torch.tensor(weights)
        # The fused CPU kernel updates every parameter in one call instead of a dozen small ones.
        self.optimizer = torch.optim.Adam(
            network.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay, fused=True
        )
        # BCE on logits is the numerically stable form of sigmoid + BCELoss.
        self.loss_fn = nn.BCEWithLogitsLoss(reduction="none")

    def train_epoch(self, record_loss: bool) -> float:
        """One pass over the rows in a fresh order; the mean batch loss, weighted by batch size."""
        self.network.train()
        rows = self.x.shape[0]
        order = torch.randperm(rows, generator=self.generator)
        total = 0.0
        for start, stop in batch_bounds(rows, self.settings.batch_size):
            batch = order[start:stop]
            inputs = self.x[batch]
            if self.settings.input_noise:
                inputs = inputs + self.settings.input_noise * torch.randn(inputs.shape, generator=self.generator)
            weights = None if self.weights is None else self.weights[batch]
            total += train_step(self.network, self.optimizer, self.loss_fn, inputs, self.y[batch], weights) * len(batch)
        return total / rows

    def write_weights(self) -> None:
        """The module's parameters are the trained ones already."""


def numpy_engine_unsupported(network: nn.Module) -> str | None:
    """Why the NumPy pass cannot train `network`, or None when it can. It knows exactly
    PreferenceNet's layer pattern: optional input dropout, then Linear, LeakyReLU, Dropout per
    hidden layer, then a Linear to one logit."""
    if type(network).forward is not PreferenceNet.forward:
        return f"{type(network).__name__} has its own forward pass"
    modules = list(network.layers)
    if modules and type(modules[0]) is nn.Dropout:
        modules = modules[1:]
    hidden, last = modules[:-1], modules[-1:]
    pattern = (nn.Linear, nn.LeakyReLU, nn.Dropout)
    if len(hidden) % 3 or any(type(module) is not pattern[index % 3] for index, module in enumerate(hidden)):
        return "its hidden layers are not Linear, LeakyReLU, Dropout"
    if not last or type(last[0]) is not nn.Linear or last[0].out_features != 1:
        return "its last layer is not a Linear layer to one logit"
    if any(type(module) is nn.Dropout and module.p >= 1 for module in network.layers):
        return "a dropout probability of 1 drops every value"
    return None


# torch.optim.Adam's defaults, which the original project used.
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


class FlatAdam:
    """Adam over one flat tensor by the kernel `torch.optim.Adam(fused=True)` runs, called directly.

    For a single tensor, `Optimizer.step`'s bookkeeping (hooks, profiler scope, grouping tensors
    by device) costs about three times the update itself (some 23 microseconds against 7 on the
    development machine), a quarter of a whole NumPy step. The arithmetic is the kernel's, so the
    update is bit for bit that of `torch.optim.Adam(fused=True)`; a test holds it to that.
    """

    def __init__(self, values: torch.Tensor, grads: torch.Tensor, learning_rate: float, weight_decay: float):
        self.values, self.grads = values, grads
        self.exp_avg, self.exp_avg_sq = torch.zeros_like(values), torch.zeros_like(values)
        self.steps = torch.zeros((), dtype=torch.float32)
        self.learning_rate, self.weight_decay = learning_rate, weight_decay

    def step(self) -> None:
        self.steps += 1
        torch._fused_adam_(
            [self.values], [self.grads], [self.exp_avg], [self.exp_avg_sq], [], [self.steps],
            lr=self.learning_rate, beta1=ADAM_BETAS[0], beta2=ADAM_BETAS[1], weight_decay=self.weight_decay,
            eps=ADAM_EPS, amsgrad=False, maximize=False,
        )


class NumpyEngine:
    """PreferenceNet's forward and backward pass written out in NumPy, Adam from torch.

    Every weight and bias lives in one flat tensor, and every gradient in another, both seen by
    NumPy through views without copying: the backward pass writes the gradients in place and
    torch's fused Adam kernel updates the whole network in one call. `step` is one batch;
    `train_epoch` shuffles the rows once and draws the epoch's noise and dropout masks for all
    rows at once, so each batch is a contiguous slice of them.
    """

    name = "numpy"

    def __init__(
        self, network: PreferenceNet, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None, settings: TrainingSettings
    ):
        reason = numpy_engine_unsupported(network)
        if reason:
            raise ValueError(f"the NumPy engine cannot train this network: {reason}")
        self.settings = settings
        self.rng = np.random.default_rng(settings.seed)
        self.x = np.array(x, dtype=np.float32)
        self.y = np.array(y, dtype=np.float32).reshape(-1, 1)
        self.sample_weights = None if weights is None else np.array(weights, dtype=np.float32).reshape(-1, 1)
        modules = list(network.layers)
        input_layer = modules.pop(0) if type(modules[0]) is nn.Dropout else None
        self.input_dropout = input_layer.p if input_layer else 0.0
        self.slopes = [np.float32(module.negative_slope) for module in modules if type(module) is nn.LeakyReLU]
        self.dropouts = [module.p for module in modules if type(module) is nn.Dropout]
        linears = network.linear_layers()
        self.parameters = [tensor for layer in linears for tensor in (layer.weight, layer.bias)]
        self.flat = torch.cat([tensor.detach().reshape(-1) for tensor in self.parameters])
        self.flat_grad = torch.zeros_like(self.flat)
        self.optimizer = FlatAdam(self.flat, self.flat_grad, settings.learning_rate, settings.weight_decay)
        values = self._views(self.flat.numpy())
        grads = self._views(self.flat_grad.numpy())
        self.weight_values, self.bias_values = values[0::2], values[1::2]
        self.weight_grads, self.bias_grads = grads[0::2], grads[1::2]
        # Preallocated per hidden layer: pre-activations, activations, gradients; a batch uses a prefix.
        batch = settings.batch_size
        widths = [layer.out_features for layer in linears[:-1]]
        self.pre = [np.empty((batch, width), np.float32) for width in widths]
        self.act = [np.empty((batch, width), np.float32) for width in widths]
        self.grad = [np.empty((batch, width), np.float32) for width in widths]
        self.logits = np.empty((batch, 1), np.float32)
        self.delta = np.empty((batch, 1), np.float32)
        rows = len(self.x)
        self.bounds = batch_bounds(rows, batch)
        self.epoch_x = np.empty_like(self.x)
        self.epoch_y = np.empty_like(self.y)
        lengths = np.array([stop - start for start, stop in self.bounds])
        self.batch_lengths = lengths
        # Each row's share of its batch's mean loss, when rows weigh the same.
        self.equal_shares = np.repeat(1 / lengths, lengths).astype(np.float32).reshape(-1, 1)

    def _views(self, flat: np.ndarray) -> list[np.ndarray]:
        views, offset = [], 0
        for tensor in self.parameters:
            views.append(flat[offset : offset + tensor.numel()].reshape(tensor.shape))
            offset += tensor.numel()
        return views

    def step(
        self,
        inputs: np.ndarray,
        labels: np.ndarray,
        shares: np.ndarray,
        masks: Sequence[np.ndarray] | None = None,
        want_loss: bool = False,
    ) -> float:
        """One Adam step on one batch (at most `batch_size` rows of float32).

        `labels` and `shares` are columns (rows, 1); a row's share is its weight in the batch's
        loss: 1/rows, or its sample weight over the batch's total. `masks` holds, per hidden
        layer, the dropout multipliers (0 or 1/(1-p)) for these rows; None applies no dropout.
        Returns the batch loss when `want_loss`, NaN otherwise (it costs a few operations).
        """
        rows = len(inputs)
        layer_inputs = [inputs]
        gates = []
        for layer, (weight, bias) in enumerate(zip(self.weight_values[:-1], self.bias_values[:-1])):
            pre = np.matmul(layer_inputs[-1], weight.T, out=self.pre[layer][:rows])
            pre += bias
            # LeakyReLU and dropout both multiply each value by a factor; one gate of both factors
            # makes the forward pass and, unchanged, the backward pass through them.
            gate = np.where(pre > 0, np.float32(1), self.slopes[layer])
            if masks is not None:
                gate *= masks[layer]
            gates.append(gate)
            layer_inputs.append(np.multiply(pre, gate, out=self.act[layer][:rows]))
        logits = np.matmul(layer_inputs[-1], self.weight_values[-1].T, out=self.logits[:rows])
        logits += self.bias_values[-1]
        loss = float(np.sum((np.logaddexp(0, logits) - labels * logits) * shares)) if want_loss else math.nan
        # The derivative of binary cross-entropy on the sigmoid of a logit is sigmoid - label;
        # 0.5 + 0.5 tanh(x / 2) is the sigmoid without exp's overflow.
        delta = np.multiply(logits, 0.5, out=self.delta[:rows])
        np.tanh(delta, out=delta)
        delta *= 0.5
        delta += 0.5
        delta -= labels
        delta *= shares
        for layer in reversed(range(len(self.weight_values))):
            np.matmul(delta.T, layer_inputs[layer], out=self.weight_grads[layer])
            np.add.reduce(delta, axis=0, out=self.bias_grads[layer])
            if layer:
                upstream = np.matmul(delta, self.weight_values[layer], out=self.grad[layer - 1][:rows])
                upstream *= gates[layer - 1]
                delta = upstream
        self.optimizer.step()
        return loss

    def dropout_multipliers(self, shape: tuple[int, ...], probability: float) -> np.ndarray:
        """As torch's dropout: keep each value with probability 1 - p and scale it by 1 / (1 - p)."""
        keep = 1 - probability
        return (self.rng.random(shape, dtype=np.float32) < keep) * np.float32(1 / keep)

    def batch_shares(self, order: np.ndarray) -> np.ndarray:
        """Each row's share of its batch's loss when the rows come in `order`: 1/rows, or the
        row's sample weight over its batch's total."""
        if self.sample_weights is None:
            return self.equal_shares
        weights = self.sample_weights[order]
        totals = np.add.reduceat(weights[:, 0], [start for start, _ in self.bounds])
        return weights / np.repeat(totals, self.batch_lengths).reshape(-1, 1)

    def train_epoch(self, record_loss: bool) -> float:
        """One pass over the rows in a fresh order; the mean batch loss (computed only when
        `record_loss`, else NaN), weighted by batch size."""
        rows = len(self.x)
        order = self.rng.permutation(rows)
        inputs = np.take(self.x, order, axis=0, out=self.epoch_x)
        labels = np.take(self.y, order, axis=0, out=self.epoch_y)
        if self.settings.input_noise:
            inputs += np.float32(self.settings.input_noise) * self.rng.standard_normal(inputs.shape, dtype=np.float32)
        if self.input_dropout:
            inputs *= self.dropout_multipliers(inputs.shape, self.input_dropout)
        masks = None
        if any(self.dropouts):
            masks = [
                self.dropout_multipliers((rows, pre.shape[1]), probability)
                for pre, probability in zip(self.pre, self.dropouts)
            ]
        shares = self.batch_shares(order)
        total = 0.0
        for start, stop in self.bounds:
            batch = slice(start, stop)
            batch_masks = None if masks is None else [mask[batch] for mask in masks]
            total += self.step(inputs[batch], labels[batch], shares[batch], batch_masks, record_loss) * (stop - start)
        return total / rows

    def write_weights(self) -> None:
        """Copy the trained values into the module's own parameters."""
        with torch.no_grad():
            offset = 0
            for tensor in self.parameters:
                tensor.copy_(self.flat[offset : offset + tensor.numel()].view_as(tensor))
                offset += tensor.numel()


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
    if settings.engine not in ENGINES:
        raise ValueError(f"unknown training engine {settings.engine!r}; choose one of {ENGINES}")
    with single_threaded():
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
    x_train = np.asarray(x_train, dtype=np.float32)
    y_train_float = np.asarray(y_train, dtype=np.float32)
    weights = None if sample_weights is None else np.asarray(sample_weights, dtype=np.float32)
    network = PreferenceNet(x_train.shape[1], settings.hidden_sizes, settings.dropout, settings.input_dropout)
    notes = []
    engine_class: type[NumpyEngine] | type[AutogradEngine] = AutogradEngine
    if settings.engine == "numpy":
        reason = numpy_engine_unsupported(network)
        if reason:
            notes.append(f"trained with autograd: {reason}")
        else:
            engine_class = NumpyEngine
    engine = engine_class(network, x_train, y_train_float, weights, settings)
    xt = torch.tensor(x_train)
    xv = torch.tensor(np.asarray(x_validation), dtype=torch.float32)
    history = []
    best_loss, best_epoch, best_state = math.inf, 0, copy.deepcopy(network.state_dict())
    evaluations_without_gain = 0
    epoch = 0
    for epoch in range(1, settings.epochs + 1):
        evaluated = epoch % settings.evaluate_every == 0 or epoch == settings.epochs
        epoch_loss = engine.train_epoch(record_loss=evaluated)
        if not evaluated:
            continue
        engine.write_weights()
        train_metrics = classification_metrics(y_train, network.like_probability(xt).numpy())
        validation_metrics = classification_metrics(y_validation, network.like_probability(xv).numpy())
        history.append(
            {
                "epoch": epoch,
                "epoch_train_loss": epoch_loss,
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
        engine=engine.name,
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
    outcome.validation_probability = _probabilities(outcome.network, x_validation)
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
    refit.validation_probability = outcome.validation_probability
    return refit


def _probabilities(network: PreferenceNet, rows: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return network.like_probability(torch.as_tensor(rows, dtype=torch.float32)).numpy().astype("float64")
