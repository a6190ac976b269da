"""Group `ingest`: the listener's list and the features of the tracks on it."""

import dagster as dg
import pandas as pd
from pydantic import Field

from albumrec_pipeline.core.dataset import assemble_raw_track_features
from albumrec_pipeline.core.liked_tracks import read_liked_tracks
from albumrec_pipeline.resources.feature_sources import ReleaseCatalog, TrackFeatureSource
from albumrec_pipeline.settings import DEMO_WORLD_DIR

GROUP = "ingest"


class LikedTracksConfig(dg.Config):
    csv_path: str = Field(
        default=str(DEMO_WORLD_DIR / "liked_tracks.csv"),
        description="CSV with a header 'mbid,liked': MusicBrainz recording ids, 1 = liked, 0 = disliked.",
    )


@dg.asset(group_name=GROUP, kinds={"pandas", "parquet"}, code_version="1")
def liked_tracks(context: dg.AssetExecutionContext, config: LikedTracksConfig) -> pd.DataFrame:
    """The listener's liked (1) and disliked (0) recordings, validated: UUIDs, 0/1 labels, no conflicts."""
    table = read_liked_tracks(config.csv_path)
    context.add_output_metadata(
        {"source": dg.MetadataValue.path(config.csv_path), "liked_share": float(table["liked"].mean())}
    )
    return table


@dg.asset(group_name=GROUP, kinds={"pandas", "parquet"}, code_version="1")
def raw_track_features(
    context: dg.AssetExecutionContext,
    liked_tracks: pd.DataFrame,
    track_features: TrackFeatureSource,
    release_catalog: ReleaseCatalog,
) -> pd.DataFrame:
    """One row per labelled recording with AcousticBrainz features and MusicBrainz metadata.

    Columns as in the original project's enriched CSV: high-level probabilities, key/scale,
    chords, bpm, loudness, spectral means, mfcc_1..13, release year, titles, artist, liked.
    Recordings without AcousticBrainz documents are counted and left out.
    """
    recording_ids = liked_tracks["mbid"].tolist()
    fetched = track_features.fetch_track_features(recording_ids, log=context.log.info)
    metadata = release_catalog.recording_metadata(recording_ids)
    table = assemble_raw_track_features(liked_tracks, fetched.rows, metadata)
    for recording_id, problem in list(fetched.unusable.items())[:20]:
        context.log.warning(f"skipped: {problem}")
    context.add_output_metadata(
        {
            "recordings_requested": len(recording_ids),
            "recordings_without_documents": len(fetched.without_documents),
            "recordings_with_unusable_documents": len(fetched.unusable),
            "recordings_without_musicbrainz_metadata": int(table["release_title"].isna().sum()),
        }
    )
    return table
