"""Asset values that are more than a table: a fitted scaler, a trained network, report bundles.

Each one has a summary table, which the IO manager writes as the asset's Parquet file, and
native files that live in a folder beside it (`<asset>.parquet` + `<asset>/...`). The IO
manager writes the native files first and the Parquet file last, so the Parquet file is the
commit marker: if it is there, the native files beside it are complete.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar, Self

if TYPE_CHECKING:
    import pandas as pd
    from upath import UPath


class StoredArtifact(ABC):
    # Names of the native files, shown in the asset's metadata.
    native_files: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def summary_table(self) -> pd.DataFrame: ...

    @abstractmethod
    def save_native(self, folder: UPath) -> None: ...

    @classmethod
    @abstractmethod
    def load(cls, summary: pd.DataFrame, folder: UPath) -> Self: ...
