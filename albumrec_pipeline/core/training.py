"""Training the preference network: Adam on binary cross-entropy, early stopping on validation loss.

An ensemble's members are trained together, as one stack: layer by layer their weights are
stacked into one tensor, and a step runs every member's batch through batched matrix products
(`torch.baddbmm`) with one autograd pass and one Adam update. A step of 32 rows through this
small network is a few dozen tiny tensor operations, and their fixed cost (autograd, the
optimiser) dominates; paid once per step for the whole ensemble instead of once per member, five
networks train in about 1.4 times the time of one (`benchmarks/model_quality.py --speed-only`),
and a member leaves the stack once it has stopped. Members stay independent: each has its own initialisation, batch order and dropout masks,
drawn from its own seeded generator, and Adam's update is elementwise, so a member trains exactly
as it would alone (a test holds it to that). The trained result is a list of `PreferenceNet`s.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits

from albumrec_pipeline.core.network import ORIGINAL_HIDDEN_SIZES, PreferenceNet

# Seeds of an ensemble's members are this far apart: member m of seed s has seed s + m * MEMBER_SEED_STEP.
MEMBER_SEED_STEP = 1000


@dataclass(frozen=True)
class TrainingSettings:
    """The original project's training, by default; albumrec's recipe (`core.evaluation`) changes some."""

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
    seed: int = 0

    def member_seed(self, member: int) -> int:
        return self.seed + MEMBER_SEED_STEP * member


@dataclass
class TrainingOutcome:
    """One trained network and how its training went."""

    network: PreferenceNet
    history: pd.DataFrame
    best_epoch: int
    epochs_run: int
    # Its share of the time the stack it was trained in took.
    seconds: float
    notes: list[str] = field(default_factory=list)
    # The early-stopped network's probabilities for the validation rows: held-out predictions even
    # when the final network was retrained on those rows (see `train_ensemble`).
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
        "rows": len(labels),
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


def batch_bounds(rows: int, batch_size: int) -> list[tuple[int, int]]:
    return [(start, min(start + batch_size, rows)) for start in range(0, rows, batch_size)]


def dropout_multipliers(rows: int, probabilities: np.ndarray, generator: np.random.Generator) -> np.ndarray:
    """As torch's dropout, for `rows` rows of columns with their own probabilities: keep each value
    with probability 1 - p and scale it by 1 / (1 - p)."""
    keep = (1 - probabilities).astype(np.float32)
    return (generator.random((rows, len(probabilities)), dtype=np.float32) < keep) / keep


class StackedNetworks:
    """Networks of one shape as one: layer by layer, every member's weights stacked into a tensor
    (members, in, out) and its biases into (members, 1, out), trained by autograd together.

    `logits` takes either one batch per member (members, rows, inputs) or one set of rows for all
    (rows, inputs), and gives (members, rows). `masks`, when given, holds each member's dropout
    multipliers for the rows (members, rows, `dropout_columns`): the inputs' (when the networks drop
    them), then each hidden layer's, side by side; without masks nothing is dropped (evaluation).
    `active` lists which of the networks the stack holds now: `retire` removes finished ones.
    """

    def __init__(self, networks: Sequence[PreferenceNet]):
        shapes = {(net.input_size, net.hidden_sizes, net.dropout, net.input_dropout) for net in networks}
        if len(shapes) != 1:
            raise ValueError(f"stacked networks must share one shape, got {sorted(shapes, key=str)}")
        self.networks = list(networks)
        self.active = list(range(len(self.networks)))
        first = self.networks[0]
        self.input_dropout, self.dropout = first.input_dropout, first.dropout
        slopes = {module.negative_slope for net in networks for module in net.layers if isinstance(module, torch.nn.LeakyReLU)}
        self.negative_slope = slopes.pop() if slopes else 0.01
        layers = [net.linear_layers() for net in self.networks]
        # Stored as (in, out), so a layer is one batched product with no transpose on the way.
        self.weights = [
            torch.stack([member[index].weight.detach().T for member in layers]).contiguous().requires_grad_()
            for index in range(len(layers[0]))
        ]
        self.biases = [
            torch.stack([member[index].bias.detach().unsqueeze(0) for member in layers]).requires_grad_()
            for index in range(len(layers[0]))
        ]
        # Where each dropout site's multipliers sit among the mask's columns, and their probabilities.
        sites = ([(first.input_size, self.input_dropout)] if self.input_dropout else []) + [
            (width, self.dropout) for width in first.hidden_sizes
        ]
        ends = np.cumsum([0] + [width for width, _ in sites])
        self.site_columns = [slice(int(start), int(stop)) for start, stop in zip(ends[:-1], ends[1:])]
        self.dropout_probabilities = np.array([probability for width, probability in sites for _ in range(width)], np.float32)
        self.drops_anything = bool(self.input_dropout or self.dropout)

    def parameters(self) -> list[torch.Tensor]:
        return [tensor for pair in zip(self.weights, self.biases) for tensor in pair]

    def logits(self, inputs: torch.Tensor, masks: torch.Tensor | None = None) -> torch.Tensor:
        values = inputs
        sites = iter(self.site_columns)
        if masks is not None and self.input_dropout:
            values = values * masks[..., next(sites)]
        last = len(self.weights) - 1
        for layer, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            if values.dim() == 2:
                # The same rows for every member: broadcast them against the stacked weights.
                values = torch.matmul(values, weight) + bias
            else:
                values = torch.baddbmm(bias, values, weight)
            if layer == last:
                break
            values = F.leaky_relu(values, self.negative_slope)
            if masks is not None and self.dropout:
                values = values * masks[..., next(sites)]
        return values.squeeze(-1)

    @torch.no_grad()
    def probabilities(self, rows: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(rows))

    def member_state(self, position: int) -> list[torch.Tensor]:
        """The values of the network at `position` among the active ones."""
        return [tensor[position].detach().clone() for tensor in self.parameters()]

    def retire(self, keep: Sequence[int], optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
        """Keep only the active networks at positions `keep`, so finished ones cost no more steps;
        returns an optimiser over the smaller stack that carries on from `optimizer`'s state."""
        index = torch.tensor(list(keep))
        old = self.parameters()
        self.weights = [tensor.detach()[index].clone().requires_grad_() for tensor in self.weights]
        self.biases = [tensor.detach()[index].clone().requires_grad_() for tensor in self.biases]
        self.active = [self.active[position] for position in keep]
        successor = type(optimizer)(self.parameters(), **optimizer.defaults)
        for before, after in zip(old, self.parameters()):
            # Adam's state is elementwise: each kept network's running moments come along with it.
            successor.state[after] = {
                name: value if value.dim() == 0 else value[index].clone() for name, value in optimizer.state[before].items()
            }
        return successor

    @torch.no_grad()
    def write_member(self, member: int, state: Sequence[torch.Tensor]) -> PreferenceNet:
        """Copy values (from `member_state`) into network `member`'s own PreferenceNet, in eval mode."""
        network = self.networks[member]
        for layer, index in zip(network.linear_layers(), range(0, len(state), 2)):
            layer.weight.copy_(state[index].T)
            layer.bias.copy_(state[index + 1].squeeze(0))
        network.eval()
        return network


@dataclass
class MemberProgress:
    """Early stopping's bookkeeping for one member."""

    best_loss: float = math.inf
    best_epoch: int = 0
    best_state: list[torch.Tensor] | None = None
    evaluations_without_gain: int = 0
    stopped_at: int | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def train_networks(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_validation: np.ndarray,
    y_validation: np.ndarray,
    settings: TrainingSettings,
    members: int = 1,
    sample_weights: np.ndarray | None = None,
    progress: Callable[[str], None] | None = None,
    epochs_per_member: Sequence[int] | None = None,
) -> list[TrainingOutcome]:
    """Train `members` networks on the same rows, each with its own seed (`member_seed`), keeping
    each one's weights of its best validation loss.

    With `epochs_per_member`, there is no early stopping: member m trains for exactly that many
    epochs and keeps its last weights (the refit after early stopping chose the count).
    The validation rows come from artists the networks never train on, so early stopping picks the
    epoch that generalises to new artists; the test split is not looked at here.
    """
    if members < 1:
        raise ValueError(f"an ensemble needs at least one member, got {members}")
    if epochs_per_member is not None and len(epochs_per_member) != members:
        raise ValueError(f"{len(epochs_per_member)} epoch counts for {members} members")
    with single_threaded():
        return _train_networks(
            x_train, y_train, x_validation, y_validation, settings, members, sample_weights, progress, epochs_per_member
        )


def _train_networks(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_validation: np.ndarray,
    y_validation: np.ndarray,
    settings: TrainingSettings,
    members: int,
    sample_weights: np.ndarray | None,
    progress: Callable[[str], None] | None,
    epochs_per_member: Sequence[int] | None,
) -> list[TrainingOutcome]:
    started = time.perf_counter()
    x = torch.tensor(np.asarray(x_train, dtype=np.float32))
    y = torch.tensor(np.asarray(y_train, dtype=np.float32))
    xv = torch.tensor(np.asarray(x_validation, dtype=np.float32))
    weights = None if sample_weights is None else torch.tensor(np.asarray(sample_weights, dtype=np.float32))
    networks, generators = [], []
    for member in range(members):
        torch.manual_seed(settings.member_seed(member))
        networks.append(PreferenceNet(x.shape[1], settings.hidden_sizes, settings.dropout, settings.input_dropout))
        # NumPy's generator draws the epoch's order and dropout masks several times faster than torch's.
        generators.append(np.random.default_rng(settings.member_seed(member)))
    stack = StackedNetworks(networks)
    # Adam's update is elementwise, so one optimiser over the stacked tensors updates each member as its own would.
    optimizer: torch.optim.Optimizer = torch.optim.Adam(
        stack.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay, fused=True
    )
    rows = x.shape[0]
    bounds = batch_bounds(rows, settings.batch_size)
    equal_shares = {stop - start: torch.tensor(1 / (stop - start)) for start, stop in bounds}
    epochs = max(epochs_per_member) if epochs_per_member is not None else settings.epochs
    patience = 0 if epochs_per_member is not None else settings.early_stopping_patience
    tracking = [MemberProgress() for _ in range(members)]
    epoch = 0
    for epoch in range(1, epochs + 1):
        evaluated = epoch % settings.evaluate_every == 0 or epoch == epochs
        active = stack.active
        # Each member's order and dropout masks come from its own generator, drawn for the whole epoch.
        order = torch.from_numpy(np.stack([generators[member].permutation(rows) for member in active]))
        masks = None
        if stack.drops_anything:
            masks = torch.from_numpy(
                np.stack([dropout_multipliers(rows, stack.dropout_probabilities, generators[member]) for member in active])
            )
        # Rows in each member's order, gathered once per epoch: every batch is then a slice.
        epoch_x, epoch_y = x[order], y[order]
        epoch_weights = None if weights is None else weights[order]
        epoch_loss = torch.zeros(len(active))
        for start, stop in bounds:
            # Each row's share of its member's batch loss: 1/rows, or its weight over the batch's total.
            if epoch_weights is None:
                shares = equal_shares[stop - start]
            else:
                shares = epoch_weights[:, start:stop]
                shares = shares / shares.sum(dim=1, keepdim=True)
            labels = epoch_y[:, start:stop]
            logits = stack.logits(epoch_x[:, start:stop], None if masks is None else masks[:, start:stop])
            for parameter in stack.parameters():
                parameter.grad = None
            # Members share no parameter, so the gradient of the sum of their losses is each member's own.
            F.binary_cross_entropy_with_logits(logits, labels, weight=shares, reduction="sum").backward()
            optimizer.step()
            if evaluated:
                with torch.no_grad():
                    row_losses = F.binary_cross_entropy_with_logits(logits, labels, weight=shares, reduction="none")
                    epoch_loss += row_losses.sum(dim=1) * (stop - start)
        finished = []
        if epochs_per_member is not None:
            for position, member in enumerate(active):
                if epoch == epochs_per_member[member]:
                    tracking[member].best_state, tracking[member].best_epoch = stack.member_state(position), epoch
                    tracking[member].stopped_at = epoch
                    finished.append(member)
        if evaluated:
            train_probability = stack.probabilities(x).numpy()
            validation_probability = stack.probabilities(xv).numpy()
            for position, member in enumerate(active):
                state = tracking[member]
                train_metrics = classification_metrics(y_train, train_probability[position])
                validation_metrics = classification_metrics(y_validation, validation_probability[position])
                state.history.append(
                    {
                        "epoch": epoch,
                        "epoch_train_loss": float(epoch_loss[position]) / rows,
                        "train_loss": train_metrics["log_loss"],
                        "train_accuracy": train_metrics["accuracy"],
                        "validation_loss": validation_metrics["log_loss"],
                        "validation_accuracy": validation_metrics["accuracy"],
                        "validation_roc_auc": validation_metrics["roc_auc"],
                    }
                )
                if epochs_per_member is not None:
                    continue
                if validation_metrics["log_loss"] < state.best_loss - 1e-4:
                    state.best_loss, state.best_epoch = validation_metrics["log_loss"], epoch
                    state.best_state = stack.member_state(position)
                    state.evaluations_without_gain = 0
                else:
                    state.evaluations_without_gain += 1
                if patience and state.evaluations_without_gain >= patience:
                    state.stopped_at = epoch
                    finished.append(member)
                    state.notes.append(
                        f"stopped early at epoch {epoch}: no better validation loss for "
                        f"{state.evaluations_without_gain} evaluations; kept epoch {state.best_epoch}"
                    )
            if progress:
                losses = " ".join(f"{tracking[member].history[-1]['validation_loss']:.4f}" for member in active)
                progress(f"epoch {epoch}/{epochs}: validation loss of the networks still training {losses}")
        if finished:
            keep = [position for position, member in enumerate(active) if member not in finished]
            if not keep:
                break
            optimizer = stack.retire(keep, optimizer)
    seconds = (time.perf_counter() - started) / members
    outcomes = []
    for member, state in enumerate(tracking):
        # A network never evaluated better than its start (or a run of zero epochs) keeps its initial weights.
        network = stack.write_member(member, state.best_state) if state.best_state is not None else networks[member].eval()
        outcomes.append(
            TrainingOutcome(
                network=network,
                history=pd.DataFrame(state.history),
                best_epoch=state.best_epoch,
                epochs_run=state.stopped_at or epoch,
                seconds=seconds,
                notes=state.notes,
            )
        )
    return outcomes


def train_preference_network(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_validation: np.ndarray,
    y_validation: np.ndarray,
    settings: TrainingSettings,
    progress: Callable[[str], None] | None = None,
    sample_weights: np.ndarray | None = None,
) -> TrainingOutcome:
    """One network: `train_networks` with a single member."""
    return train_networks(x_train, y_train, x_validation, y_validation, settings, 1, sample_weights, progress)[0]


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


@dataclass
class EnsembleTraining:
    """The networks of an ensemble and how each was trained."""

    members: list[TrainingOutcome]

    @property
    def networks(self) -> list[PreferenceNet]:
        return [member.network for member in self.members]

    @property
    def history(self) -> pd.DataFrame:
        return pd.concat([outcome.history.assign(member=member) for member, outcome in enumerate(self.members)], ignore_index=True)

    @property
    def histories(self) -> list[pd.DataFrame]:
        return [outcome.history.assign(member=member) for member, outcome in enumerate(self.members)]

    @property
    def seconds(self) -> float:
        return sum(member.seconds for member in self.members)

    @property
    def notes(self) -> list[str]:
        return [f"network {index + 1}: {note}" for index, member in enumerate(self.members) for note in member.notes]

    def validation_probability(self) -> np.ndarray:
        """The validation rows' probabilities by the early-stopped networks (which never trained on
        them), averaged over the ensemble as the final scores are."""
        return np.mean([member.validation_probability for member in self.members], axis=0)


def train_ensemble(
    x_fit: np.ndarray,
    y_fit: np.ndarray,
    artists_fit: np.ndarray,
    x_validation: np.ndarray,
    y_validation: np.ndarray,
    artists_validation: np.ndarray,
    settings: TrainingSettings,
    ensemble_size: int = 1,
    artist_weighting: float = 0.0,
    refit_on_all_rows: bool = False,
    progress: Callable[[str], None] | None = None,
) -> EnsembleTraining:
    """How albumrec trains, for the model it ships and for every cross-validation fold alike.

    `ensemble_size` networks (seeds `settings.member_seed(m)`) are trained with early stopping on
    the validation artists. Then, optionally, fresh networks of the same seeds are trained on the
    fit and validation rows together, each for the number of epochs early stopping chose for it, so
    the validation artists also teach the final networks. No test rows are involved.
    """
    early = train_networks(
        x_fit, y_fit, x_validation, y_validation, settings, ensemble_size, artist_weights(artists_fit, artist_weighting), progress
    )
    for outcome in early:
        outcome.validation_probability = _probabilities(outcome.network, x_validation)
    if not refit_on_all_rows:
        return EnsembleTraining(early)
    epochs = [max(outcome.best_epoch, 1) for outcome in early]
    refits = train_networks(
        np.concatenate([x_fit, x_validation]),
        np.concatenate([y_fit, y_validation]),
        x_validation,
        y_validation,
        replace(settings, early_stopping_patience=0),
        ensemble_size,
        artist_weights(np.concatenate([artists_fit, artists_validation]), artist_weighting),
        progress,
        epochs_per_member=epochs,
    )
    for outcome, refit, count in zip(early, refits, epochs):
        refit.notes = outcome.notes + [f"retrained on training and validation rows for {count} epochs (the early-stopping choice)"]
        refit.best_epoch = outcome.best_epoch
        refit.history = pd.concat(
            [outcome.history.assign(phase="early_stopping"), refit.history.assign(phase="refit")], ignore_index=True
        )
        refit.seconds += outcome.seconds
        refit.validation_probability = outcome.validation_probability
    return EnsembleTraining(refits)


def _probabilities(network: PreferenceNet, rows: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return network.like_probability(torch.as_tensor(np.asarray(rows), dtype=torch.float32)).numpy().astype("float64")
