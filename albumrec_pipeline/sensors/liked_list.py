"""The liked-list sensor: a changed list or feedback file brings model and recommendations up to date.

It watches the two files the latest `liked_tracks` materialization read (whichever list was
chosen, in the Launchpad or by `ALBUMREC_LIKED_TRACKS`) and compares a SHA-256 of their
contents (not their modification times, which editors and copies change without changing
anything) with the fingerprint that materialization recorded. So it neither misses an edit
made while Dagster was down nor re-runs after a `touch`, and a file put back as it was two
edits ago is still a change from what the model was trained on. Until `liked_tracks` has been
materialized once (which needs the catalog ingested first) it waits.

The cursor holds the fingerprint last requested, so a change is requested once even while its
run is still going; a run that fails is not retried until the files change again.
"""

from pathlib import Path

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from albumrec_pipeline.assets.ingest import INPUT_FINGERPRINT_KEY
from albumrec_pipeline.core.feedback import input_fingerprint

LIKED_TRACKS = dg.AssetKey("liked_tracks")


def recorded_inputs(instance: dg.DagsterInstance) -> tuple[str, Path, Path] | None:
    """Fingerprint, list and feedback paths of the latest liked_tracks materialization, or None."""
    event = instance.get_latest_materialization_event(LIKED_TRACKS)
    if event is None or event.asset_materialization is None:
        return None
    metadata = event.asset_materialization.metadata
    if not all(key in metadata for key in (INPUT_FINGERPRINT_KEY, "source", "feedback")):
        return None
    return (
        str(metadata[INPUT_FINGERPRINT_KEY].value),
        Path(str(metadata["source"].value)),
        Path(str(metadata["feedback"].value)),
    )


def build_liked_list_sensor(
    job: UnresolvedAssetJobDefinition, default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING
) -> dg.SensorDefinition:
    """A sensor that runs `job` (liked_tracks and what depends on it) when the list or feedback changes."""

    @dg.sensor(
        name="liked_list_changed",
        job=job,
        minimum_interval_seconds=30,
        default_status=default_status,
        description="Retrains and re-ranks when the liked list or the feedback file changes (by content).",
    )
    def liked_list_changed(context: dg.SensorEvaluationContext):
        recorded = recorded_inputs(context.instance)
        if recorded is None:
            return dg.SkipReason("liked_tracks was never materialized; the sensor follows changes after the first run")
        trained_on, liked_list, feedback = recorded
        if not liked_list.is_file():
            return dg.SkipReason(f"{liked_list} (the list liked_tracks last read) does not exist any more")
        fingerprint = input_fingerprint(liked_list, feedback)
        if fingerprint == context.cursor:
            return dg.SkipReason("already requested a run for this content")
        context.update_cursor(fingerprint)
        if fingerprint == trained_on:
            return dg.SkipReason("liked_tracks is up to date with the files")
        return dg.RunRequest(
            # No run key: the daemon never repeats one, and a list put back as it was two edits ago
            # must run again. The cursor is what keeps a change from being requested twice.
            run_key=None,
            run_config={
                "ops": {"liked_tracks": {"config": {"csv_path": str(liked_list), "feedback_csv_path": str(feedback)}}}
            },
            tags={"albumrec/trigger": "liked list changed", "albumrec/input_sha256": fingerprint},
        )

    return liked_list_changed
