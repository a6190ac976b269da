"""The liked-list sensor: a changed list or feedback file brings model and recommendations up to date.

It compares a SHA-256 of the files' contents (not their modification times, which editors and
copies change without changing anything) with the fingerprint recorded by the latest
`liked_tracks` materialization, so it neither misses an edit made while Dagster was down nor
re-runs after a `touch`. Until `liked_tracks` has been materialized once (which needs the
catalog ingested first) it waits. The cursor holds the fingerprint last requested, so a change is
requested once even while its run is still going.
"""

from pathlib import Path

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from albumrec_pipeline.assets.ingest import INPUT_FINGERPRINT_KEY
from albumrec_pipeline.core.feedback import input_fingerprint

LIKED_TRACKS = dg.AssetKey("liked_tracks")


def recorded_fingerprint(instance: dg.DagsterInstance) -> str | None:
    """The input fingerprint of the latest liked_tracks materialization, None when there is none."""
    event = instance.get_latest_materialization_event(LIKED_TRACKS)
    if event is None or event.asset_materialization is None:
        return None
    value = event.asset_materialization.metadata.get(INPUT_FINGERPRINT_KEY)
    return None if value is None else str(value.value)


def build_liked_list_sensor(
    job: UnresolvedAssetJobDefinition,
    liked_list: Path | str,
    feedback: Path | str,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
) -> dg.SensorDefinition:
    """A sensor that runs `job` (liked_tracks and what depends on it) when either file's content changes."""
    liked_list, feedback = Path(liked_list), Path(feedback)

    @dg.sensor(
        name="liked_list_changed",
        job=job,
        minimum_interval_seconds=30,
        default_status=default_status,
        description=f"Retrains and re-ranks when {liked_list.name} or {feedback.name} changes (by content).",
    )
    def liked_list_changed(context: dg.SensorEvaluationContext):
        if not liked_list.is_file():
            return dg.SkipReason(f"{liked_list} does not exist; set ALBUMREC_LIKED_TRACKS to your list")
        recorded = recorded_fingerprint(context.instance)
        if recorded is None:
            # The first materialization needs the catalog ingested too: `albumrec materialize` or the UI.
            return dg.SkipReason("liked_tracks was never materialized; the sensor follows changes after the first run")
        fingerprint = input_fingerprint(liked_list, feedback)
        if fingerprint == context.cursor:
            return dg.SkipReason("already requested a run for this content")
        if fingerprint == recorded:
            context.update_cursor(fingerprint)
            return dg.SkipReason("liked_tracks is up to date with the files")
        context.update_cursor(fingerprint)
        return dg.RunRequest(
            run_key=fingerprint,
            run_config={
                "ops": {"liked_tracks": {"config": {"csv_path": str(liked_list), "feedback_csv_path": str(feedback)}}}
            },
            tags={"albumrec/trigger": "liked list changed"},
        )

    return liked_list_changed
