"""Score tracks with a materialized taste model, outside Dagster.

    from albumrec_pipeline.scoring import load_taste_model

    model = load_taste_model()                 # or load_taste_model("s3://bucket/albumrec")
    probabilities = model.like_probability(rows)

`rows` is a DataFrame of raw feature rows with the columns of the original project's enriched
CSV (`mbid, danceable, genre_dortmund_alternative, ..., mfcc_13, release_year, ...`); extra
columns are ignored. A model with genre-tag inputs also reads the `genre` text column (and
`musicbrainz_tags` when present; empty values mean "no tags"). The result holds one
like-probability per row, in row order; when the rows have an `artist` column, each is pooled with
the same artist's other rows as the pipeline pools them (`pool_by_artist=False` for the network's
own score).
Rows or models whose feature schema does not match are refused with `FeatureSchemaError`;
artifacts of another artifact format version, or native files that are not the ones their
summary was written with, with an `ArtifactError` (see `core.model_artifacts` for what is
stored and what is trusted). Nothing is unpickled unless `from_joblib=True` is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from upath import UPath

from albumrec_pipeline.core.dataset import encode_columns, raw_columns_for
from albumrec_pipeline.core.evaluation import pool_by_artist
from albumrec_pipeline.core.tags import FILE_GENRE_COLUMN
from albumrec_pipeline.core.feature_columns import CATEGORICAL_VOCABULARIES
from albumrec_pipeline.core.model_artifacts import (
    ArtifactVersionWarning,
    FeatureSchemaError,
    FittedScaler,
    TrainedPreferenceModel,
    check_scaler_and_model,
)
from albumrec_pipeline.settings import WAREHOUSE_DIR
from albumrec_pipeline.storage.artifacts import ArtifactError, load_artifact
from albumrec_pipeline.storage.atomic import read_parquet

__all__ = ["ArtifactError", "ArtifactVersionWarning", "FeatureSchemaError", "TasteModel", "load_taste_model"]


@dataclass
class TasteModel:
    scaler: FittedScaler
    model: TrainedPreferenceModel

    def __post_init__(self) -> None:
        check_scaler_and_model(self.scaler, self.model)

    @property
    def required_columns(self) -> list[str]:
        text = [FILE_GENRE_COLUMN] if self.scaler.tags is not None else []
        return raw_columns_for(self.scaler.feature_columns) + text

    def check_rows(self, rows: pd.DataFrame) -> None:
        """Raise FeatureSchemaError naming what is wrong: missing columns, non-numbers, unknown keys."""
        missing = [column for column in self.required_columns if column not in rows.columns]
        if missing:
            raise FeatureSchemaError(f"rows lack {len(missing)} feature column(s) the model reads: {missing[:8]}")
        for column in raw_columns_for(self.scaler.feature_columns):
            values = rows[column]
            if column in CATEGORICAL_VOCABULARIES:
                unknown = ~values.isin(CATEGORICAL_VOCABULARIES[column])
                problem = "values outside " + "/".join(CATEGORICAL_VOCABULARIES[column])
            else:
                numbers = pd.to_numeric(values, errors="coerce")
                unknown = numbers.isna() | ~np.isfinite(numbers.fillna(0).to_numpy(dtype="float64"))
                problem = "missing or non-numeric values"
            if unknown.any():
                positions = np.flatnonzero(unknown.to_numpy())[:5].tolist()
                raise FeatureSchemaError(f"column {column!r} has {problem} at row positions {positions}")

    def like_probability(self, rows: pd.DataFrame, pool_by_artist: bool = True) -> np.ndarray:
        self.check_rows(rows)
        numeric = rows.copy()
        for column in raw_columns_for(self.scaler.feature_columns):
            if column not in CATEGORICAL_VOCABULARIES:
                numeric[column] = pd.to_numeric(numeric[column])
        encoded = encode_columns(numeric, self.scaler.feature_columns, with_tag_text=self.scaler.tags is not None)
        own = self.model.like_probability(self.scaler.transform(encoded)).astype("float64")
        if not pool_by_artist or "artist" not in rows:
            return own
        return _pooled(own, rows["artist"].to_numpy(), self.model.artist_pooling)


_pooled = pool_by_artist


def load_taste_model(warehouse: str | UPath = WAREHOUSE_DIR, from_joblib: bool = False) -> TasteModel:
    """The network last materialized into `warehouse` (the IO manager's base path), with the scaler
    fit it was trained with, which its own file carries.

    `feature_scaler.parquet` is not read: a run that refits the scaler and then fails before the
    network leaves a newer scaler beside the last good network, and this still loads that
    network as it was trained. `from_joblib=True` unpickles `feature_scaler/scaler.joblib` instead
    of the carried fit, once its digest and outputs check out and it is the very fit the network
    was trained with: a way to check that file, for a warehouse only you write to (unpickling can
    run code).
    """
    base = UPath(warehouse)
    path = base / "preference_model.parquet"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: materialize preference_model first")
    model = load_artifact(TrainedPreferenceModel, path)
    scaler = model.own_scaler()
    if from_joblib:
        scaler_path = base / "feature_scaler.parquet"
        if not scaler_path.exists():
            raise FileNotFoundError(f"{scaler_path} does not exist: materialize feature_scaler first")
        scaler = FittedScaler.load_joblib(read_parquet(scaler_path), base / "feature_scaler")
    # Refuses a scaler.joblib of another fit than the network's, naming what to materialize.
    return TasteModel(scaler, model)
