"""Write a demo world to disk: `python -m albumrec_pipeline.demo [--root data/demo] [--seed N] [--small]`.

The default root is where the pipeline's resources look by default (`data/demo` in the
checkout, or under `ALBUMREC_DATA_DIR`).

Idempotent: when a complete world of the same spec is already under the root, nothing is
written. A world whose writing was interrupted has no marker file and is written again.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from albumrec_pipeline.demo.world import DemoWorldSpec, ensure_demo_world
from albumrec_pipeline.settings import DEMO_WORLD_DIR


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m albumrec_pipeline.demo",
        description="Write a synthetic AcousticBrainz + MusicBrainz world for running albumrec offline.",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=DEMO_WORLD_DIR,
        help=f"where to write it (default: {DEMO_WORLD_DIR}, where the resources look; ALBUMREC_DATA_DIR moves it)",
    )
    parser.add_argument("--seed", type=int, default=None, help=f"random seed (default: {DemoWorldSpec().seed})")
    parser.add_argument("--small", action="store_true", help="a small world (40 artists), written in about a second")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = _arguments(argv)
    spec = DemoWorldSpec.small() if arguments.small else DemoWorldSpec()
    if arguments.seed is not None:
        spec = replace(spec, seed=arguments.seed)
    started = time.perf_counter()
    paths, wrote = ensure_demo_world(spec, arguments.root, progress=lambda message: print(message, flush=True))
    if not wrote:
        return 0
    summary = json.loads(paths.marker_path.read_text(encoding="utf-8"))["summary"]
    documents = summary["lowlevel_documents"] + summary["highlevel_documents"]
    print(
        f"demo world at {paths.root}: {summary['artists']} artists, {summary['labelled_tracks']} labelled tracks "
        f"({summary['liked_share']:.1%} liked), {summary['candidate_albums']} candidate albums, "
        f"{documents:,} AcousticBrainz documents and {summary['releases']:,} releases written "
        f"in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
