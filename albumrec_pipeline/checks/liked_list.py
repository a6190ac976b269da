"""Checks on the listener's list as stored: ids, labels, duplicates, class balance.

The parser already refuses a list it cannot use; these checks guard the stored table (whatever
wrote it) and warn about a list that is usable but lopsided.
"""

import dagster as dg
import pandas as pd
from pydantic import Field

from albumrec_pipeline.core.mbids import MBID_PATTERN
from albumrec_pipeline.core.previews import rounded




class ClassBalanceConfig(dg.Config):
    min_minority_share: float = Field(
        default=0.15,
        description="Warn when likes or dislikes make up less than this share of the list: "
        "the model then learns mostly one answer.",
    )


@dg.asset_check(asset="liked_tracks", blocking=True, description="Every row a recording UUID, labelled 0 or 1, listed once.")
def liked_tracks_well_formed(liked_tracks: pd.DataFrame) -> dg.AssetCheckResult:
    ids = liked_tracks["mbid"].astype("str")
    bad_ids = ids[~ids.str.fullmatch(MBID_PATTERN)].tolist()
    bad_labels = int((~liked_tracks["liked"].isin([0, 1])).sum())
    duplicates = int(liked_tracks["mbid"].duplicated().sum())
    return dg.AssetCheckResult(
        passed=not bad_ids and bad_labels == 0 and duplicates == 0,
        metadata={
            "rows": len(liked_tracks),
            "invalid_ids": len(bad_ids),
            "invalid_id_examples": ", ".join(bad_ids[:5]),
            "labels_not_0_or_1": bad_labels,
            "duplicated_recordings": duplicates,
        },
    )


@dg.asset_check(asset="liked_tracks", description="Both likes and dislikes, neither far outnumbered.")
def liked_tracks_class_balance(config: ClassBalanceConfig, liked_tracks: pd.DataFrame) -> dg.AssetCheckResult:
    liked_share = float(liked_tracks["liked"].mean()) if len(liked_tracks) else 0.0
    minority = min(liked_share, 1.0 - liked_share)
    return dg.AssetCheckResult(
        passed=minority >= config.min_minority_share,
        severity=dg.AssetCheckSeverity.WARN,
        description=None
        if minority >= config.min_minority_share
        else f"only {minority:.0%} of the list is the rarer label; add more {'dis' if liked_share > 0.5 else ''}liked tracks",
        metadata={"liked": int(liked_tracks["liked"].sum()), "disliked": int((liked_tracks["liked"] == 0).sum()),
                  "liked_share": rounded(liked_share), "min_minority_share": config.min_minority_share},
    )


liked_list_checks = [liked_tracks_well_formed, liked_tracks_class_balance]
