"""`albumrec top`: print the best recommended albums from the materialized warehouse."""

from __future__ import annotations

import argparse
import sys

from upath import UPath

from albumrec_pipeline.settings import WAREHOUSE_DIR
from albumrec_pipeline.storage.atomic import read_parquet

SHOWN_COLUMNS = ["rank", "album_title", "album_artist", "release_year", "tracks", "tracks_with_features", "liked_tracks", "liked_share", "mean_score"]


def top_albums_text(warehouse: UPath, count: int) -> str:
    path = warehouse / "album_recommendations.parquet"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: materialize album_recommendations first (make demo)")
    albums = read_parquet(path)
    recommended = albums[albums["recommended"]]
    header = f"{len(recommended)} of {len(albums)} candidate albums recommended; top {min(count, len(recommended))}:"
    table = recommended[SHOWN_COLUMNS].head(count).to_markdown(index=False, floatfmt=".2f")
    return f"{header}\n{table}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="albumrec", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    top = commands.add_parser("top", help="print the top recommended albums")
    top.add_argument("--count", type=int, default=10)
    top.add_argument("--warehouse", default=str(WAREHOUSE_DIR), help="the IO manager's base path")
    arguments = parser.parse_args(argv)
    try:
        print(top_albums_text(UPath(arguments.warehouse), arguments.count))
    except FileNotFoundError as error:
        print(f"albumrec: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
