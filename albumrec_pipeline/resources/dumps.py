"""Where the dump archives are, and the engine that queries the catalog built from them."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import Field

from albumrec_pipeline.core.archives import find_archives
from albumrec_pipeline.core.catalog import EngineSettings, connect
from albumrec_pipeline.core.musicbrainz_tags import ARTIST, RELEASE_GROUP
from albumrec_pipeline.settings import (
    ACOUSTICBRAINZ_DUMPS_DIR,
    ACOUSTICBRAINZ_DUMPS_ENV_VAR,
    MUSICBRAINZ_DUMPS_DIR,
    MUSICBRAINZ_DUMPS_ENV_VAR,
    SCRATCH_DIR,
)
from albumrec_pipeline.storage.atomic import is_local
from albumrec_pipeline.storage.tables import TableFiles

# The MusicBrainz JSON dump has one archive per entity. albumrec reads the release one
# (`release.tar.xz`, or several parts of it) into the release and track tables, and, when they are
# there, `release-group.tar.xz` and `artist.tar.xz` into the tag tables; the others are ignored.
_RELEASE_ARCHIVE = re.compile(r"^release(?:[._-](?!group)[A-Za-z0-9._-]*)?$")
_TAG_ARCHIVES = {
    RELEASE_GROUP: re.compile(r"^release[-_]group(?:[._-][A-Za-z0-9._-]*)?$"),
    ARTIST: re.compile(r"^artist(?:[._-][A-Za-z0-9._-]*)?$"),
}


def acousticbrainz_archives(folder: Path | str) -> dict[str, Path]:
    """Every archive in the folder: JSON dumps (low- or high-level, or the sample) and CSV feature dumps."""
    return find_archives(folder)


def musicbrainz_archives(folder: Path | str) -> dict[str, Path]:
    """The release archives of a MusicBrainz JSON dump in the folder."""
    return {key: path for key, path in find_archives(folder).items() if _RELEASE_ARCHIVE.match(key)}


def musicbrainz_tag_archives(folder: Path | str, entity: str) -> dict[str, Path]:
    """The `release-group` or `artist` archives (`entity`) of a MusicBrainz JSON dump in the folder;
    none is no error: they are optional."""
    return {key: path for key, path in find_archives(folder).items() if _TAG_ARCHIVES[entity].match(key)}


class DumpArchives(dg.ConfigurableResource):
    """The folders the ingest assets' partitions come from: each archive in them is a partition.

    Partitions are listed when the code location loads, from the same folders (the
    `ALBUMREC_ACOUSTICBRAINZ_DUMPS` / `ALBUMREC_MUSICBRAINZ_DUMPS` settings); after adding
    archives, reload the code location.
    """

    acousticbrainz_dir: str = Field(
        default=str(ACOUSTICBRAINZ_DUMPS_DIR),
        description=f"Folder of AcousticBrainz dump archives (set with {ACOUSTICBRAINZ_DUMPS_ENV_VAR}).",
    )
    musicbrainz_dir: str = Field(
        default=str(MUSICBRAINZ_DUMPS_DIR),
        description=(
            "Folder holding the MusicBrainz JSON dump's release.tar.xz, and optionally release-group.tar.xz and "
            f"artist.tar.xz (set with {MUSICBRAINZ_DUMPS_ENV_VAR})."
        ),
    )

    def _archive(self, archives: dict[str, Path], folder: str, key: str) -> Path:
        if key not in archives:
            raise FileNotFoundError(
                f"no archive for partition {key!r} in {folder} (found: {', '.join(archives) or 'none'}); "
                "was it moved or renamed since the code location loaded?"
            )
        return archives[key]

    def acousticbrainz_archive(self, key: str) -> Path:
        return self._archive(acousticbrainz_archives(self.acousticbrainz_dir), self.acousticbrainz_dir, key)

    def musicbrainz_archive(self, key: str) -> Path:
        return self._archive(musicbrainz_archives(self.musicbrainz_dir), self.musicbrainz_dir, key)

    def musicbrainz_tag_archive(self, entity: str, key: str) -> Path:
        return self._archive(musicbrainz_tag_archives(self.musicbrainz_dir, entity), self.musicbrainz_dir, key)


class CatalogEngine(dg.ConfigurableResource):
    """DuckDB settings for scanning the catalog: it spills to `scratch_dir` rather than exceed `memory_limit`."""

    memory_limit: str = Field(default="1GB", description="DuckDB memory limit, e.g. '1GB', '8GB'.")
    threads: int = Field(default=0, description="DuckDB worker threads; 0: one per core.")
    scratch_dir: str = Field(
        default=str(SCRATCH_DIR), description="Local folder for tables being written and DuckDB's spill files."
    )

    def settings(self) -> EngineSettings:
        return EngineSettings(self.memory_limit, self.threads, str(Path(self.scratch_dir) / "duckdb"))

    def staged_file(self) -> Path:
        """A new file name in `scratch_dir` for a table DuckDB writes, which the IO manager then moves
        into the warehouse."""
        return Path(self.scratch_dir) / f".staged-{uuid.uuid4().hex}.parquet"

    def connect(self, *tables: TableFiles) -> duckdb.DuckDBPyConnection:
        remote = {
            path.fs.protocol if isinstance(path.fs.protocol, str) else path.fs.protocol[0]: path.fs
            for table in tables
            for path in table.paths
            if not is_local(path)
        }
        return connect(self.settings(), list(remote.values()))
