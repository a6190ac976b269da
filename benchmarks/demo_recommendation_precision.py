"""How good are the demo world's album recommendations, judged by its hidden taste?

    python benchmarks/demo_recommendation_precision.py [--warehouse data/warehouse] [--top 10] [--skip-liked-only]

Run after `make demo`. The demo world is rebuilt in memory from its seed (the truth is never
written to disk), every candidate album gets its true liked share (the mean true like-probability
of its tracks), and an album counts as truly liked when that share reaches the recommendation
threshold. Prints precision of the top-N recommended albums against the share of truly liked
albums among all candidates, which is what picking albums at random achieves on average.

Two listeners are compared. Supervised: the recommendations in the warehouse `make demo` built,
learned from the demo list of liked and disliked tracks. Liked-only: the default demo world
written to a temporary folder, ingested, and `recommend_albums` materialized there from a list
of the world's liked tracks alone, so the model learns them against a catalog background
(`core.liked_only`). `--skip-liked-only` leaves that run out (it takes minutes).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import dagster as dg
import pandas as pd
from upath import UPath

from albumrec_pipeline.definitions import INGEST_JOBS, build_definitions
from albumrec_pipeline.demo.world import (
    DemoWorldSpec,
    build_demo_world,
    write_demo_world,
)
from albumrec_pipeline.settings import WAREHOUSE_DIR
from albumrec_pipeline.storage.atomic import read_parquet

# Target precision of the liked-only model's top 10 albums on the default demo world.
LIKED_ONLY_TARGET_PRECISION = 0.9


def liked_only_recommendations(root: Path) -> pd.DataFrame:
    """album_recommendations of the default demo world learned from its liked tracks alone, in a
    warehouse under `root`."""
    paths = write_demo_world(build_demo_world(DemoWorldSpec()), root / "world")
    listed = pd.read_csv(paths.liked_tracks_path)
    liked_only_list = root / "liked_only_tracks.csv"
    listed[listed["liked"] == 1].to_csv(liked_only_list, index=False)
    no_feedback = root / "no_feedback.csv"
    warehouse = root / "warehouse"
    defs = build_definitions(paths.acousticbrainz_dumps, paths.musicbrainz_dumps, str(warehouse), root / "scratch")
    with dg.DagsterInstance.ephemeral() as instance:
        for job_name in INGEST_JOBS:
            job = defs.resolve_job_def(job_name)
            for key in job.partitions_def.get_partition_keys():
                if not job.execute_in_process(partition_key=key, instance=instance).success:
                    raise RuntimeError(f"ingesting {job_name} partition {key} failed")
        config = dg.RunConfig(
            {"liked_tracks": {"config": {"csv_path": str(liked_only_list), "feedback_csv_path": str(no_feedback)}}}
        )
        job = defs.resolve_job_def("recommend_albums")
        # Cross-validation is minutes of work and changes no recommendation: left out, as the
        # refresh after a changed list leaves it out.
        selection = [key for key in job.asset_layer.executable_asset_keys if key != dg.AssetKey("model_evaluation")]
        result = job.execute_in_process(run_config=config, instance=instance, asset_selection=selection)
        if not result.success:
            raise RuntimeError("materializing recommend_albums on the liked-only list failed")
    return read_parquet(UPath(warehouse) / "album_recommendations.parquet")


def precision_rows(albums: pd.DataFrame, truth: pd.DataFrame, top: int, liked_share: float, listener: str) -> list[tuple]:
    true_share = truth.groupby("release_id")["true_like_probability"].mean()
    albums = albums.assign(true_liked_share=albums["release_id"].map(true_share))
    albums["truly_liked"] = albums["true_liked_share"] >= liked_share
    best = albums.sort_values("rank").head(top)
    recommended = albums[albums["recommended"]]
    return [
        (listener, f"top {top} recommended", len(best), best["truly_liked"].mean(), best["true_liked_share"].mean()),
        (listener, "all recommended", len(recommended), recommended["truly_liked"].mean(), recommended["true_liked_share"].mean()),
        (listener, "all candidates (random pick)", len(albums), albums["truly_liked"].mean(), albums["true_liked_share"].mean()),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warehouse", default=str(WAREHOUSE_DIR))
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--liked-share", type=float, default=0.6, help="true liked share that makes an album liked")
    parser.add_argument("--skip-liked-only", action="store_true", help="leave out the liked-only run on a fresh warehouse")
    arguments = parser.parse_args()
    path = UPath(arguments.warehouse) / "album_recommendations.parquet"
    if not path.exists():
        print(f"{path} does not exist: run `make demo` first")
        return 1
    truth = build_demo_world(DemoWorldSpec()).truth
    rows = precision_rows(read_parquet(path), truth, arguments.top, arguments.liked_share, "supervised (make demo)")
    if not arguments.skip_liked_only:
        with tempfile.TemporaryDirectory(prefix="albumrec-liked-only-") as folder:
            albums = liked_only_recommendations(Path(folder))
        rows += precision_rows(albums, truth, arguments.top, arguments.liked_share, "liked-only (liked tracks alone)")
    table = pd.DataFrame(rows, columns=["listener", "albums", "count", "precision", "mean_true_liked_share"])
    print(f"truly liked: true liked share >= {arguments.liked_share}")
    print(table.to_markdown(index=False, floatfmt=".3f"))
    if not arguments.skip_liked_only:
        precision = table.loc[
            (table["listener"].str.startswith("liked-only")) & (table["albums"] == f"top {arguments.top} recommended"), "precision"
        ].iloc[0]
        met = precision >= LIKED_ONLY_TARGET_PRECISION
        print(
            f"\nliked-only top {arguments.top} precision {precision:.3f}; target >= {LIKED_ONLY_TARGET_PRECISION} "
            f"(for the top 10): {'met' if met else 'NOT met'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
