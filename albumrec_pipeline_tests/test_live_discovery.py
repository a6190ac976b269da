"""The live services feeding the album search, against stand-ins on 127.0.0.1.

One small world is materialized once, the way a user runs the live path: the dump archives'
partitions, then the live search's partition of the MusicBrainz tables, then that of the
AcousticBrainz tables, then the list, the model and the album search. The listener's labelled
tracks and the albums the search finds come from the stand-in services; a few more albums come
from dump archives written for the test, so both kinds of partition meet in the same tables.

Every labelled artist has one of two sounds (the factories' documents at a high or a low
`shift`), and so does every candidate album: the albums with the liked sound must come first.
"""

import random
import re
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from albumrec_pipeline.assets.archive_ingest import (
    acousticbrainz_archive_assets,
    musicbrainz_archive_assets,
    musicbrainz_tag_archive_asset,
)
from albumrec_pipeline.assets.ingest import liked_tracks, raw_track_features
from albumrec_pipeline.assets.model import cleaned_dataset, feature_scaler, preference_model
from albumrec_pipeline.assets.background import background_tracks
from albumrec_pipeline.assets.recording_features import recording_features
from albumrec_pipeline.assets.recommend import (
    album_recommendations,
    candidate_albums,
    candidate_track_features,
    track_scores,
)
from albumrec_pipeline.definitions import build_definitions
from albumrec_pipeline.demo.dump_writer import write_json_dumps, write_release_dump
from albumrec_pipeline.resources.acousticbrainz_api import AcousticBrainzApiSource
from albumrec_pipeline.resources.dumps import (
    CatalogEngine,
    DumpArchives,
    acousticbrainz_archives,
    musicbrainz_archives,
    musicbrainz_tag_archives,
)
from albumrec_pipeline.core.musicbrainz_tags import TAG_ARCHIVES
from albumrec_pipeline.resources.feature_sources import IngestedReleaseCatalog, IngestedTrackFeatures
from albumrec_pipeline.resources.musicbrainz_api import MusicBrainzApiCatalog
from albumrec_pipeline.resources.source_selection import LIVE_PARTITION, LIVE_SERVICES_POOL, SOURCE_ENV_VAR, live_partitions
from albumrec_pipeline.storage.parquet_io_manager import ParquetWarehouse
from albumrec_pipeline_tests.factories import highlevel_document, lowlevel_document
from albumrec_pipeline_tests.fake_services import FakeRecording, FakeServices, FakeWorld, serve

CONTACT = "tests@albumrec.invalid"
FAST_CLIENT = {
    "contact": CONTACT,
    "requests_per_window": 1000,
    "window_seconds": 1.0,
    "timeout_seconds": 2.0,
    "max_attempts": 3,
    "backoff_seconds": 0.02,
    "max_backoff_seconds": 0.1,
}
LIKED_SOUND, DISLIKED_SOUND = 3.5, 0.3
CATALOG_TABLES = ("musicbrainz_releases", "musicbrainz_tracks", "acousticbrainz_lowlevel", "acousticbrainz_highlevel")
_jitter = random.Random(11)


def give_sound(recording: FakeRecording, sound: float) -> None:
    """Documents of one of the two sounds, each track a little different."""
    shift = sound + _jitter.uniform(-0.25, 0.25)
    recording.lowlevel = [lowlevel_document(key="A", scale="minor", shift=shift, artist=recording.artist)]
    recording.highlevel = [highlevel_document(shift=shift)]


def album(world: FakeWorld, title: str, artist: str, sound: float, tracks: int, analysed: bool = True) -> dict:
    release = world.add_album(title, artist, "2001-03-01", tracks=tracks, with_features=tracks if analysed else 0)
    if analysed:
        for recording_id in world.track_ids(release):
            give_sound(world.recordings[recording_id], sound)
    return release


def labelled_world(world: FakeWorld) -> list[tuple[str, int]]:
    """Singles by 36 artists, half with each sound: (recording, liked) for the listener's list."""
    labels = []
    for number in range(36):
        liked = number % 2
        sound = LIKED_SOUND if liked else DISLIKED_SOUND
        single = world.add_album(f"Single {number}", f"Artist {number}", "1999-01-01", tracks=3, primary_type="Single")
        for recording_id in world.track_ids(single):
            give_sound(world.recordings[recording_id], sound)
            labels.append((recording_id, liked))
    return labels


def write_dumps(world: FakeWorld, root: Path) -> tuple[Path, Path]:
    """`world` as the dumps ship it: one JSON dump archive per kind and `release.tar.xz`."""
    acousticbrainz, musicbrainz = root / "acousticbrainz", root / "musicbrainz"
    acousticbrainz.mkdir(parents=True)
    for kind in ("lowlevel", "highlevel"):
        documents = {r.id: getattr(r, kind)[0] for r in world.recordings.values() if getattr(r, kind)}
        write_json_dumps(acousticbrainz, kind, documents, {}, archives=1, name="archive")
    write_release_dump(musicbrainz / "release.tar.xz", world.releases.values())
    return acousticbrainz, musicbrainz


def partition_ids(warehouse: Path, table: str, partition: str, column: str) -> set[str]:
    return set(pd.read_parquet(warehouse / table / f"{partition}.parquet")[column])


class LivePath:
    """The stand-ins, the resources pointed at them, and the assets over both kinds of partition."""

    def __init__(self, root: Path, url: str, acousticbrainz_dumps: Path, musicbrainz_dumps: Path):
        self.warehouse, self.root = root / "warehouse", root
        acousticbrainz = AcousticBrainzApiSource(base_url=url, state_dir=str(root / "http_state"), **FAST_CLIENT)
        self.resources = {
            "io_manager": ParquetWarehouse(base_path=str(self.warehouse)),
            "dumps": DumpArchives(acousticbrainz_dir=str(acousticbrainz_dumps), musicbrainz_dir=str(musicbrainz_dumps)),
            "catalog_engine": CatalogEngine(scratch_dir=str(root / "scratch"), threads=1),
            "track_features": acousticbrainz,
            "release_catalog": MusicBrainzApiCatalog(
                acousticbrainz=acousticbrainz, base_url=f"{url}/ws/2", state_dir=str(root / "http_state"), **FAST_CLIENT
            ),
        }
        # What build_definitions makes of these folders when ALBUMREC_SOURCE=live.
        live = live_partitions("live")
        self.acousticbrainz_keys = list(acousticbrainz_archives(acousticbrainz_dumps))
        self.musicbrainz_keys = list(musicbrainz_archives(musicbrainz_dumps))
        self.acousticbrainz = acousticbrainz_archive_assets(
            dg.StaticPartitionsDefinition(self.acousticbrainz_keys + live)
        )
        self.musicbrainz = musicbrainz_archive_assets(dg.StaticPartitionsDefinition(self.musicbrainz_keys + live))
        # The optional tag archives: none here, so no partitions (the tags come from the releases).
        self.tag_archives = [
            musicbrainz_tag_archive_asset(
                entity, dg.StaticPartitionsDefinition(list(musicbrainz_tag_archives(musicbrainz_dumps, entity)))
            )
            for entity in TAG_ARCHIVES
        ]

    def ingest(self, assets: dg.AssetsDefinition, partition: str) -> dg.ExecuteInProcessResult:
        # Both multi-assets are given: the AcousticBrainz one reads the MusicBrainz tracks.
        return dg.materialize(
            [self.musicbrainz, self.acousticbrainz],
            selection=[assets],
            partition_key=partition,
            resources=self.resources,
        )

    def album_search(self, labels_csv: Path) -> dg.ExecuteInProcessResult:
        unpartitioned = [
            liked_tracks, raw_track_features, cleaned_dataset, feature_scaler, preference_model,
            recording_features, background_tracks, candidate_albums, candidate_track_features, track_scores, album_recommendations,
        ]
        ops = {
            "liked_tracks": {"config": {"csv_path": str(labels_csv), "feedback_csv_path": str(self.root / "none.csv")}},
            "preference_model": {"config": {"epochs": 120, "ensemble_size": 1, "evaluate_every": 5}},
        }
        return dg.materialize(
            [self.musicbrainz, self.acousticbrainz, *self.tag_archives, *unpartitioned],
            selection=unpartitioned,
            resources=self.resources,
            run_config=dg.RunConfig(ops),
        )


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    root = tmp_path_factory.mktemp("live")
    world = FakeWorld()
    labels = labelled_world(world)
    found = {
        "bright": album(world, "Bright", "Bright Band", LIKED_SOUND, tracks=8),
        "dull": album(world, "Dull", "Dull Band", DISLIKED_SOUND, tracks=8),
        "unanalysed": album(world, "Unanalysed", "Quiet Band", LIKED_SOUND, tracks=6, analysed=False),
    }
    # An album holding two of the listener's labelled recordings: the search keeps it, the album search does not.
    known = [world.recordings[recording_id] for recording_id, _ in labels[:2]]
    for number in range(4):
        known.append(world.add_recording("Artist 0", f"Known {number}", "2003"))
        give_sound(known[-1], DISLIKED_SOUND)
    found["labelled"] = world.add_release("Known", "Artist 0", "2003", known)
    dumped_world = FakeWorld(id_space="archive-")
    dumped = {
        "bright": album(dumped_world, "Archived Bright", "Old Bright Band", LIKED_SOUND, tracks=7),
        "dull": album(dumped_world, "Archived Dull", "Old Dull Band", DISLIKED_SOUND, tracks=7),
    }
    labels_csv = root / "liked.csv"
    labels_csv.write_text("mbid,liked\n" + "".join(f"{r},{liked}\n" for r, liked in labels))

    services = FakeServices(world)
    with serve(services) as url:
        path = LivePath(root, url, *write_dumps(dumped_world, root / "dumps"))
        # The archives first: they need neither the services nor the live partition.
        runs = [path.ingest(path.acousticbrainz, key) for key in path.acousticbrainz_keys]
        runs += [path.ingest(path.musicbrainz, key) for key in path.musicbrainz_keys]
        assert services.log == []
        runs.append(path.ingest(path.musicbrainz, LIVE_PARTITION))
        runs.append(path.ingest(path.acousticbrainz, LIVE_PARTITION))
        assert all(run.success for run in runs)
        ingest_requests = list(services.log)
        result = path.album_search(labels_csv)
        assert result.success
        yield {
            "path": path, "services": services, "found": found, "dumped": dumped, "world": world,
            "result": result, "ingest_requests": ingest_requests, "runs": runs,
        }


def test_found_albums_are_ranked_with_the_dumped_ones(searched):
    found, dumped, result = searched["found"], searched["dumped"], searched["result"]
    ranking = pd.read_parquet(searched["path"].warehouse / "album_recommendations.parquet")
    expected = {found["bright"]["id"], found["dull"]["id"], dumped["bright"]["id"], dumped["dull"]["id"]}
    assert set(ranking["release_id"]) == expected
    assert ranking["rank"].tolist() == [1, 2, 3, 4]
    assert set(ranking["release_id"].head(2)) == {found["bright"]["id"], dumped["bright"]["id"]}
    assert (ranking["tracks_with_features"] == ranking["tracks"]).all()
    # The album holding labelled recordings was found and stored, and left out by candidate_albums.
    stored = partition_ids(searched["path"].warehouse, "musicbrainz_releases", LIVE_PARTITION, "release_id")
    assert found["labelled"]["id"] in stored
    assert result.success
    candidates = pd.read_parquet(searched["path"].warehouse / "candidate_albums.parquet")
    assert set(candidates["release_id"]) == expected


def test_archive_and_live_partitions_coexist_in_the_catalog_tables(searched):
    path, found, dumped, world = searched["path"], searched["found"], searched["dumped"], searched["world"]
    warehouse = path.warehouse
    for table in CATALOG_TABLES:
        keys = path.musicbrainz_keys if table.startswith("musicbrainz") else path.acousticbrainz_keys
        assert sorted(p.stem for p in (warehouse / table).glob("*.parquet")) == sorted([*keys, LIVE_PARTITION])
    live = {found[name]["id"] for name in ("bright", "dull", "labelled")}
    assert partition_ids(warehouse, "musicbrainz_releases", LIVE_PARTITION, "release_id") == live
    assert partition_ids(warehouse, "musicbrainz_releases", "release", "release_id") == {
        dumped["bright"]["id"], dumped["dull"]["id"]
    }
    found_recordings = {r for release_id in live for r in world.track_ids(world.releases[release_id])}
    assert partition_ids(warehouse, "musicbrainz_tracks", LIVE_PARTITION, "recording_id") == found_recordings
    for table in ("acousticbrainz_lowlevel", "acousticbrainz_highlevel"):
        rows = pd.read_parquet(warehouse / table / f"{LIVE_PARTITION}.parquet")
        assert set(rows["mbid"]) == found_recordings and set(rows["submission_offset"]) == {0}
    # The same columns and types as the archives' partitions.
    for table in CATALOG_TABLES:
        schemas = {
            str(pd.read_parquet(file).dtypes.to_dict()) for file in (warehouse / table).glob("*.parquet")
        }
        assert len(schemas) == 1, table
    materialized = searched["runs"][-1].asset_materializations_for_node("acousticbrainz_archive")
    assert {m.metadata["recordings"].value for m in materialized} == {len(found_recordings)}


def test_an_album_without_acousticbrainz_coverage_costs_one_bulk_request_and_no_lookup(searched):
    unanalysed = searched["found"]["unanalysed"]
    tracks = searched["world"].track_ids(unanalysed)
    requests = searched["ingest_requests"]
    asked = [
        r for r in requests if r.path.startswith("/api/v1/") and set(r.args["recording_ids"].split(";")) & set(tracks)
    ]
    assert [(r.path, r.args["recording_ids"].split(";")) for r in asked] == [("/api/v1/low-level", tracks)]
    assert not [r for r in requests if unanalysed["id"] in r.path]
    # Every album found cost one lookup; the search and the track listing one request each.
    lookups = [r.path.rsplit("/", 1)[1] for r in requests if r.path.startswith("/ws/2/release/")]
    assert sorted(lookups) == sorted(searched["found"][name]["id"] for name in ("bright", "dull", "labelled"))
    searches = [r.path for r in requests if r.path in ("/ws/2/release", "/ws/2/recording")]
    assert searches == ["/ws/2/release", "/ws/2/recording"]


def test_a_rerun_of_the_live_partitions_sends_no_request(searched):
    path, services = searched["path"], searched["services"]
    warehouse = path.warehouse
    before = {table: pd.read_parquet(warehouse / table / f"{LIVE_PARTITION}.parquet") for table in CATALOG_TABLES}
    sent = len(services.log)

    assert path.ingest(path.musicbrainz, LIVE_PARTITION).success
    assert path.ingest(path.acousticbrainz, LIVE_PARTITION).success

    assert len(services.log) == sent
    for table, rows in before.items():
        pd.testing.assert_frame_equal(pd.read_parquet(warehouse / table / f"{LIVE_PARTITION}.parquet"), rows)


def test_the_search_is_set_in_the_asset_config(tmp_path):
    world = FakeWorld()
    albums = [album(world, f"Album {n}", f"Band {n}", LIKED_SOUND, tracks=4) for n in range(2)]
    extended_plays = [world.add_album(f"EP {n}", f"Band {n}", "2002", tracks=3, primary_type="EP") for n in range(2)]
    services = FakeServices(world)
    with serve(services) as url:
        path = LivePath(tmp_path, url, tmp_path / "no-dumps", tmp_path / "no-dumps")
        search = {"live_search": {"query": "tag:jazz", "primary_types": ["EP"], "max_albums": 1}}
        result = dg.materialize(
            [path.musicbrainz],
            partition_key=LIVE_PARTITION,
            resources=path.resources,
            run_config={"ops": {"musicbrainz_archive": {"config": search}}},
        )
    assert result.success
    (release_search,) = [r for r in services.log if r.path == "/ws/2/release"]
    assert release_search.args["query"] == '(tag:jazz) AND (primarytype:"ep")'
    stored = partition_ids(path.warehouse, "musicbrainz_releases", LIVE_PARTITION, "release_id")
    assert stored == {extended_plays[0]["id"]} and not stored & {a["id"] for a in albums}
    assert result.asset_materializations_for_node("musicbrainz_archive")[0].metadata["query"].value == (
        '(tag:jazz) AND (primarytype:"ep")'
    )


def test_the_live_source_adds_the_partition_its_pools_and_lineage(monkeypatch, tmp_path):
    acousticbrainz, musicbrainz = tmp_path / "ab", tmp_path / "mb"
    acousticbrainz.mkdir()
    musicbrainz.mkdir()
    (acousticbrainz / "acousticbrainz-lowlevel-json-20220623-0.tar.zst").write_bytes(b"")
    (musicbrainz / "release.tar.xz").write_bytes(b"")

    def built() -> tuple[dg.Definitions, dict[str, dg.AssetsDefinition]]:
        defs = build_definitions(acousticbrainz, musicbrainz, str(tmp_path / "warehouse"), tmp_path / "scratch")
        return defs, {name: defs.resolve_assets_def(name) for name in ("acousticbrainz_lowlevel", "musicbrainz_tracks")}

    monkeypatch.setenv(SOURCE_ENV_VAR, "live")
    defs, assets = built()
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_job_def("ingest_acousticbrainz").partitions_def.get_partition_keys() == [
        "acousticbrainz-lowlevel-json-20220623-0", LIVE_PARTITION
    ]
    assert defs.resolve_job_def("ingest_musicbrainz").partitions_def.get_partition_keys() == ["release", LIVE_PARTITION]
    # Every asset that can call a service shares one pool.
    assert assets["acousticbrainz_lowlevel"].node_def.pool == LIVE_SERVICES_POOL
    assert assets["musicbrainz_tracks"].node_def.pool == LIVE_SERVICES_POOL
    assert defs.resolve_assets_def("raw_track_features").node_def.pool == LIVE_SERVICES_POOL
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey("acousticbrainz_lowlevel")).parent_keys == {dg.AssetKey("musicbrainz_tracks")}
    mapping = assets["acousticbrainz_lowlevel"].get_partition_mapping(dg.AssetKey("musicbrainz_tracks"))
    assert isinstance(mapping, dg.StaticPartitionMapping)
    # Only the live partition reads the MusicBrainz tables; an archive partition reads nothing of them.
    upstream = graph.get(dg.AssetKey("musicbrainz_tracks")).partitions_def
    downstream = graph.get(dg.AssetKey("acousticbrainz_lowlevel")).partitions_def
    for key, expected in (("acousticbrainz-lowlevel-json-20220623-0", []), (LIVE_PARTITION, [LIVE_PARTITION])):
        mapped = mapping.get_upstream_mapped_partitions_result_for_partitions(
            downstream.subset_with_partition_keys([key]), downstream, upstream
        )
        assert list(mapped.partitions_subset.get_partition_keys()) == expected

    # The dump and demo sources: the archives alone, no pool, no edge between the two sources.
    monkeypatch.setenv(SOURCE_ENV_VAR, "catalog")
    defs, assets = built()
    assert defs.resolve_job_def("ingest_musicbrainz").partitions_def.get_partition_keys() == ["release"]
    assert assets["acousticbrainz_lowlevel"].node_def.pool is None
    assert not defs.resolve_asset_graph().get(dg.AssetKey("acousticbrainz_lowlevel")).parent_keys


def test_the_live_partition_needs_the_live_source(tmp_path):
    assets = musicbrainz_archive_assets(dg.StaticPartitionsDefinition([LIVE_PARTITION]))
    result = dg.materialize(
        [assets],
        partition_key=LIVE_PARTITION,
        resources={
            "io_manager": ParquetWarehouse(base_path=str(tmp_path / "warehouse")),
            "dumps": DumpArchives(acousticbrainz_dir=str(tmp_path), musicbrainz_dir=str(tmp_path)),
            "catalog_engine": CatalogEngine(scratch_dir=str(tmp_path / "scratch")),
            "release_catalog": IngestedReleaseCatalog(warehouse=str(tmp_path / "warehouse")),
            "track_features": IngestedTrackFeatures(warehouse=str(tmp_path / "warehouse")),
        },
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = [event for event in result.all_events if event.event_type_value == "STEP_FAILURE"]
    error = failure.step_failure_data.error
    messages = []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    assert any(re.search(r"IngestedReleaseCatalog .*ALBUMREC_SOURCE=live", message) for message in messages)
