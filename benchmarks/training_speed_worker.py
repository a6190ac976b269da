"""One round of training-speed measurements, in a process of its own, for `model_quality.py --speed-only`.

    python benchmarks/training_speed_worker.py --package-root PATH --reference CSV --output FILE

It imports `albumrec_pipeline` from `--package-root` (this checkout, or a worktree of an earlier
revision), so the same measurements run against the code before and after a change. It writes
JSON: for each measurement the wall-clock seconds, the CPU seconds of this process and the
held-out ROC-AUC of what was trained (the same rows either way, so a faster trainer that learns
less shows). Measurements:

* `refresh`: what a refresh's `preference_model` trains: albumrec's recipe (an ensemble of five,
  early stopping on the validation artists, then a refit on train + validation) on the reference
  data's own train / validation / test split with the `full` feature set and genre tags.
* `one_network`: the original configuration (min-max scaling, every encoded column, batch 32,
  lr 0.001, 1,000 epochs, no early stopping), one network.
* `evaluation`: `model_evaluation`'s cross-validation, artist-grouped, 5 folds: albumrec's
  network, the original network and the two baselines (`--evaluation`; it takes minutes).
* with `--baselines`, the one-network run by two references that do not depend on the revision:
  the original notebook's per-batch pandas loop in one thread, and plain autograd over tensors
  prepared once, in one thread.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score
from torch import nn


def timed(function):
    wall, cpu = time.perf_counter(), time.process_time()
    auc = function()
    return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu, "auc": auc}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--package-root", type=Path, required=True)
    parser.add_argument("--reference", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--evaluation", action="store_true")
    parser.add_argument("--baselines", action="store_true")
    arguments = parser.parse_args()
    sys.path.insert(0, str(arguments.package_root.resolve()))
    # Imported only now, from the package root given.
    from albumrec_pipeline.core import training
    from albumrec_pipeline.core.dataset import clean_dataset
    from albumrec_pipeline.core.evaluation import (
        ALBUMREC_RECIPE,
        ORIGINAL_RECIPE,
        ModelInputs,
        cross_validate_table,
    )
    from albumrec_pipeline.core.feature_sets import complete_rows, feature_set_columns
    from albumrec_pipeline.core.model_artifacts import FittedScaler
    from albumrec_pipeline.core.tags import TagVocabulary

    table, _ = clean_dataset(pd.read_csv(arguments.reference))
    # Building the first optimiser imports torch's compiler package (about a second, once per
    # process); do it before any clock starts.
    torch.optim.Adam([nn.Parameter(torch.zeros(1))])
    results: dict[str, dict[str, float]] = {"package": {"root": str(arguments.package_root)}}

    full = feature_set_columns("full")
    usable = table[complete_rows(table, full)]
    parts = {name: usable[usable["split"] == name] for name in ("train", "validation", "test")}
    recipe = ALBUMREC_RECIPE
    scaler = FittedScaler.fit(
        parts["train"][full], recipe.scaling, TagVocabulary.fit(parts["train"], parts["train"]["artist"].to_numpy(), 2)
    )
    scaled = {name: scaler.transform(part) for name, part in parts.items()}
    labels = {name: part["liked"].to_numpy() for name, part in parts.items()}
    artists = {name: part["artist"].to_numpy() for name, part in parts.items()}

    def refresh() -> float:
        arguments_ = (
            scaled["train"], labels["train"], artists["train"], scaled["validation"], labels["validation"], artists["validation"]
        )
        if hasattr(training, "train_ensemble"):
            networks = training.train_ensemble(
                *arguments_, recipe.settings, recipe.ensemble_size, recipe.artist_weighting, recipe.refit_on_all_rows
            ).networks
        else:
            # Earlier revisions: preference_model trained the members one after another.
            networks = [
                training.fit_preference_network(
                    *arguments_, replace(recipe.settings, seed=recipe.settings.seed + 1000 * member),
                    recipe.artist_weighting, recipe.refit_on_all_rows,
                ).network
                for member in range(recipe.ensemble_size)
            ]
        test = torch.tensor(scaled["test"], dtype=torch.float32)
        probability = np.mean([network.like_probability(test).numpy() for network in networks], axis=0)
        return float(roc_auc_score(labels["test"], probability))

    results["refresh"] = timed(refresh)

    # The original configuration on the original inputs, split as the quality table's first fold.
    every = feature_set_columns("all")
    from sklearn.model_selection import StratifiedGroupKFold
    from sklearn.preprocessing import MinMaxScaler

    fold_labels = table["liked"].to_numpy()
    train_index, test_index = next(
        StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=0).split(table, fold_labels, table["artist"])
    )
    minmax = MinMaxScaler().fit(table[every].to_numpy()[train_index])
    matrix = minmax.transform(table[every].to_numpy()).astype("float32")
    x_train, y_train = matrix[train_index], fold_labels[train_index].astype("float32")
    x_test, y_test = matrix[test_index], fold_labels[test_index]
    original = replace(ORIGINAL_RECIPE.settings, epochs=arguments.epochs, early_stopping_patience=0, evaluate_every=arguments.epochs)

    def held_out_auc(network) -> float:
        return float(roc_auc_score(y_test, network.like_probability(torch.tensor(x_test)).numpy()))

    def one_network() -> float:
        outcome = training.train_preference_network(x_train, y_train, x_test[:1], y_test[:1].astype("float32"), original)
        return held_out_auc(outcome.network)

    results["one_network"] = timed(one_network)

    if arguments.baselines:
        from albumrec_pipeline.core.network import PreferenceNet

        frame = pd.DataFrame(x_train, columns=every).assign(liked=y_train)

        def per_batch_pandas_loop() -> float:
            # The original notebook's loop: shuffle the DataFrame each epoch, slice it per batch and
            # build tensors from the slice, sigmoid + BCELoss, Adam; here in one thread.
            torch.manual_seed(0)
            network = PreferenceNet(len(every))
            optimizer = torch.optim.Adam(network.parameters(), lr=1e-3, weight_decay=1e-4)
            loss_fn = nn.BCELoss()
            for epoch in range(arguments.epochs):
                network.train()
                shuffled = frame.sample(frac=1.0, random_state=epoch)
                for start in range(0, len(shuffled), 32):
                    batch = shuffled.iloc[start : start + 32]
                    features = torch.tensor(batch[every].values, dtype=torch.float32)
                    target = torch.tensor(batch["liked"].values, dtype=torch.float32)
                    optimizer.zero_grad()
                    loss_fn(torch.sigmoid(network(features)), target).backward()
                    optimizer.step()
            return held_out_auc(network.eval())

        def plain_autograd() -> float:
            # The textbook loop over tensors built once: one network, autograd, fused Adam.
            torch.manual_seed(0)
            network = PreferenceNet(len(every))
            optimizer = torch.optim.Adam(network.parameters(), lr=1e-3, weight_decay=1e-4, fused=True)
            x, y = torch.tensor(x_train), torch.tensor(y_train)
            generator = torch.Generator().manual_seed(0)
            for _ in range(arguments.epochs):
                network.train()
                order = torch.randperm(len(x), generator=generator)
                for start in range(0, len(x), 32):
                    batch = order[start : start + 32]
                    optimizer.zero_grad(set_to_none=True)
                    nn.functional.binary_cross_entropy_with_logits(network(x[batch]), y[batch]).backward()
                    optimizer.step()
            return held_out_auc(network.eval())

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            results["per_batch_pandas_loop"] = timed(per_batch_pandas_loop)
            results["plain_autograd"] = timed(plain_autograd)
        finally:
            torch.set_num_threads(threads)
        if hasattr(training, "train_networks"):

            def five_together() -> float:
                outcomes = training.train_networks(x_train, y_train, x_test[:1], y_test[:1].astype("float32"), original, members=5)
                return float(np.mean([held_out_auc(outcome.network) for outcome in outcomes]))

            results["five_networks_together"] = timed(five_together)

    if arguments.evaluation:
        inputs = ModelInputs(tuple(full), tags=True)
        read = sorted(set(full) | set(every))

        def evaluation() -> float:
            result = cross_validate_table(
                table[complete_rows(table, read)],
                {"network": ALBUMREC_RECIPE, "original_network": ORIGINAL_RECIPE},
                {"network": inputs, "original_network": every},
                baseline_columns=inputs, folds=5, seed=0, groupings=("artist",),
            )
            network = result.predictions[result.predictions["model"] == "network"]
            return float(roc_auc_score(network["label"], network["probability"]))

        results["evaluation"] = timed(evaluation)
    arguments.output.write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
