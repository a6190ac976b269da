"""Explanations users can read: why each recommended album was recommended."""

import dagster as dg
import pandas as pd
from pydantic import Field

from albumrec_pipeline.automation import UPDATE_WHEN_UPSTREAM_CHANGES
from albumrec_pipeline.core.albums import fill_missing_years
from albumrec_pipeline.core.catalog import parquet_source
from albumrec_pipeline.core.dataset import encode_columns, raw_columns_for
from albumrec_pipeline.core.explanations import album_lifts, explain_albums
from albumrec_pipeline.core.feature_columns import LABEL_COLUMN
from albumrec_pipeline.core.feature_labels import feature_label
from albumrec_pipeline.core.feature_sets import complete_rows
from albumrec_pipeline.core.model_artifacts import TrainedPreferenceModel
from albumrec_pipeline.core.plots import album_lifts_figure
from albumrec_pipeline.core.previews import figure_markdown, metadata_table
from albumrec_pipeline.core.tags import album_genres
from albumrec_pipeline.resources.dumps import CatalogEngine
from albumrec_pipeline.storage.tables import TableFiles

GROUP = "recommend"
# Albums in the chart of what lifted them: enough to compare, few enough to read at a glance.
PICTURED_ALBUMS = 5


class AlbumExplanationsConfig(dg.Config):
    albums: int = Field(default=50, description="Explain this many of the best recommended albums.")
    reasons: int = Field(default=3, description="Features and similar liked tracks listed per album.")


@dg.asset(
    group_name=GROUP,
    kinds={"pytorch", "parquet"},
    code_version="2",
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
    known = cleaned_dataset[(cleaned_dataset["split"] != "test") & complete_rows(cleaned_dataset, scaler.feature_columns)]
    liked = known[known[LABEL_COLUMN] == 1]
    album_inputs = scaler.transform(encode_columns(tracks, scaler.feature_columns, with_tag_text=scaler.tags is not None))
    networks = preference_model.networks
    input_names = preference_model.input_names or preference_model.feature_columns
    training_inputs = scaler.transform(known)
    lifts = album_lifts(tracks[["release_id"]], album_inputs, networks, input_names, training_inputs)
    explanations = explain_albums(
        tracks[["release_id"]],
        album_inputs,
        lifts,
        liked[["artist", "recording_title"]],
        # The liked rows' inputs among those just scaled (the scaling works row by row).
        training_inputs[(known[LABEL_COLUMN] == 1).to_numpy()],
        top=config.reasons,
    )
    table = top.drop(columns="recommended").merge(explanations, on="release_id", how="inner")
    # The genres most of the album's tracks carry, in words: "Folk Rock, Americana: 9 of 11 tracks".
    genres = {release: album_genres(part) for release, part in tracks.groupby("release_id", sort=False)}
    table.insert(table.columns.get_loc("lifted_by"), "genres", table["release_id"].map(genres).fillna(""))
    pictured = table.head(PICTURED_ALBUMS)
    metadata = {
        "explanations": metadata_table(
            table[["rank", "album_title", "album_artist", "genres", "lifted_by", "sounds_like"]].head(10)
        ),
        "explained_albums": len(table),
    }
    if len(pictured):
        metadata["what_lifted_the_top_albums"] = figure_markdown(
            album_lifts_figure(
                lifts.loc[pictured["release_id"]].rename(columns=feature_label),
                [f"{row.rank}. {row.album_title} - {row.album_artist}" for row in pictured.itertuples(index=False)],
            )
        )
    context.add_output_metadata(metadata)
    return table
