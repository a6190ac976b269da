"""Explanations users can read: why each recommended album was recommended."""

import dagster as dg
import pandas as pd
from pydantic import Field

from albumrec_pipeline.automation import UPDATE_WHEN_UPSTREAM_CHANGES
from albumrec_pipeline.core.albums import fill_missing_years
from albumrec_pipeline.core.catalog import parquet_source
from albumrec_pipeline.core.dataset import encode_columns, raw_columns_for
from albumrec_pipeline.core.explanations import explain_albums
from albumrec_pipeline.core.feature_columns import LABEL_COLUMN
from albumrec_pipeline.core.model_artifacts import TrainedPreferenceModel
from albumrec_pipeline.core.previews import markdown_preview
from albumrec_pipeline.resources.dumps import CatalogEngine
from albumrec_pipeline.storage.tables import TableFiles

GROUP = "recommend"


class AlbumExplanationsConfig(dg.Config):
    albums: int = Field(default=50, description="Explain this many of the best recommended albums.")
    reasons: int = Field(default=3, description="Features and similar liked tracks listed per album.")


@dg.asset(
    group_name=GROUP,
    kinds={"pytorch", "parquet"},
    code_version="1",
    automation_condition=UPDATE_WHEN_UPSTREAM_CHANGES,
)
def album_explanations(
    context: dg.AssetExecutionContext,
    config: AlbumExplanationsConfig,
    album_recommendations: TableFiles,
    candidate_albums: TableFiles,
    candidate_track_features: TableFiles,
    cleaned_dataset: pd.DataFrame,
    preference_model: TrainedPreferenceModel,
    catalog_engine: CatalogEngine,
) -> pd.DataFrame:
    """For each of the best recommended albums: the features that lifted its tracks' scores most
    (gradient x input against an average training track) and the liked training tracks that sound
    most like it (nearest in the network's input space)."""
    # The network's own scaler fit, and the training rows it learned from: a failed retraining
    # leaves newer ones in the warehouse, which would explain this model with another's data.
    scaler = preference_model.own_scaler()
    preference_model.check_trained_on(cleaned_dataset)
    albums = album_recommendations.read(columns=["rank", "release_id", "album_title", "album_artist", "recommended"])
    top = albums[albums["recommended"]].sort_values("rank").head(config.albums)
    connection = catalog_engine.connect(candidate_albums, candidate_track_features)
    try:
        connection.register("explained_releases", top[["release_id"]])
        tracks = connection.execute(
            f"""SELECT t.release_id, f.*
                FROM {parquet_source(candidate_albums.locations())} AS t
                JOIN {parquet_source(candidate_track_features.locations())} AS f ON f.mbid = t.recording_id
                WHERE t.release_id IN (SELECT release_id FROM explained_releases)"""
        ).df()
    finally:
        connection.close()
    tracks = fill_missing_years(tracks, scaler).dropna(subset=raw_columns_for(scaler.feature_columns))
    known = cleaned_dataset[cleaned_dataset["split"] != "test"]
    liked = known[known[LABEL_COLUMN] == 1]
    explanations = explain_albums(
        tracks[["release_id"]],
        scaler.transform(encode_columns(tracks, scaler.feature_columns)),
        preference_model.networks,
        preference_model.input_names or preference_model.feature_columns,
        scaler.transform(known),
        liked[["artist", "recording_title"]],
        scaler.transform(liked),
        top=config.reasons,
    )
    table = top.drop(columns="recommended").merge(explanations, on="release_id", how="inner")
    context.add_output_metadata({"explained_albums": len(table), "explanations": dg.MetadataValue.md(markdown_preview(table))})
    return table
