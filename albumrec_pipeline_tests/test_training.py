import copy

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
from threadpoolctl import threadpool_info
from torch import nn

from albumrec_pipeline.core.network import PreferenceNet
from albumrec_pipeline.core.training import (
    ENGINES,
    FlatAdam,
    NumpyEngine,
    TrainingSettings,
    classification_metrics,
    fit_preference_network,
    numpy_engine_unsupported,
    single_threaded,
    train_preference_network,
    train_step,
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


def test_train_step_lowers_the_loss_on_its_batch():
    torch.manual_seed(0)
    x, y = separable(64, 0)
    network = PreferenceNet(8, (16,), dropout=0.0)
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-2)
    loss_fn = nn.BCEWithLogitsLoss(reduction="none")
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    first = train_step(network, optimizer, loss_fn, xt, yt)
    for _ in range(50):
        last = train_step(network, optimizer, loss_fn, xt, yt)
    assert last < first * 0.8


def test_metrics_handle_a_single_class():
    metrics = classification_metrics(np.array([1, 1]), np.array([0.9, 0.4]))
    assert metrics["accuracy"] == 0.5 and np.isnan(metrics["roc_auc"])


# --- the NumPy engine against autograd and torch.optim.Adam ---------------------------------------


class InjectedDropout(nn.Module):
    """Dropout whose multipliers the test sets, so both passes drop the same values."""

    def __init__(self):
        super().__init__()
        self.multipliers: torch.Tensor | None = None

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        return values * self.multipliers


def autograd_twin(network: PreferenceNet) -> tuple[PreferenceNet, list[InjectedDropout]]:
    """A copy of `network` whose hidden-layer dropouts take injected multipliers."""
    twin = copy.deepcopy(network)
    injected = []
    for index, module in enumerate(twin.layers):
        if type(module) is nn.Dropout and index > 0:
            twin.layers[index] = InjectedDropout()
            injected.append(twin.layers[index])
    return twin, injected


def flat_grads(network: nn.Module) -> torch.Tensor:
    return torch.cat([parameter.grad.reshape(-1) for parameter in network.parameters()])


def flat_values(network: nn.Module) -> torch.Tensor:
    return torch.cat([parameter.detach().reshape(-1) for parameter in network.parameters()])


@pytest.mark.parametrize(
    ("hidden_sizes", "dropout", "weight_decay"), [((64, 32, 16), 0.2, 1e-4), ((24, 8), 0.5, 1e-2), ((), 0.0, 0.0)]
)
def test_numpy_step_matches_autograd_and_torch_adam_over_hundreds_of_steps(hidden_sizes, dropout, weight_decay):
    # One thread, as in training: on a busy two-core machine torch's second thread makes every small op wait.
    with single_threaded():
        compare_numpy_steps_with_autograd(hidden_sizes, dropout, weight_decay)


def compare_numpy_steps_with_autograd(hidden_sizes, dropout, weight_decay):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 20)).astype("float32")
    y = (x[:, 0] - x[:, 1] + 0.5 * rng.normal(size=300) > 0).astype("float32")
    settings = TrainingSettings(batch_size=32, learning_rate=3e-3, weight_decay=weight_decay, hidden_sizes=hidden_sizes, dropout=dropout)
    torch.manual_seed(0)
    network = PreferenceNet(20, hidden_sizes, dropout)
    initial = flat_values(network)
    twin, injected = autograd_twin(network)
    engine = NumpyEngine(network, x, y, None, settings)
    # The original project's optimiser: torch.optim.Adam with its default (non-fused) implementation.
    optimizer = torch.optim.Adam(twin.parameters(), lr=settings.learning_rate, weight_decay=weight_decay)
    for step in range(300):
        rows = rng.choice(len(x), size=32 if step % 4 else 13, replace=False)
        inputs, labels = x[rows], y[rows].reshape(-1, 1)
        weights = rng.uniform(0.2, 3.0, size=len(rows)).astype("float32")
        shares = (weights / weights.sum()).reshape(-1, 1)
        keep = 1 - dropout
        masks = [((rng.random((len(rows), width)) < keep) / keep).astype("float32") for width in hidden_sizes] if dropout else None
        loss = engine.step(inputs, labels, shares, masks, want_loss=True)

        for module, mask in zip(injected, masks or []):
            module.multipliers = torch.from_numpy(mask)
        optimizer.zero_grad()
        losses = nn.functional.binary_cross_entropy_with_logits(twin(torch.from_numpy(inputs)), torch.from_numpy(labels[:, 0]), reduction="none")
        twin_loss = (losses * torch.from_numpy(shares[:, 0])).sum()
        twin_loss.backward()
        torch.testing.assert_close(engine.flat_grad, flat_grads(twin), rtol=1e-5, atol=3e-6)
        assert loss == pytest.approx(twin_loss.item(), rel=1e-5, abs=1e-6)
        optimizer.step()
        torch.testing.assert_close(engine.flat, flat_values(twin), rtol=1e-5, atol=3e-6)
    # The trained values reach the PreferenceNet module itself, parameter by parameter.
    engine.write_weights()
    for trained, reference in zip(network.parameters(), twin.parameters()):
        torch.testing.assert_close(trained, reference, rtol=1e-5, atol=3e-6)
    assert (flat_values(network) - initial).abs().max() > 0.05


def test_flat_adam_is_torch_fused_adam_bit_for_bit():
    generator = torch.Generator().manual_seed(0)
    values = torch.randn(500, generator=generator)
    reference = nn.Parameter(values.clone())
    optimizer = torch.optim.Adam([reference], lr=3e-3, weight_decay=1e-2, fused=True)
    grads = torch.zeros(500)
    adam = FlatAdam(values, grads, learning_rate=3e-3, weight_decay=1e-2)
    for _ in range(50):
        grads.copy_(torch.randn(500, generator=generator))
        reference.grad = grads.clone()
        adam.step()
        optimizer.step()
        assert torch.equal(values, reference.detach())


def test_numpy_epoch_weights_each_batch_by_sample_weight_share():
    x, y = separable(70, 4)
    weights = np.random.default_rng(0).uniform(0.1, 2.0, size=70).astype("float32")
    engine = NumpyEngine(PreferenceNet(8, (4,)), x, y, weights, TrainingSettings(batch_size=32))
    order = np.random.default_rng(1).permutation(70)
    shares = engine.batch_shares(order)
    for start, stop in [(0, 32), (32, 64), (64, 70)]:
        assert shares[start:stop].sum() == pytest.approx(1.0, rel=1e-6)
        np.testing.assert_allclose(shares[start:stop, 0], weights[order][start:stop] / weights[order][start:stop].sum(), rtol=1e-6)
    equal = NumpyEngine(PreferenceNet(8, (4,)), x, y, None, TrainingSettings(batch_size=32)).batch_shares(order)
    assert np.allclose(equal[:32], 1 / 32) and np.allclose(equal[64:], 1 / 6)


def test_numpy_epoch_loss_is_the_mean_row_loss_when_nothing_moves():
    x, y = separable(100, 6)
    torch.manual_seed(0)
    network = PreferenceNet(8, (16,), dropout=0.0)
    engine = NumpyEngine(network, x, y, None, TrainingSettings(batch_size=32, learning_rate=0.0, weight_decay=0.0))
    expected = nn.functional.binary_cross_entropy_with_logits(network(torch.from_numpy(x)), torch.from_numpy(y)).item()
    assert engine.train_epoch(record_loss=True) == pytest.approx(expected, rel=1e-5)
    assert np.isnan(engine.train_epoch(record_loss=False))


def batches_of_one_epoch(engine: NumpyEngine) -> list[tuple]:
    """What `train_epoch` hands to `step`, batch by batch (the step itself does nothing)."""
    seen = []

    def record(inputs, labels, shares, masks, want_loss):
        seen.append((inputs.copy(), labels.copy(), shares.copy(), None if masks is None else [mask.copy() for mask in masks]))
        return 0.0

    engine.step = record
    engine.train_epoch(record_loss=True)
    return seen


def test_numpy_epoch_visits_every_row_once_with_input_and_hidden_dropout():
    rng = np.random.default_rng(3)
    x = rng.uniform(1, 2, size=(100, 8)).astype("float32")
    y = (rng.random(100) < 0.5).astype("float32")
    engine = NumpyEngine(PreferenceNet(8, (4,), dropout=0.25, input_dropout=0.5), x, y, None, TrainingSettings(batch_size=32))
    batches = batches_of_one_epoch(engine)
    assert [len(inputs) for inputs, *_ in batches] == [32, 32, 32, 4]
    inputs = np.concatenate([batch[0] for batch in batches])
    labels = np.concatenate([batch[1] for batch in batches])[:, 0]
    assert sorted(labels) == sorted(y)
    # Input dropout: about half the values dropped, the rest the original value of that column times 2.
    kept = inputs != 0
    assert kept.mean() == pytest.approx(0.5, abs=0.05)
    for column in range(8):
        assert np.isin(inputs[kept[:, column], column] / 2, x[:, column]).all()
    # Hidden dropout: one multiplier per row and unit, 0 or 1 / 0.75.
    masks = np.concatenate([batch[3][0] for batch in batches])
    assert masks.shape == (100, 4) and set(np.unique(masks)) == {np.float32(0), np.float32(1 / 0.75)}
    np.testing.assert_allclose(np.concatenate([batch[2] for batch in batches])[:, 0], [1 / 32] * 96 + [1 / 4] * 4)


def test_numpy_epoch_adds_input_noise_of_the_configured_size():
    rng = np.random.default_rng(4)
    x = rng.uniform(1, 2, size=(1000, 8)).astype("float32")
    engine = NumpyEngine(PreferenceNet(8, (4,), dropout=0.0), x, np.zeros(1000, "float32"), None, TrainingSettings(input_noise=0.1))
    batches = batches_of_one_epoch(engine)
    assert all(batch[3] is None for batch in batches)
    inputs = np.concatenate([batch[0] for batch in batches])
    assert inputs.var() - x.var() == pytest.approx(0.1**2, abs=0.003)
    assert np.isin(inputs, x).mean() < 0.01  # virtually every value moved


def test_dropout_multipliers_follow_torch_dropout():
    engine = NumpyEngine(PreferenceNet(8), *separable(10, 0), None, TrainingSettings())
    multipliers = engine.dropout_multipliers((400, 250), 0.2)
    assert multipliers.dtype == np.float32
    assert set(np.unique(multipliers)) == {np.float32(0), np.float32(1 / 0.8)}
    assert (multipliers == 0).mean() == pytest.approx(0.2, abs=0.01)


# --- which engine trains, and the loop around it ----------------------------------------------------


def test_the_numpy_engine_is_the_default_for_every_recipe():
    from albumrec_pipeline.assets.model import TrainingConfig
    from albumrec_pipeline.core.evaluation import ALBUMREC_RECIPE, ORIGINAL_RECIPE

    assert TrainingSettings().engine == "numpy"
    assert ALBUMREC_RECIPE.settings.engine == ORIGINAL_RECIPE.settings.engine == "numpy"
    assert TrainingConfig().settings().engine == "numpy"
    x, y = separable(100, 8)
    outcome = train_preference_network(x, y, x, y, TrainingSettings(epochs=4, evaluate_every=2, input_dropout=0.2, input_noise=0.05))
    assert outcome.engine == "numpy" and not outcome.notes


def test_networks_the_numpy_pass_does_not_know_fall_back_to_autograd():
    assert numpy_engine_unsupported(PreferenceNet(8)) is None
    assert numpy_engine_unsupported(PreferenceNet(8, (), dropout=0.0, input_dropout=0.3)) is None
    relu = PreferenceNet(8, (4,))
    relu.layers[1] = nn.ReLU()
    assert "LeakyReLU" in numpy_engine_unsupported(relu)
    with pytest.raises(ValueError, match="cannot train"):
        NumpyEngine(relu, *separable(10, 0), None, TrainingSettings())
    # A dropout of 1 is one PreferenceNet can be built with: the trainer says so and uses autograd.
    x, y = separable(60, 9)
    outcome = train_preference_network(x, y, x, y, TrainingSettings(epochs=2, evaluate_every=1, dropout=1.0))
    assert outcome.engine == "autograd"
    assert outcome.notes[0].startswith("trained with autograd: a dropout probability of 1")
    assert train_preference_network(x, y, x, y, TrainingSettings(epochs=2, engine="autograd")).engine == "autograd"
    with pytest.raises(ValueError, match="unknown training engine"):
        train_preference_network(x, y, x, y, TrainingSettings(engine="jax"))


@pytest.mark.parametrize("engine", ENGINES)
def test_both_engines_learn_and_stop_early_keeping_the_best_validation_epoch(engine):
    x, y = separable(600, 1)
    xv, yv = separable(200, 2)
    settings = TrainingSettings(
        epochs=400, learning_rate=3e-3, evaluate_every=5, early_stopping_patience=4, engine=engine
    )
    outcome = train_preference_network(x, y, xv, yv, settings)
    assert outcome.engine == engine
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


@pytest.mark.parametrize("engine", ENGINES)
def test_refit_trains_on_all_rows_for_the_early_stopping_epoch_count(engine):
    x, y = separable(300, 10)
    xv, yv = separable(100, 11)
    artists = np.arange(300) % 40
    settings = TrainingSettings(epochs=300, learning_rate=3e-3, evaluate_every=5, early_stopping_patience=3, engine=engine)
    outcome = fit_preference_network(x, y, artists, xv, yv, np.arange(100) % 7, settings, artist_weighting=0.5, refit_on_all_rows=True)
    assert outcome.engine == engine
    history = outcome.history
    refit = history[history["phase"] == "refit"]
    assert refit["epoch"].iloc[-1] == outcome.epochs_run == outcome.best_epoch
    assert outcome.best_epoch == history.loc[history["phase"] == "early_stopping"].set_index("epoch")["validation_loss"].idxmin()
    assert "retrained on training and validation rows" in outcome.notes[-1]


@pytest.mark.parametrize("engine", ENGINES)
def test_training_is_deterministic_for_a_seed_with_either_engine(engine):
    x, y = separable(200, 3)
    settings = TrainingSettings(epochs=20, evaluate_every=5, early_stopping_patience=0, seed=7, input_dropout=0.1, engine=engine)
    first = train_preference_network(x, y, x, y, settings)
    second = train_preference_network(x, y, x, y, settings)
    assert first.history.equals(second.history)
    torch.testing.assert_close(flat_values(first.network), flat_values(second.network), rtol=0, atol=0)


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
