"""How good are the demo world's album recommendations, judged by its hidden taste?

    python benchmarks/demo_recommendation_precision.py [--warehouse data/warehouse] [--top 10]

Run after `make demo`. The demo world is rebuilt in memory from its seed (the truth is never
written to disk), every candidate album gets its true liked share (the mean true like-probability
of its tracks), and an album counts as truly liked when that share reaches the recommendation
threshold. Prints precision of the top-N recommended albums against the share of truly liked
albums among all candidates, which is what picking albums at random achieves on average.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd
from upath import UPath

from albumrec_pipeline.demo.world import DemoWorldSpec, build_demo_world
from albumrec_pipeline.settings import WAREHOUSE_DIR
from albumrec_pipeline.storage.atomic import read_parquet


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warehouse", default=str(WAREHOUSE_DIR))
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--liked-share", type=float, default=0.6, help="true liked share that makes an album liked")
    arguments = parser.parse_args()
    path = UPath(arguments.warehouse) / "album_recommendations.parquet"
    if not path.exists():
        print(f"{path} does not exist: run `make demo` first")
        return 1
    albums = read_parquet(path)
    truth = build_demo_world(DemoWorldSpec()).truth
    true_share = truth.groupby("release_id")["true_like_probability"].mean()
    albums["true_liked_share"] = albums["release_id"].map(true_share)
    albums["truly_liked"] = albums["true_liked_share"] >= arguments.liked_share
    top = albums.sort_values("rank").head(arguments.top)
    recommended = albums[albums["recommended"]]
    rows = [
        (f"top {arguments.top} recommended", len(top), top["truly_liked"].mean(), top["true_liked_share"].mean()),
        ("all recommended", len(recommended), recommended["truly_liked"].mean(), recommended["true_liked_share"].mean()),
        ("all candidates (random pick)", len(albums), albums["truly_liked"].mean(), albums["true_liked_share"].mean()),
    ]
    table = pd.DataFrame(rows, columns=["albums", "count", "precision", "mean_true_liked_share"])
    print(f"truly liked: true liked share >= {arguments.liked_share}")
    print(table.to_markdown(index=False, floatfmt=".3f"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
