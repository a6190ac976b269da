"""The fitted scaler and the trained network as stored artifacts (Parquet summary + native file)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import joblib
import numpy as np
import pandas as pd
import torch

from albumrec_pipeline.core.network import PreferenceNet
from albumrec_pipeline.core.scaling import make_scaler, output_names
from albumrec_pipeline.storage.artifacts import StoredArtifact
from albumrec_pipeline.storage.atomic import atomic_write_bytes

if TYPE_CHECKING:
    from upath import UPath

SCALER_FILE = "scaler.joblib"
MODEL_FILE = "song_pref_model_weights.pth"


class FeatureSchemaError(ValueError):
    """Rows, scaler and network do not agree on the feature columns."""


def require_columns(frame: pd.DataFrame, expected: list[str], what: str) -> None:
    missing = [column for column in expected if column not in frame.columns]
    if missing:
        raise FeatureSchemaError(f"{what}: {len(missing)} feature column(s) missing, e.g. {missing[:5]}")


@dataclass
class FittedScaler(StoredArtifact):
    """The input transformation, fitted on the training split only, and the columns it reads.

    `method` is one of `core.scaling.SCALING_METHODS`: the original project's `minmax`, or a
    transformation that suits the network better (see the README's model section).
    """

    transformer: Any
    feature_columns: list[str]
    method: str
    training_statistics: pd.DataFrame
    native_files: ClassVar[tuple[str, ...]] = (SCALER_FILE,)

    @classmethod
    def fit(cls, train_features: pd.DataFrame, method: str = "minmax") -> FittedScaler:
        values = train_features.to_numpy(dtype="float64")
        statistics = pd.DataFrame(
            {
                "feature": list(train_features.columns),
                "data_min": values.min(axis=0),
                "data_max": values.max(axis=0),
                "data_mean": values.mean(axis=0),
            }
        )
        return cls(make_scaler(method).fit(values), list(train_features.columns), method, statistics)

    @property
    def input_names(self) -> list[str]:
        """The network's inputs: one per feature, or one per bin for the piecewise encoding."""
        return output_names(self.transformer, self.feature_columns)

    def transform(self, features: pd.DataFrame) -> np.ndarray:
        require_columns(features, self.feature_columns, "scaling")
        return self.transformer.transform(features[self.feature_columns].to_numpy(dtype="float64")).astype("float32")

    def summary_table(self) -> pd.DataFrame:
        return self.training_statistics.assign(method=self.method)

    def save_native(self, folder: UPath) -> None:
        buffer = io.BytesIO()
        joblib.dump(self.transformer, buffer)
        atomic_write_bytes(folder / SCALER_FILE, buffer.getvalue())

    @classmethod
    def load(cls, summary: pd.DataFrame, folder: UPath) -> FittedScaler:
        # joblib unpickles: only ever load a scaler that albumrec itself wrote into its own storage.
        transformer = joblib.load(io.BytesIO((folder / SCALER_FILE).read_bytes()))
        columns = summary["feature"].tolist()
        if getattr(transformer, "n_features_in_", len(columns)) != len(columns):
            raise FeatureSchemaError(f"{folder / SCALER_FILE} does not match its parameter table")
        return cls(transformer, columns, str(summary["method"].iloc[0]), summary.drop(columns="method"))


@dataclass
class TrainedPreferenceModel(StoredArtifact):
    """The network, the feature columns it reads (in order), its training history and metrics.

    `feature_columns` are the raw columns (as in the enriched CSV) the scaler turns into the
    network's inputs; `input_names` name those inputs (one per feature, or per encoding bin).
    """

    network: PreferenceNet
    feature_columns: list[str]
    history: pd.DataFrame
    metrics: dict[str, Any] = field(default_factory=dict)
    input_names: list[str] = field(default_factory=list)
    # Further members of an ensemble; `network` is the first. Predictions average all members.
    more_networks: list[PreferenceNet] = field(default_factory=list)
    native_files: ClassVar[tuple[str, ...]] = (MODEL_FILE,)

    @property
    def networks(self) -> list[PreferenceNet]:
        return [self.network, *self.more_networks]

    def like_probability(self, scaled_features: np.ndarray) -> np.ndarray:
        if scaled_features.shape[1] != self.network.input_size:
            raise FeatureSchemaError(
                f"the network reads {self.network.input_size} features, the rows have {scaled_features.shape[1]}"
            )
        inputs = torch.as_tensor(scaled_features, dtype=torch.float32)
        return np.mean([network.like_probability(inputs).numpy() for network in self.networks], axis=0)

    def summary_table(self) -> pd.DataFrame:
        return self.history

    def save_native(self, folder: UPath) -> None:
        payload = {
            "state_dicts": [network.state_dict() for network in self.networks],
            "feature_columns": list(self.feature_columns),
            "input_names": list(self.input_names or self.feature_columns),
            "input_size": int(self.network.input_size),
            "hidden_sizes": list(self.network.hidden_sizes),
            "dropout": float(self.network.dropout),
            "input_dropout": float(self.network.input_dropout),
            "metrics": {key: float(value) for key, value in self.metrics.items()},
        }
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        atomic_write_bytes(folder / MODEL_FILE, buffer.getvalue())

    @classmethod
    def load(cls, summary: pd.DataFrame, folder: UPath) -> TrainedPreferenceModel:
        # weights_only: the file is tensors, strings and numbers; nothing in it gets to run code.
        payload = torch.load(io.BytesIO((folder / MODEL_FILE).read_bytes()), weights_only=True)
        columns = list(payload["feature_columns"])
        networks = []
        for state in payload["state_dicts"]:
            network = PreferenceNet(
                int(payload["input_size"]), payload["hidden_sizes"], payload["dropout"], payload["input_dropout"]
            )
            network.load_state_dict(state)
            network.eval()
            networks.append(network)
        return cls(
            networks[0], columns, summary, dict(payload.get("metrics", {})), list(payload["input_names"]), networks[1:]
        )
