"""Why the network likes what it likes: permutation importance and per-album explanations."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from albumrec_pipeline.core.feature_labels import feature_label
from albumrec_pipeline.core.network import PreferenceNet
from albumrec_pipeline.core.scaling import base_feature


def permutation_importance(
    predict: Callable[[np.ndarray], np.ndarray],
    features: np.ndarray,
    labels: np.ndarray,
    feature_names: list[str],
    repeats: int = 3,
    seed: int = 0,
) -> pd.DataFrame:
    """Drop in ROC-AUC when one feature's values are shuffled across rows, averaged over repeats.

    Computed on rows the model did not train on, it says which features the model relies on to
    tell liked from disliked for new artists; unlike weight magnitudes it accounts for scaling
    and for what the later layers do with a feature.
    """
    rng = np.random.default_rng(seed)
    reference = roc_auc_score(labels, predict(features))
    rows = []
    for column, name in enumerate(feature_names):
        drops = []
        for _ in range(repeats):
            shuffled = features.copy()
            shuffled[:, column] = rng.permutation(shuffled[:, column])
            drops.append(reference - roc_auc_score(labels, predict(shuffled)))
        rows.append({"feature": name, "auc_drop": float(np.mean(drops)), "auc_drop_std": float(np.std(drops))})
    return pd.DataFrame(rows).sort_values("auc_drop", ascending=False, ignore_index=True)


def input_attributions(
    networks: PreferenceNet | list[PreferenceNet], inputs: np.ndarray, baseline: np.ndarray
) -> np.ndarray:
    """Gradient x (input - baseline) of the like-logit for every row and network input,
    averaged over an ensemble's members.

    A first-order account of how far each input moved a track's score away from that of an
    average training track (the baseline).
    """
    members = networks if isinstance(networks, list) else [networks]
    offsets = torch.as_tensor(inputs - baseline, dtype=torch.float32)
    total = np.zeros(inputs.shape, dtype="float64")
    for network in members:
        network.eval()
        tensor = torch.as_tensor(inputs, dtype=torch.float32).requires_grad_(True)
        network(tensor).sum().backward()
        total += (tensor.grad * offsets).numpy()
    return total / len(members)


def album_lifts(
    album_tracks: pd.DataFrame,
    album_inputs: np.ndarray,
    networks: PreferenceNet | list[PreferenceNet],
    input_names: list[str],
    training_inputs: np.ndarray,
) -> pd.DataFrame:
    """Per album (`release_id`, in order of first appearance) and feature (a feature's encoding
    bins added up): the mean lift of its tracks' like-logit against an average training track."""
    attributions = input_attributions(networks, album_inputs, training_inputs.mean(axis=0))
    by_feature = pd.DataFrame(attributions, columns=input_names).T.groupby(lambda name: base_feature(name)).sum().T
    by_feature["release_id"] = album_tracks["release_id"].to_numpy()
    return by_feature.groupby("release_id", sort=False).mean()


def explain_albums(
    album_tracks: pd.DataFrame,
    album_inputs: np.ndarray,
    lifts: pd.DataFrame,
    liked_training_tracks: pd.DataFrame,
    liked_training_inputs: np.ndarray,
    top: int = 3,
) -> pd.DataFrame:
    """Per album (`release_id`): the features that lifted its tracks most (`lifts`, from
    `album_lifts`), in words (`lifted_by`) and by column name (`lifting_features`), and the liked
    training tracks nearest to the album's average track in the network's input space ("sounds like")."""
    centroids = pd.DataFrame(album_inputs).groupby(album_tracks["release_id"].to_numpy(), sort=False).mean()
    labels = (liked_training_tracks["artist"].astype("str") + " - " + liked_training_tracks["recording_title"].fillna("?").astype("str")).to_numpy()
    rows = []
    for release_id, album in lifts.iterrows():
        strongest = album.sort_values(ascending=False).head(top)
        strongest = strongest[strongest > 0]
        distances = np.linalg.norm(liked_training_inputs - centroids.loc[release_id].to_numpy(), axis=1)
        nearest = np.argsort(distances)[:top]
        rows.append(
            {
                "release_id": release_id,
                "lifted_by": ", ".join(f"{feature_label(name)} (+{value:.2f})" for name, value in strongest.items()),
                "lifting_features": ", ".join(strongest.index),
                "sounds_like": "; ".join(labels[nearest]),
                "nearest_distance": float(distances[nearest[0]]) if len(nearest) else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=["release_id", "lifted_by", "lifting_features", "sounds_like", "nearest_distance"])
