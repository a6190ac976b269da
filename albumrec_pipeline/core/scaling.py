"""Input scaling methods for the network, all fitted on training rows only."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, QuantileTransformer, StandardScaler

SCALING_METHODS = ("minmax", "standard", "quantile", "piecewise")


class PiecewiseLinearEncoder(BaseEstimator, TransformerMixin):
    """Each feature becomes `bins` inputs: 1 for every training-quantile bin wholly below the
    value, the fraction of the bin the value reaches, 0 above it.

    A linear layer on this encoding can draw any piecewise-linear curve per feature, which is
    what lets gradient-boosted trees follow thresholds (a release-year band, a bpm range)
    that a network on one scalar per feature struggles to learn from a thousand rows.
    """

    def __init__(self, bins: int = 8):
        self.bins = bins

    def fit(self, features: np.ndarray, labels: object = None) -> PiecewiseLinearEncoder:
        features = np.asarray(features, dtype="float64")
        quantiles = np.linspace(0, 1, self.bins + 1)
        self.edges_ = [np.unique(np.quantile(column, quantiles)) for column in features.T]
        self.n_features_in_ = features.shape[1]
        return self

    def output_names(self, columns: list[str]) -> list[str]:
        names = []
        for column, edges in zip(columns, self.edges_, strict=True):
            bins = max(len(edges) - 1, 1)
            names += [f"{column}[{index + 1}/{bins}]" for index in range(bins)]
        return names

    def transform(self, features: np.ndarray) -> np.ndarray:
        features = np.asarray(features, dtype="float64")
        encoded = []
        for column, edges in zip(features.T, self.edges_, strict=True):
            if len(edges) < 2:  # a constant column carries nothing
                encoded.append(np.zeros((len(column), 1)))
                continue
            low, high = edges[:-1], edges[1:]
            encoded.append(np.clip((column[:, None] - low) / (high - low), 0.0, 1.0))
        return np.hstack(encoded)


def _clip(values: np.ndarray) -> np.ndarray:
    return np.clip(values, -5.0, 5.0)


def output_names(transformer: TransformerMixin, columns: list[str]) -> list[str]:
    """Names of the network inputs a fitted transformer produces from `columns`."""
    if isinstance(transformer, PiecewiseLinearEncoder):
        return transformer.output_names(columns)
    return list(columns)


def base_feature(input_name: str) -> str:
    """The feature column an input name comes from (`bpm[2/4]` -> `bpm`)."""
    return input_name.split("[", 1)[0]


def make_scaler(method: str) -> TransformerMixin:
    """`minmax` is the original project's; `standard` z-scores and clips outliers at 5 sigma;
    `quantile` maps each feature through its training quantiles onto a normal distribution,
    which tames the heavy tails of spectral roll-off and of the classifier probabilities."""
    if method == "minmax":
        return MinMaxScaler()
    if method == "standard":
        return make_pipeline(StandardScaler(), FunctionTransformer(_clip, feature_names_out="one-to-one"))
    if method == "piecewise" or method.startswith("piecewise:"):
        bins = int(method.partition(":")[2] or 8)
        return PiecewiseLinearEncoder(bins)
    if method == "quantile":
        return QuantileTransformer(n_quantiles=200, output_distribution="normal", random_state=0)
    raise ValueError(f"unknown scaling method {method!r}; choose one of {SCALING_METHODS}")
