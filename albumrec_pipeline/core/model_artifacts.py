"""The fitted scaler and the trained network as stored artifacts (Parquet summary + native file)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import joblib
import numpy as np
import pandas as pd
import torch
from sklearn.preprocessing import MinMaxScaler

from albumrec_pipeline.core.network import PreferenceNet
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
    """A MinMaxScaler fitted on the training split only, with the columns it was fitted on."""

    scaler: MinMaxScaler
    native_files: ClassVar[tuple[str, ...]] = (SCALER_FILE,)

    @classmethod
    def fit(cls, train_features: pd.DataFrame) -> FittedScaler:
        return cls(MinMaxScaler().fit(train_features))

    @property
    def feature_columns(self) -> list[str]:
        return [str(name) for name in self.scaler.feature_names_in_]

    def transform(self, features: pd.DataFrame) -> np.ndarray:
        require_columns(features, self.feature_columns, "scaling")
        return self.scaler.transform(features[self.feature_columns]).astype("float32")

    def summary_table(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "feature": self.feature_columns,
                "data_min": self.scaler.data_min_,
                "data_max": self.scaler.data_max_,
                "scale": self.scaler.scale_,
                "offset": self.scaler.min_,
            }
        )

    def save_native(self, folder: UPath) -> None:
        buffer = io.BytesIO()
        joblib.dump(self.scaler, buffer)
        atomic_write_bytes(folder / SCALER_FILE, buffer.getvalue())

    @classmethod
    def load(cls, summary: pd.DataFrame, folder: UPath) -> FittedScaler:
        # joblib unpickles: only ever load a scaler that albumrec itself wrote into its own storage.
        scaler = joblib.load(io.BytesIO((folder / SCALER_FILE).read_bytes()))
        fitted = cls(scaler)
        if fitted.feature_columns != summary["feature"].tolist():
            raise FeatureSchemaError(f"{folder / SCALER_FILE} does not match its parameter table")
        return fitted


@dataclass
class TrainedPreferenceModel(StoredArtifact):
    """The network, the feature columns it reads (in order), its training history and metrics."""

    network: PreferenceNet
    feature_columns: list[str]
    history: pd.DataFrame
    metrics: dict[str, Any] = field(default_factory=dict)
    native_files: ClassVar[tuple[str, ...]] = (MODEL_FILE,)

    def like_probability(self, scaled_features: np.ndarray) -> np.ndarray:
        if scaled_features.shape[1] != self.network.input_size:
            raise FeatureSchemaError(
                f"the network reads {self.network.input_size} features, the rows have {scaled_features.shape[1]}"
            )
        return self.network.like_probability(torch.as_tensor(scaled_features, dtype=torch.float32)).numpy()

    def summary_table(self) -> pd.DataFrame:
        return self.history

    def save_native(self, folder: UPath) -> None:
        payload = {
            "state_dict": self.network.state_dict(),
            "feature_columns": list(self.feature_columns),
            "hidden_sizes": list(self.network.hidden_sizes),
            "dropout": float(self.network.dropout),
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
        network = PreferenceNet(len(columns), payload["hidden_sizes"], payload["dropout"])
        network.load_state_dict(payload["state_dict"])
        network.eval()
        return cls(network, columns, summary, dict(payload.get("metrics", {})))
