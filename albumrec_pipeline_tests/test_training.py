import copy
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
from threadpoolctl import threadpool_info
from torch import nn

from albumrec_pipeline.core.network import PreferenceNet
from albumrec_pipeline.core.training import (
    StackedNetworks,
    TrainingSettings,
    classification_metrics,
    dropout_multipliers,
    single_threaded,
    train_ensemble,
    train_networks,
    train_preference_network,
)


def separable(rows: int, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(rows, 8)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] > 0.75).astype("float32")
    return x, y


def test_original_architecture_shapes():
    network = PreferenceNet(110)
    widths = [(layer.in_features, layer.out_features) for layer in network.linear_layers()]
    assert widths == [(110, 64), (64, 32), (32, 16), (16, 1)]
    assert any(isinstance(module, nn.LeakyReLU) for module in network.layers)
    assert any(isinstance(module, nn.Dropout) for module in network.layers)


def test_metrics_handle_a_single_class():
    metrics = classification_metrics(np.array([1, 1]), np.array([0.9, 0.4]))
    assert metrics["accuracy"] == 0.5 and np.isnan(metrics["roc_auc"])


# --- the stacked ensemble against torch.optim.Adam on each network alone -------------------------------


class InjectedDropout(nn.Module):
    """Dropout whose multipliers the test sets, so both trainers drop the same values."""

    def __init__(self):
        super().__init__()
        self.multipliers: torch.Tensor | None = None

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        return values * self.multipliers


def autograd_twin(network: PreferenceNet) -> tuple[PreferenceNet, list[InjectedDropout]]:
    """A copy of `network` whose dropouts (inputs first, when it drops them) take injected multipliers."""
    twin = copy.deepcopy(network)
    injected = []
    for index, module in enumerate(twin.layers):
        if type(module) is nn.Dropout:
            twin.layers[index] = InjectedDropout()
            injected.append(twin.layers[index])
    return twin, injected


def flat_values(network: nn.Module) -> torch.Tensor:
    return torch.cat([parameter.detach().reshape(-1) for parameter in network.parameters()])


def three_networks(inputs: int, hidden_sizes, dropout: float, input_dropout: float) -> list[PreferenceNet]:
    networks = []
    for seed in range(3):
        torch.manual_seed(seed)
        networks.append(PreferenceNet(inputs, hidden_sizes, dropout, input_dropout))
    return networks


def test_the_stack_computes_each_networks_logits():
    networks = three_networks(20, (16, 8), 0.5, 0.2)
    stack = StackedNetworks(networks)
    x = torch.randn(50, 20, generator=torch.Generator().manual_seed(1))
    expected = torch.stack([network.eval()(x).detach() for network in networks])
    torch.testing.assert_close(stack.logits(x).detach(), expected, rtol=1e-5, atol=1e-6)
    # A batch of its own per network gives the same as the shared rows.
    torch.testing.assert_close(stack.logits(x.expand(3, 50, 20)).detach(), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="share one shape"):
        StackedNetworks([PreferenceNet(20, (16, 8)), PreferenceNet(20, (16,))])


@pytest.mark.parametrize(
    ("hidden_sizes", "dropout", "input_dropout", "weight_decay"),
    [((64, 32, 16), 0.2, 0.0, 1e-4), ((24, 8), 0.5, 0.2, 1e-2), ((), 0.0, 0.0, 0.0)],
)
def test_a_stacked_step_is_each_networks_own_adam_step_over_hundreds_of_steps(hidden_sizes, dropout, input_dropout, weight_decay):
    # One thread, as in training: on a busy two-core machine torch's second thread makes every small op wait.
    with single_threaded():
        compare_stacked_steps_with_torch_adam(hidden_sizes, dropout, input_dropout, weight_decay)


def compare_stacked_steps_with_torch_adam(hidden_sizes, dropout, input_dropout, weight_decay):
    rng = np.random.default_rng(5)
    x = torch.from_numpy(rng.normal(size=(300, 20)).astype("float32"))
    y = torch.from_numpy((x[:, 0].numpy() - x[:, 1].numpy() + 0.5 * rng.normal(size=300) > 0).astype("float32"))
    networks = three_networks(20, hidden_sizes, dropout, input_dropout)
    initial = [flat_values(network) for network in networks]
    twins = [autograd_twin(network) for network in networks]
    stack = StackedNetworks(networks)
    stacked_adam = torch.optim.Adam(stack.parameters(), lr=3e-3, weight_decay=weight_decay, fused=True)
    # The original project's optimiser, one per network: torch.optim.Adam with its default implementation.
    optimizers = [torch.optim.Adam(twin.parameters(), lr=3e-3, weight_decay=weight_decay) for twin, _ in twins]
    sites = ([20] if input_dropout else []) + [width for width in hidden_sizes if dropout]
    probabilities = ([input_dropout] if input_dropout else []) + [dropout] * len(hidden_sizes)
    for step in range(300):
        size = 32 if step % 4 else 13
        batch = torch.from_numpy(np.stack([rng.choice(300, size=size, replace=False) for _ in networks]))
        weights = torch.from_numpy(rng.uniform(0.2, 3.0, size=(3, size)).astype("float32"))
        masks = [
            torch.from_numpy(((rng.random((3, size, width)) < 1 - p) / (1 - p)).astype("float32"))
            for width, p in zip(sites, probabilities)
        ]
        side_by_side = torch.cat(masks, dim=2) if masks else None
        losses = nn.functional.binary_cross_entropy_with_logits(stack.logits(x[batch], side_by_side), y[batch], reduction="none")
        stacked_adam.zero_grad()
        ((losses * weights).sum(dim=1) / weights.sum(dim=1)).sum().backward()
        stacked_adam.step()
        for member, ((twin, injected), optimizer) in enumerate(zip(twins, optimizers)):
            for module, mask in zip(injected, masks):
                module.multipliers = mask[member]
            optimizer.zero_grad()
            own = nn.functional.binary_cross_entropy_with_logits(twin(x[batch[member]]), y[batch[member]], reduction="none")
            ((own * weights[member]).sum() / weights[member].sum()).backward()
            optimizer.step()
    for member, (twin, _) in enumerate(twins):
        trained = stack.write_member(member, stack.member_state(member))
        torch.testing.assert_close(flat_values(trained), flat_values(twin), rtol=1e-4, atol=1e-5)
        assert (flat_values(trained) - initial[member]).abs().max() > 0.05


def test_an_ensemble_member_trains_as_it_would_alone():
    x, y = separable(200, 13)
    xv, yv = separable(60, 14)
    weights = np.random.default_rng(2).uniform(0.5, 2.0, size=200)
    settings = TrainingSettings(epochs=12, evaluate_every=3, early_stopping_patience=0, seed=3, input_dropout=0.1, hidden_sizes=(16, 8))
    together = train_networks(x, y, xv, yv, settings, members=3, sample_weights=weights)
    alone = train_networks(x, y, xv, yv, replace(settings, seed=settings.member_seed(2)), members=1, sample_weights=weights)[0]
    assert together[2].best_epoch == alone.best_epoch
    torch.testing.assert_close(flat_values(together[2].network), flat_values(alone.network), rtol=1e-5, atol=1e-6)
    pd.testing.assert_frame_equal(together[2].history, alone.history, rtol=1e-5)
    # The members differ from each other: their own seeds.
    assert (flat_values(together[0].network) - flat_values(together[1].network)).abs().max() > 0.1


def test_members_given_epoch_counts_keep_the_weights_of_their_last_epoch():
    x, y = separable(150, 15)
    settings = TrainingSettings(epochs=50, evaluate_every=2, early_stopping_patience=0, seed=4, hidden_sizes=(8,))
    stopped = train_networks(x, y, x, y, settings, members=2, epochs_per_member=[4, 10])
    for member, epochs in enumerate([4, 10]):
        alone = train_networks(x, y, x, y, replace(settings, seed=settings.member_seed(member), epochs=epochs))[0]
        torch.testing.assert_close(flat_values(stopped[member].network), flat_values(alone.network), rtol=1e-5, atol=1e-6)
        assert stopped[member].epochs_run == epochs and stopped[member].history["epoch"].iloc[-1] == epochs
    with pytest.raises(ValueError, match="2 epoch counts for 3 members"):
        train_networks(x, y, x, y, settings, members=3, epochs_per_member=[4, 10])
    with pytest.raises(ValueError, match="at least one member"):
        train_networks(x, y, x, y, settings, members=0)


@pytest.mark.parametrize("weighted", [False, True])
def test_the_epoch_loss_is_the_mean_row_loss_when_nothing_moves(weighted):
    x, y = separable(100, 6)
    weights = np.random.default_rng(3).uniform(0.2, 3.0, size=100) if weighted else None
    settings = TrainingSettings(epochs=1, evaluate_every=1, batch_size=32, learning_rate=0.0, weight_decay=0.0, dropout=0.0, hidden_sizes=(16,))
    outcome = train_networks(x, y, x, y, settings, sample_weights=weights)[0]
    row_loss = nn.functional.binary_cross_entropy_with_logits(outcome.network(torch.from_numpy(x)), torch.from_numpy(y), reduction="none")
    row_loss = row_loss.detach().numpy()
    if weighted:
        # A batch's loss is its weighted mean and the epoch's is the batches' mean by row count: recompute
        # it from the member's batch order, its generator's first permutation.
        order = np.random.default_rng(settings.member_seed(0)).permutation(100)
        batches = [order[start : start + 32] for start in range(0, 100, 32)]
        expected = sum(len(b) * np.sum(row_loss[b] * weights[b]) / np.sum(weights[b]) for b in batches) / 100
    else:
        expected = row_loss.mean()
    assert outcome.history["epoch_train_loss"].iloc[0] == pytest.approx(expected, rel=1e-5)
    assert outcome.history["train_loss"].iloc[0] == pytest.approx(row_loss.mean(), rel=1e-5)


def test_dropout_multipliers_follow_torch_dropout_column_by_column():
    probabilities = np.array([0.2] * 100 + [0.5] * 150, dtype=np.float32)
    multipliers = dropout_multipliers(400, probabilities, np.random.default_rng(0))
    assert multipliers.dtype == np.float32 and multipliers.shape == (400, 250)
    assert set(np.unique(multipliers[:, :100])) == {np.float32(0), np.float32(1 / 0.8)}
    assert set(np.unique(multipliers[:, 100:])) == {np.float32(0), np.float32(2)}
    assert (multipliers[:, :100] == 0).mean() == pytest.approx(0.2, abs=0.01)
    assert (multipliers[:, 100:] == 0).mean() == pytest.approx(0.5, abs=0.01)


# --- the loop around the step ---------------------------------------------------------------------------


def test_training_learns_and_stops_early_keeping_the_best_validation_epoch():
    x, y = separable(600, 1)
    xv, yv = separable(200, 2)
    settings = TrainingSettings(epochs=400, learning_rate=3e-3, evaluate_every=5, early_stopping_patience=4)
    outcome = train_preference_network(x, y, xv, yv, settings)
    metrics = classification_metrics(yv, outcome.network.like_probability(torch.as_tensor(xv)).numpy())
    assert metrics["accuracy"] > 0.9 and metrics["roc_auc"] > 0.95
    history = outcome.history
    assert outcome.epochs_run < settings.epochs and "stopped early" in outcome.notes[0]
    assert history["epoch"].iloc[-1] == outcome.epochs_run
    best = history.loc[history["validation_loss"].idxmin()]
    assert outcome.best_epoch == best["epoch"]
    # Stopped after `patience` evaluations without a gain, and the kept weights are the best epoch's.
    assert (history["epoch"] > outcome.best_epoch).sum() == settings.early_stopping_patience
    kept = classification_metrics(yv, outcome.network.like_probability(torch.as_tensor(xv)).numpy())
    assert kept["log_loss"] == pytest.approx(best["validation_loss"], rel=1e-5)
    assert np.isfinite(history["epoch_train_loss"]).all()


def test_members_stop_early_each_at_their_own_epoch():
    x, y = separable(400, 16)
    xv, yv = separable(100, 17)
    settings = TrainingSettings(epochs=400, learning_rate=3e-3, evaluate_every=5, early_stopping_patience=3, hidden_sizes=(16, 8))
    outcomes = train_networks(x, y, xv, yv, settings, members=3)
    for outcome in outcomes:
        history = outcome.history
        assert outcome.best_epoch == history.loc[history["validation_loss"].idxmin(), "epoch"]
        assert (history["epoch"] > outcome.best_epoch).sum() == settings.early_stopping_patience
        assert history["epoch"].iloc[-1] == outcome.epochs_run


def test_the_ensemble_refits_each_member_on_all_rows_for_its_early_stopping_epoch_count():
    x, y = separable(300, 10)
    xv, yv = separable(100, 11)
    artists = np.arange(300) % 40
    settings = TrainingSettings(epochs=300, learning_rate=3e-3, evaluate_every=5, early_stopping_patience=3)
    training = train_ensemble(x, y, artists, xv, yv, np.arange(100) % 7, settings, ensemble_size=3, artist_weighting=0.5, refit_on_all_rows=True)
    assert len(training.networks) == 3
    for member, outcome in enumerate(training.members):
        history = outcome.history
        early = history[history["phase"] == "early_stopping"]
        refit = history[history["phase"] == "refit"]
        assert outcome.best_epoch == early.set_index("epoch")["validation_loss"].idxmin()
        assert refit["epoch"].iloc[-1] == outcome.epochs_run == outcome.best_epoch
        assert "retrained on training and validation rows" in outcome.notes[-1]
        # The held-out probabilities are the early-stopped network's: the refit network trained on those rows.
        assert outcome.validation_probability.shape == (100,)
    np.testing.assert_allclose(
        training.validation_probability(), np.mean([outcome.validation_probability for outcome in training.members], axis=0)
    )
    assert set(training.history["member"]) == {0, 1, 2}


def test_training_is_deterministic_for_a_seed():
    x, y = separable(200, 3)
    settings = TrainingSettings(epochs=20, evaluate_every=5, early_stopping_patience=0, seed=7, input_dropout=0.1)
    first = train_networks(x, y, x, y, settings, members=2)
    second = train_networks(x, y, x, y, settings, members=2)
    for one, other in zip(first, second):
        assert one.history.equals(other.history)
        torch.testing.assert_close(flat_values(one.network), flat_values(other.network), rtol=0, atol=0)


def blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_training_runs_single_threaded_and_restores_the_thread_settings():
    x, y = separable(100, 12)
    previous_torch = torch.get_num_threads()
    torch.set_num_threads(2)
    before_blas = blas_threads()
    seen = []
    try:
        train_preference_network(
            x, y, x, y, TrainingSettings(epochs=4, evaluate_every=2),
            progress=lambda message: seen.append((torch.get_num_threads(), blas_threads())),
        )
        assert seen and all(torch_threads == 1 and set(blas) <= {1} for torch_threads, blas in seen)
        assert torch.get_num_threads() == 2
        assert blas_threads() == before_blas
        # Restored on the way out of a failure, too.
        def fail(message):
            raise RuntimeError("stop")

        with pytest.raises(RuntimeError, match="stop"):
            train_preference_network(x, y, x, y, TrainingSettings(epochs=2, evaluate_every=1), progress=fail)
        assert torch.get_num_threads() == 2 and blas_threads() == before_blas
    finally:
        torch.set_num_threads(previous_torch)


@pytest.mark.parametrize("seed", range(4))
def test_metrics_equal_scikit_learns(seed):
    rng = np.random.default_rng(seed)
    labels = (rng.random(500) < 0.4).astype("int64")
    # Rounded scores give ties; extreme ones exercise the clipping.
    probabilities = np.round(np.clip(0.3 * labels + rng.random(500) * 0.7, 0, 1), 2)
    probabilities[:5] = [0.0, 1.0, 1.0, 0.5, 1e-9]
    metrics = classification_metrics(labels, probabilities)
    clipped = np.clip(probabilities, 1e-7, 1 - 1e-7)
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(labels, clipped), rel=1e-12)
    assert metrics["log_loss"] == pytest.approx(log_loss(labels, clipped, labels=[0, 1]), rel=1e-10)
    assert metrics["accuracy"] == pytest.approx(accuracy_score(labels, clipped >= 0.5))
    assert metrics["rows"] == 500


def test_metrics_refuse_labels_other_than_zero_and_one():
    with pytest.raises(ValueError, match="0 or 1"):
        classification_metrics(np.array([0, 2]), np.array([0.1, 0.9]))
    assert np.isnan(classification_metrics(np.array([]), np.array([]))["log_loss"])
