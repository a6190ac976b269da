import numpy as np
import torch
from torch import nn

from albumrec_pipeline.core.network import PreferenceNet
from albumrec_pipeline.core.training import TrainingSettings, classification_metrics, train_preference_network, train_step


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


def test_training_learns_and_stops_early_keeping_the_best_validation_epoch():
    x, y = separable(600, 1)
    xv, yv = separable(200, 2)
    settings = TrainingSettings(epochs=400, batch_size=32, learning_rate=3e-3, evaluate_every=5, early_stopping_patience=4)
    outcome = train_preference_network(x, y, xv, yv, settings)
    metrics = classification_metrics(yv, outcome.network.like_probability(torch.as_tensor(xv)).numpy())
    assert metrics["accuracy"] > 0.9 and metrics["roc_auc"] > 0.95
    history = outcome.history
    assert list(history.columns[:3]) == ["epoch", "epoch_train_loss", "train_loss"]
    best_row = history.loc[history["validation_loss"].idxmin()]
    assert outcome.best_epoch == best_row["epoch"]
    if outcome.epochs_run < settings.epochs:
        assert outcome.notes and "stopped early" in outcome.notes[0]


def test_training_is_deterministic_for_a_seed():
    x, y = separable(200, 3)
    settings = TrainingSettings(epochs=20, evaluate_every=5, early_stopping_patience=0, seed=7)
    first = train_preference_network(x, y, x, y, settings)
    second = train_preference_network(x, y, x, y, settings)
    assert first.history.equals(second.history)


def test_metrics_handle_a_single_class():
    metrics = classification_metrics(np.array([1, 1]), np.array([0.9, 0.4]))
    assert metrics["accuracy"] == 0.5 and np.isnan(metrics["roc_auc"])
