"""A synthetic, seeded demo world in the formats of AcousticBrainz and MusicBrainz.

`python -m albumrec_pipeline.demo` writes one to disk so the pipeline runs without a network.
"""

from albumrec_pipeline.demo.world import (
    DemoWorld,
    DemoWorldPaths,
    DemoWorldSpec,
    build_demo_world,
    demo_world_paths,
    ensure_demo_world,
    is_complete_demo_world,
    write_demo_world,
)

__all__ = [
    "DemoWorld",
    "DemoWorldPaths",
    "DemoWorldSpec",
    "build_demo_world",
    "demo_world_paths",
    "ensure_demo_world",
    "is_complete_demo_world",
    "write_demo_world",
]
