"""Checks on the ranking: something was recommended, and every recommended album meets the
thresholds the run used (read from the materialization's own metadata)."""

import dagster as dg

from albumrec_pipeline.core.albums import AlbumThresholds, threshold_violations
from albumrec_pipeline.recorded import latest_metadata
from albumrec_pipeline.storage.tables import TableFiles

ASSET = dg.AssetKey("album_recommendations")


@dg.asset_check(asset=ASSET, description="At least one album recommended.")
def album_recommendations_not_empty(album_recommendations: TableFiles) -> dg.AssetCheckResult:
    recommended = album_recommendations.read(columns=["recommended"])["recommended"]
    count = int(recommended.sum())
    return dg.AssetCheckResult(
        passed=count > 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=None if count else "no album met the thresholds; lower them or add catalog data",
        metadata={"albums": len(recommended), "albums_recommended": count},
    )


@dg.asset_check(asset=ASSET, blocking=True, description="Every recommended album meets the run's thresholds.")
def album_recommendations_respect_thresholds(
    context: dg.AssetCheckExecutionContext, album_recommendations: TableFiles
) -> dg.AssetCheckResult:
    recorded = latest_metadata(context.instance, ASSET) or {}
    names = AlbumThresholds.__dataclass_fields__
    missing = [name for name in names if name not in recorded]
    if missing:
        return dg.AssetCheckResult(passed=False, description=f"the materialization recorded no thresholds: {missing}")
    thresholds = AlbumThresholds(**{name: recorded[name].value for name in names})
    violations = threshold_violations(album_recommendations.read(), thresholds)
    return dg.AssetCheckResult(
        passed=violations.empty,
        metadata={
            "violations": len(violations),
            **{name: getattr(thresholds, name) for name in names},
        },
    )


recommendation_checks = [album_recommendations_not_empty, album_recommendations_respect_thresholds]
