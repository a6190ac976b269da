"""What the network learned, in tables: weights, biases and how much each input matters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import pandas as pd

from albumrec_pipeline.core.feature_columns import feature_group
from albumrec_pipeline.core.feature_labels import with_feature_labels
from albumrec_pipeline.core.network import PreferenceNet
from albumrec_pipeline.core.scaling import base_feature
from albumrec_pipeline.storage.artifacts import StoredArtifact
from albumrec_pipeline.storage.atomic import read_parquet, write_parquet_atomic

if TYPE_CHECKING:
    from upath import UPath

TOP_FEATURES = 10


def layer_input_names(network: PreferenceNet, feature_columns: list[str]) -> list[list[str]]:
    """Names of each linear layer's inputs: features for the first, hidden units after that."""
    names = [list(feature_columns)]
    for index, layer in enumerate(network.linear_layers()[:-1], start=1):
        names.append([f"layer_{index}_unit_{unit}" for unit in range(layer.out_features)])
    return names


def weight_report_tables(
    networks: PreferenceNet | list[PreferenceNet], feature_columns: list[str]
) -> dict[str, pd.DataFrame]:
    """Per layer: weights (long form), biases, and mean-|w| importance of each input.

    The importance of an input is the mean absolute weight leaving it; normalised importance
    divides by the layer's total so the values sum to 1 within a layer. `feature_columns` name
    the first layer's inputs; when a feature is encoded as several inputs (`bpm[1/4]` ...), the
    feature-level tables add up its inputs' importance. For an ensemble, weights and biases are
    listed per member and importance is averaged over the members.
    """
    members = networks if isinstance(networks, list) else [networks]
    weights, biases, importance = [], [], []
    for member, network in enumerate(members):
        for number, (layer, inputs) in enumerate(
            zip(network.linear_layers(), layer_input_names(network, feature_columns), strict=True), start=1
        ):
            matrix = layer.weight.detach().numpy()
            for unit in range(matrix.shape[0]):
                weights.append(
                    pd.DataFrame({"member": member, "layer": number, "output_unit": unit, "input": inputs, "weight": matrix[unit]})
                )
            biases.append(
                pd.DataFrame({"member": member, "layer": number, "unit": range(matrix.shape[0]), "bias": layer.bias.detach().numpy()})
            )
            mean_abs = abs(matrix).mean(axis=0)
            importance.append(
                pd.DataFrame(
                    {
                        "layer": number,
                        "input": inputs,
                        "mean_abs_weight": mean_abs,
                        "normalized_importance": mean_abs / mean_abs.sum(),
                    }
                )
            )
    layer_importance = (
        pd.concat(importance, ignore_index=True)
        .groupby(["layer", "input"], as_index=False, sort=False)[["mean_abs_weight", "normalized_importance"]]
        .mean()
    )
    first_inputs = layer_importance[layer_importance["layer"] == 1].assign(feature=lambda t: t["input"].map(base_feature))
    first = first_inputs.groupby("feature", as_index=False, sort=False)[["mean_abs_weight", "normalized_importance"]].sum()
    first.insert(1, "group", first["feature"].map(feature_group))
    first = with_feature_labels(first)
    first = first.sort_values("normalized_importance", ascending=False)
    first.insert(0, "rank", range(1, len(first) + 1))
    grouped = (
        first.groupby("group", as_index=False)
        .agg(features=("feature", "size"), total_importance=("normalized_importance", "sum"))
        .assign(mean_importance_per_feature=lambda table: table["total_importance"] / table["features"])
        .sort_values("total_importance", ascending=False)
    )
    return {
        "feature_importance": first.reset_index(drop=True),
        "grouped_importance": grouped.reset_index(drop=True),
        "top_features": first.head(TOP_FEATURES).reset_index(drop=True),
        "layer_importance": layer_importance,
        "layer_weights": pd.concat(weights, ignore_index=True),
        "layer_biases": pd.concat(biases, ignore_index=True),
    }


@dataclass
class WeightReports(StoredArtifact):
    """The report tables; the first layer's feature importance is the asset's own Parquet file."""

    tables: dict[str, pd.DataFrame]
    native_files: ClassVar[tuple[str, ...]] = tuple(
        f"{name}.parquet"
        for name in ("grouped_importance", "top_features", "layer_importance", "layer_weights", "layer_biases")
    )

    def summary_table(self) -> pd.DataFrame:
        return self.tables["feature_importance"]

    def save_native(self, folder: UPath) -> None:
        for file_name in self.native_files:
            write_parquet_atomic(self.tables[file_name.removesuffix(".parquet")], folder / file_name)

    @classmethod
    def load(cls, summary: pd.DataFrame, folder: UPath) -> WeightReports:
        tables = {"feature_importance": summary}
        for file_name in cls.native_files:
            tables[file_name.removesuffix(".parquet")] = read_parquet(folder / file_name)
        return cls(tables)
