"""The listener's list and its tracks' features, in group `ingest` with the catalog tables
(`assets.archive_ingest`, `assets.live_search`), `recording_features` and `background_tracks`.

Every asset that can call a web service shares one Dagster pool, `LIVE_SERVICES_POOL`, so with the
instance's pool limit two runs never call the services at once (README, "Live services").
"""

from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field

from albumrec_pipeline.assets.catalog_tables import MUSICBRAINZ_TABLES, MUSICBRAINZ_TAG_TABLES
from albumrec_pipeline.automation import UPDATE_WHEN_UPSTREAM_CHANGES
from albumrec_pipeline.core.catalog import MUSICBRAINZ_TAGS_COLUMN, RECORDING_FEATURES_TABLE, with_recording_tags
from albumrec_pipeline.core.dataset import assemble_raw_track_features
from albumrec_pipeline.core.enriched_csv import read_enriched_csv
from albumrec_pipeline.core.feedback import apply_feedback, input_fingerprint, read_feedback
from albumrec_pipeline.core.liked_tracks import read_liked_tracks
from albumrec_pipeline.core.previews import rounded
from albumrec_pipeline.core.user_files import checked_user_path
from albumrec_pipeline.resources.feature_sources import ReleaseCatalog, TrackFeatureFetch, TrackFeatureSource
from albumrec_pipeline.resources.source_selection import LIVE_SERVICES_POOL
from albumrec_pipeline.settings import FEEDBACK_CSV, LIKED_TRACKS_CSV

GROUP = "ingest"
INPUT_FINGERPRINT_KEY = "input_sha256"
LIST_SETTING_KEY = "list_setting"
FEEDBACK_SETTING_KEY = "feedback_setting"


class LikedTracksConfig(dg.Config):
    csv_path: str = Field(
        default=str(LIKED_TRACKS_CSV),
        description="CSV with a header 'mbid,liked': MusicBrainz recording ids, 1 = liked, 0 = disliked "
        "(default: $ALBUMREC_LIKED_TRACKS, else the demo world's list).",
    )
    feedback_csv_path: str = Field(
        default=str(FEEDBACK_CSV),
        description="Feedback on recommendations, same format (written by `albumrec feedback`); it overrides "
        "the list where they disagree. A missing file means no feedback yet.",
    )


@dg.asset(group_name=GROUP, kinds={"pandas", "parquet"}, code_version="2")
def liked_tracks(context: dg.AssetExecutionContext, config: LikedTracksConfig) -> pd.DataFrame:
    """The listener's liked (1) and disliked (0) recordings with their feedback on recommendations
    applied, validated: UUIDs, 0/1 labels, no conflicts."""
    # One spelling of each path (`~` expanded) for reading, hashing, the metadata and the sensor.
    list_path, feedback_path = Path(config.csv_path).expanduser(), Path(config.feedback_csv_path).expanduser()
    # Vetted (core.user_files) before anything touches them; hashed before they are read, so that
    # an edit saved while this runs is a change the sensor still sees.
    checked_user_path(list_path, "the liked list")
    if feedback_path.exists():  # a missing feedback file is no feedback yet
        checked_user_path(feedback_path, "the feedback file")
    fingerprint = input_fingerprint(list_path, feedback_path)
    listed = read_liked_tracks(list_path)
    merged = apply_feedback(listed, read_feedback(feedback_path))
    table = merged.table
    context.add_output_metadata(
        {
            "source": dg.MetadataValue.path(str(list_path)),
            "feedback": dg.MetadataValue.path(str(feedback_path)),
            # What the parser repaired: rows read, empty rows skipped, repeated recordings dropped.
            **{f"list_{name}": count for name, count in listed.attrs.get("liked_list", {}).items()},
            "recordings_added_by_feedback": merged.added,
            "recordings_relabelled_by_feedback": merged.relabelled,
            "liked_share": rounded(table["liked"].mean()),
            # What the liked-list sensor compares the files with, to tell whether they changed since.
            INPUT_FINGERPRINT_KEY: fingerprint,
            # The files the environment named when this ran: the sensor follows a variable that has
            # changed since, and otherwise the files read here (a Launchpad choice included).
            LIST_SETTING_KEY: dg.MetadataValue.path(str(LIKED_TRACKS_CSV)),
            FEEDBACK_SETTING_KEY: dg.MetadataValue.path(str(FEEDBACK_CSV)),
        }
    )
    return table


class RawTrackFeaturesConfig(dg.Config):
    enriched_csv_path: str = Field(
        default="",
        description="Optional: the original project's enriched CSV (reference_track_features.csv format). "
        "When set, the labelled tracks' features and metadata are read from it instead of the sources.",
    )


@dg.asset(
    group_name=GROUP,
    kinds={"pandas", "parquet"},
    code_version="3",
    # The catalog the lookups read: the compacted features, the releases and the tags.
    deps=[RECORDING_FEATURES_TABLE, *MUSICBRAINZ_TABLES.values(), *MUSICBRAINZ_TAG_TABLES.values()],
    automation_condition=UPDATE_WHEN_UPSTREAM_CHANGES,
    # Always pooled: with the live source it calls both services; with the catalog the pool is idle.
    pool=LIVE_SERVICES_POOL,
)
def raw_track_features(
    context: dg.AssetExecutionContext,
    config: RawTrackFeaturesConfig,
    liked_tracks: pd.DataFrame,
    track_features: TrackFeatureSource,
    release_catalog: ReleaseCatalog,
) -> pd.DataFrame:
    """One row per labelled recording with AcousticBrainz features and MusicBrainz metadata.

    Columns as in the original project's enriched CSV: high-level probabilities, key/scale,
    chords, bpm, loudness, spectral means, mfcc_1..13, release year, titles, artist; then
    `musicbrainz_tags` (the MusicBrainz tags of the recording's releases, release group and
    artists, `name=votes;...`) and liked. By default looked up in the catalog built from the dumps
    (`recording_features` and the release tables: the same data the candidate albums come from). Recordings without
    AcousticBrainz documents are counted and left out.
    """
    recording_ids = liked_tracks["mbid"].tolist()
    if config.enriched_csv_path:
        audio, metadata = read_enriched_csv(config.enriched_csv_path)
        fetched = TrackFeatureFetch(audio, sorted(set(recording_ids) - set(audio["mbid"])), {})
        tags = None  # the enriched CSV has no MusicBrainz tags
        context.log.info(f"features and metadata from {config.enriched_csv_path}")
    else:
        fetched = track_features.fetch_track_features(recording_ids, log=context.log.info)
        metadata = release_catalog.recording_metadata(recording_ids)
        wanted = fetched.rows["mbid"].tolist()  # tags only for the recordings that stay
        tags = release_catalog.recording_tags(wanted, log=context.log.info) if wanted else None
    table = with_recording_tags(assemble_raw_track_features(liked_tracks, fetched.rows, metadata), tags)
    for recording_id, problem in list(fetched.unusable.items())[:20]:
        context.log.warning(f"skipped: {problem}")
    context.add_output_metadata(
        {
            "recordings_requested": len(recording_ids),
            "recordings_without_documents": len(fetched.without_documents),
            "recordings_with_unusable_documents": len(fetched.unusable),
            "recordings_without_musicbrainz_metadata": int(table["release_title"].isna().sum()),
            "recordings_with_musicbrainz_tags": int(table[MUSICBRAINZ_TAGS_COLUMN].notna().sum()),
        }
    )
    return table
