"""One IO manager for every albumrec asset: Parquet tables on any fsspec filesystem."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pandas as pd
from upath import UPath

from albumrec_pipeline.core.previews import table_metadata
from albumrec_pipeline.settings import WAREHOUSE_DIR
from albumrec_pipeline.storage.artifacts import StoredArtifact, load_artifact, save_artifact
from albumrec_pipeline.storage.atomic import atomic_move_file, read_parquet, write_parquet_atomic
from albumrec_pipeline.storage.tables import PresentTableFiles, StagedTable, TableFiles


def _wants_present_only(context: dg.InputContext) -> bool:
    wanted = context.dagster_type.typing_type
    return isinstance(wanted, type) and issubclass(wanted, PresentTableFiles)


def _wants_files(context: dg.InputContext) -> bool:
    wanted = context.dagster_type.typing_type
    return isinstance(wanted, type) and issubclass(wanted, TableFiles)


class ParquetUPathIOManager(dg.UPathIOManager):
    """Writes DataFrames as `<base>/<asset>.parquet`; artifacts add native files in `<base>/<asset>/`.

    A partitioned asset's partitions are `<base>/<asset>/<partition>.parquet`. An input annotated
    `TableFiles` receives the files rather than their contents, so large tables are read in
    batches by the asset itself.
    """

    extension = ".parquet"

    def __init__(self, base_path: UPath):
        super().__init__(base_path=base_path)
        # Where the tables live, for what is recorded beside them (a refused model's verdict).
        self.warehouse = base_path

    def dump_to_path(self, context: dg.OutputContext, obj: Any, path: UPath) -> None:
        if isinstance(obj, StagedTable):
            atomic_move_file(obj.close().path, path)
            return
        if isinstance(obj, StoredArtifact):
            # Native files first, summary last, renamed back to back: see storage.artifacts.
            save_artifact(obj, path)
            return
        if not isinstance(obj, pd.DataFrame):
            raise TypeError(
                f"{context.asset_key.to_user_string()} returned {type(obj).__name__}; "
                "albumrec stores DataFrames, StagedTables and StoredArtifact values only"
            )
        write_parquet_atomic(obj, path)

    def load_input(self, context: dg.InputContext) -> Any:
        # An asset's first partition has no earlier partitions: Dagster would pass None.
        if _wants_present_only(context) and context.has_asset_partitions and not context.asset_partition_keys:
            return PresentTableFiles(())
        return super().load_input(context)

    def load_partitions(self, context: dg.InputContext) -> Any:
        if not _wants_files(context):
            return super().load_partitions(context)
        paths = self._get_paths_for_partitions(context)
        present = {key: path for key, path in sorted(paths.items()) if path.exists()}
        missing = tuple(key for key in sorted(paths) if key not in present)
        if _wants_present_only(context):
            return PresentTableFiles(tuple(present.values()), missing)
        if not present:
            raise FileNotFoundError(
                f"no partition of {context.asset_key.to_user_string()} is materialized under "
                f"{self._base_path}: run its ingest job first"
            )
        if missing:
            context.log.warning(
                f"{context.asset_key.to_user_string()}: {len(missing)} partition(s) not materialized and left out: "
                + ", ".join(missing[:10])
            )
        return TableFiles(tuple(present.values()), missing)

    def load_from_path(self, context: dg.InputContext, path: UPath) -> Any:
        if _wants_files(context):
            if not path.exists():
                raise FileNotFoundError(f"{path} does not exist: materialize {context.asset_key.to_user_string()} first")
            return TableFiles((path,))
        if not path.exists():
            raise FileNotFoundError(
                f"{path} does not exist: materialize {context.asset_key.to_user_string()} first"
            )
        wanted = context.dagster_type.typing_type
        if isinstance(wanted, type) and issubclass(wanted, StoredArtifact) and wanted is not StoredArtifact:
            return load_artifact(wanted, path)
        return read_parquet(path, *self._asset_and_partition(context, path))

    def _asset_and_partition(self, context: dg.InputContext, path: UPath) -> tuple[str | None, str | None]:
        """Whose file `path` is, for the error when it cannot be read: the path alone cannot tell
        `<base>/<asset>/<partition>.parquet` from an unpartitioned asset in a folder."""
        if not context.has_asset_key:
            return None, None
        asset = context.asset_key.to_user_string()
        if not context.has_asset_partitions:
            return asset, None
        folder, name = f"{self._get_path_without_extension(context)}/", str(path)
        partition = name[len(folder):].removesuffix(self.extension) if name.startswith(folder) else path.stem
        return asset, partition

    def get_metadata(self, context: dg.OutputContext, obj: Any) -> dict[str, Any]:
        if isinstance(obj, StagedTable):
            return obj.metadata()
        if isinstance(obj, pd.DataFrame):
            return table_metadata(obj)
        if isinstance(obj, StoredArtifact):
            metadata = table_metadata(obj.summary_table())
            metadata["native_files"] = dg.MetadataValue.text(", ".join(obj.native_files))
            return metadata
        return {}


class ParquetWarehouse(dg.ConfigurableIOManagerFactory):
    """Parquet storage rooted at `base_path`: a local folder or any fsspec URL (s3://bucket/prefix)."""

    base_path: str = str(WAREHOUSE_DIR)

    def create_io_manager(self, context: dg.InitResourceContext) -> ParquetUPathIOManager:
        return ParquetUPathIOManager(base_path=UPath(self.base_path))
