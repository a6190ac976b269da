"""The cross-validation report as a stored artifact: a summary table and its detail tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import pandas as pd

from albumrec_pipeline.storage.artifacts import StoredArtifact
from albumrec_pipeline.storage.atomic import read_parquet, write_parquet_atomic

if TYPE_CHECKING:
    from upath import UPath

DETAIL_TABLES = (
    "predictions", "confusion", "calibration", "roc", "training_histories", "training_seconds", "permutation_importance"
)


@dataclass
class EvaluationReport(StoredArtifact):
    tables: dict[str, pd.DataFrame]
    native_files: ClassVar[tuple[str, ...]] = tuple(f"{name}.parquet" for name in DETAIL_TABLES)

    def summary_table(self) -> pd.DataFrame:
        return self.tables["summary"]

    def save_native(self, folder: UPath) -> None:
        for name in DETAIL_TABLES:
            write_parquet_atomic(self.tables[name], folder / f"{name}.parquet")

    @classmethod
    def load(cls, summary: pd.DataFrame, folder: UPath) -> EvaluationReport:
        return cls({"summary": summary} | {name: read_parquet(folder / f"{name}.parquet") for name in DETAIL_TABLES})
