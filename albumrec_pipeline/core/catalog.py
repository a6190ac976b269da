"""The catalog built from the dumps, queried with DuckDB: candidates, their features, lookups.

The ingest assets leave these tables in the warehouse, one Parquet file per dump archive:
`acousticbrainz_lowlevel` and `acousticbrainz_highlevel` (one row per submission,
see `core.feature_dumps`), `musicbrainz_releases` and `musicbrainz_tracks` (see
`core.releases`), and, when the dump's `release-group.tar.xz` and `artist.tar.xz` are at hand,
`musicbrainz_release_group_tags` and `musicbrainz_artist_tags` (see `core.musicbrainz_tags`),
which `recording_tags_sql` joins into a recording's `musicbrainz_tags`. At full size they hold
tens of millions of rows, so they are never loaded whole: DuckDB scans the files, joins and
aggregates out of core within a memory limit (spilling to scratch space beyond it), and writes
its results straight to Parquet.

Choosing a recording's submission, over all archives at once:

* low-level: the lowest offset among the submissions that have every low-level column the
  model reads (JSON dump rows); failing that, the lowest offset among those with the compact
  columns (CSV dump rows, whose lowlevel, rhythm and tonal files are first combined per
  submission);
* high-level: the lowest offset.

The answer does not depend on how the submissions were spread over archives. The dumps are
in submission order, so the tables hold about four rows per recording: the choice is made once,
after ingest, into the compacted `recording_features` table (`compact_recording_features`), which
the candidates' features and the lookups read (`write_candidate_features`, `compacted_lookup_sql`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow.parquet as pq

from albumrec_pipeline.core.feature_columns import (
    COMPACT_LOWLEVEL_COLUMNS,
    HIGHLEVEL_COLUMNS,
    RAW_TRACK_COLUMNS,
    TAG_COLUMNS,
    TITLE_COLUMNS,
)
from albumrec_pipeline.core.feature_dumps import LOWLEVEL_FEATURE_COLUMNS
from albumrec_pipeline.core.musicbrainz_tags import (
    ARTIST_ID_SEPARATOR,
    ARTIST_SEPARATOR,
    TAG_SEPARATOR,
    VOTES_SEPARATOR,
)
from albumrec_pipeline.core.releases import TRACK_COLUMNS, ReleaseIngestCounts, ReleaseRows

# Columns of a recording's feature row, without the MusicBrainz ones (year and titles).
AUDIO_COLUMNS: list[str] = [c for c in RAW_TRACK_COLUMNS if c not in ("release_year", *TITLE_COLUMNS)]


@dataclass(frozen=True)
class EngineSettings:
    memory_limit: str = "1GB"
    threads: int = 0  # 0: one per core
    temp_directory: str | None = None


def connect(settings: EngineSettings = EngineSettings(), filesystems: Sequence[object] = ()) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that spills to `temp_directory` instead of exceeding `memory_limit`."""
    connection = duckdb.connect(":memory:")
    connection.execute(f"SET memory_limit = '{settings.memory_limit}'")
    if settings.threads:
        connection.execute(f"SET threads = {int(settings.threads)}")
    if settings.temp_directory:
        Path(settings.temp_directory).mkdir(parents=True, exist_ok=True)
        connection.execute(f"SET temp_directory = {_literal(settings.temp_directory)}")
    # Results are written to Parquet or ordered explicitly; keeping scan order would only cost memory.
    connection.execute("SET preserve_insertion_order = false")
    # A warehouse on object storage (s3://...) is read through the same fsspec filesystem the IO
    # manager writes with.
    for filesystem in filesystems:
        connection.register_filesystem(filesystem)
    return connection


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _quoted(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def parquet_source(locations: Sequence[str], row_positions: bool = False) -> str:
    """A DuckDB table expression over Parquet files; `union_by_name` tolerates older files' columns.

    `row_positions` adds each row's place, `file_row_number`, beside DuckDB's `file_index` (its
    file in `locations`): two copies of one submission (a dump archive and the live search both
    hold it) differ there and nowhere else.
    """
    if not locations:
        raise FileNotFoundError("no Parquet files to read")
    files = ", ".join(_literal(location) for location in locations)
    positions = ", file_row_number = true" if row_positions else ""
    return f"read_parquet([{files}], union_by_name = true{positions})"


def optional_parquet_source(locations: Sequence[str]) -> str | None:
    """`parquet_source`, or None for a table that may be absent (an optional archive never ingested)."""
    return parquet_source(locations) if locations else None


def _all_present(columns: Sequence[str], alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    return " AND ".join(f"{prefix}{_quoted(column)} IS NOT NULL" for column in columns)


# Orders submissions for the low-level choice: complete rows first, then by offset.
_INCOMPLETE_PENALTY = 1_000_000_000

RECORDING_FEATURES_TABLE = "recording_features"


def _choose_lowlevel_sql(lowlevel: str) -> str:
    """One row per recording: `mbid`, `preference` (the chosen offset, plus `_INCOMPLETE_PENALTY`
    for a submission combined from CSV rows) and, for a JSON row, its `file_index` and
    `file_row_number`. Only ids and offsets are grouped, so the aggregate stays narrow."""
    complete = _all_present(LOWLEVEL_FEATURE_COLUMNS)
    # A CSV submission is usable once its lowlevel, rhythm and tonal rows together give every compact column.
    csv_usable = " AND ".join(
        f"count({_quoted(column)}) FILTER (WHERE NOT ({complete})) > 0" for column in COMPACT_LOWLEVEL_COLUMNS
    )
    return f"""
        WITH submissions AS (
            SELECT mbid, submission_offset,
                   min(struct_pack(i := file_index, n := file_row_number)) FILTER (WHERE {complete}) AS json_row,
                   {csv_usable} AS csv_usable
            FROM {lowlevel}
            GROUP BY mbid, submission_offset
        ),
        choices AS (
            SELECT mbid, min(struct_pack(
                p := CASE WHEN json_row IS NULL THEN submission_offset + {_INCOMPLETE_PENALTY} ELSE submission_offset END,
                i := json_row.i, n := json_row.n
            )) AS choice
            FROM submissions WHERE json_row IS NOT NULL OR csv_usable
            GROUP BY mbid
        )
        SELECT mbid, choice.p AS preference, choice.i AS file_index, choice.n AS file_row_number FROM choices
    """


def _choose_highlevel_sql(highlevel: str, chosen_lowlevel: str) -> str:
    """The lowest-offset complete high-level row of each recording in table `chosen_lowlevel`."""
    return f"""
        SELECT mbid, choice.i AS file_index, choice.n AS file_row_number FROM (
            SELECT mbid, min(struct_pack(o := submission_offset, i := file_index, n := file_row_number)) AS choice
            FROM {highlevel}
            WHERE {_all_present(HIGHLEVEL_COLUMNS)} AND mbid IN (SELECT mbid FROM {chosen_lowlevel})
            GROUP BY mbid
        )
    """


def _chosen_lowlevel_rows_sql(lowlevel: str, chosen: str) -> str:
    """The chosen low-level rows (the JSON row itself, or a submission's CSV rows combined), by id."""
    complete = _all_present(LOWLEVEL_FEATURE_COLUMNS, "r")
    columns = LOWLEVEL_FEATURE_COLUMNS + TAG_COLUMNS
    picked = ", ".join(f"r.{_quoted(c)}" for c in columns)
    combined = ", ".join(f"any_value(r.{_quoted(c)}) AS {_quoted(c)}" for c in columns)
    return f"""
        SELECT r.mbid, {picked} FROM {lowlevel} AS r
        SEMI JOIN {chosen} AS c
            ON c.file_index = r.file_index AND c.file_row_number = r.file_row_number AND c.mbid = r.mbid
        UNION ALL
        SELECT r.mbid, {combined} FROM {lowlevel} AS r
        SEMI JOIN (SELECT mbid, preference - {_INCOMPLETE_PENALTY} AS submission_offset
                   FROM {chosen} WHERE file_index IS NULL) AS c
            ON c.mbid = r.mbid AND c.submission_offset = r.submission_offset
        WHERE NOT ({complete})
        GROUP BY r.mbid, r.submission_offset
        ORDER BY mbid
    """


def _chosen_highlevel_rows_sql(highlevel: str, chosen: str, chosen_lowlevel: str) -> str:
    """A high-level row for every recording of `chosen_lowlevel`, by id: the chosen document's,
    or an empty one. Both files then hold the same ids in the same order."""
    columns = ", ".join(f"r.{_quoted(c)}" for c in HIGHLEVEL_COLUMNS + TAG_COLUMNS)
    return f"""
        SELECT r.mbid, {columns} FROM {highlevel} AS r
        SEMI JOIN {chosen} AS c
            ON c.file_index = r.file_index AND c.file_row_number = r.file_row_number AND c.mbid = r.mbid
        UNION ALL BY NAME
        SELECT mbid FROM {chosen_lowlevel} WHERE mbid NOT IN (SELECT mbid FROM {chosen})
        ORDER BY mbid
    """


def _side_by_side_sql(lowlevel_rows: Path, highlevel_rows: Path) -> str:
    """The two sorted files joined row by row (no hash table), in `AUDIO_COLUMNS`."""
    columns = []
    for column in AUDIO_COLUMNS:
        if column == "mbid":
            columns.append("ll.mbid AS mbid")
        elif column in TAG_COLUMNS:
            # The submitter's file tags, as in `core.documents`: low-level first.
            columns.append(f"coalesce(ll.{_quoted(column)}, hl.{_quoted(column)}) AS {_quoted(column)}")
        elif column in HIGHLEVEL_COLUMNS:
            columns.append(f"hl.{_quoted(column)}")
        else:
            columns.append(f"ll.{_quoted(column)}")
    misaligned = "error('compaction: the low-level and high-level rows are out of step')"
    return f"""
        SELECT {", ".join(columns)}
        FROM {parquet_source([lowlevel_rows.as_posix()])} AS ll
        POSITIONAL JOIN {parquet_source([highlevel_rows.as_posix()])} AS hl
        WHERE CASE WHEN ll.mbid IS DISTINCT FROM hl.mbid THEN {misaligned} ELSE true END
    """


def compact_recording_features(
    connection: duckdb.DuckDBPyConnection,
    lowlevel_locations: Sequence[str],
    highlevel_locations: Sequence[str],
    destination: Path,
) -> int:
    """Write the compacted feature table (`recording_features`) to `destination`; returns its rows.

    One row per recording with low-level features, in `AUDIO_COLUMNS`, sorted by recording id:
    its chosen low-level submission and its lowest-offset high-level document, whose columns
    stay empty when it has none (see the module doc for the choice).

    The dumps are written in submission order, so a recording's submissions are spread over
    every archive and the catalog tables hold nearly all of them (about four per recording).
    Choosing once, here, means the candidates and the lookups read a quarter of the rows and no
    longer deduplicate; the order by id keeps a recording's row where Parquet's row-group
    statistics can find it.

    Done in steps whose memory does not grow with the catalog. The choice is made on ids,
    offsets and row positions alone (narrow tables); the chosen wide rows of each kind are
    then sorted by id into a file of their own (DuckDB sorts out of core), and the two files
    are read side by side. As one query, the wide join, the de-duplication and the sort ran
    together and, with two threads, needed more than 1 GB from 10M submissions.
    """
    lowlevel = parquet_source(lowlevel_locations, row_positions=True)
    highlevel = parquet_source(highlevel_locations, row_positions=True)
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".compaction-", dir=destination.parent) as folder:
        lowlevel_rows, highlevel_rows = Path(folder, "lowlevel.parquet"), Path(folder, "highlevel.parquet")
        connection.execute(f"CREATE OR REPLACE TEMP TABLE chosen_lowlevel AS {_choose_lowlevel_sql(lowlevel)}")
        connection.execute(
            f"CREATE OR REPLACE TEMP TABLE chosen_highlevel AS {_choose_highlevel_sql(highlevel, 'chosen_lowlevel')}"
        )
        copy_to_parquet(connection, _chosen_lowlevel_rows_sql(lowlevel, "chosen_lowlevel"), lowlevel_rows, "lz4")
        copy_to_parquet(
            connection, _chosen_highlevel_rows_sql(highlevel, "chosen_highlevel", "chosen_lowlevel"), highlevel_rows, "lz4"
        )
        connection.execute("DROP TABLE chosen_lowlevel; DROP TABLE chosen_highlevel")
        # A positional join is only meaningful in file order.
        kept = connection.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0]
        connection.execute("SET preserve_insertion_order = true")
        try:
            return copy_to_parquet(connection, _side_by_side_sql(lowlevel_rows, highlevel_rows), destination)
        finally:
            connection.execute(f"SET preserve_insertion_order = {'true' if kept else 'false'}")


def _has_highlevel(alias: str) -> str:
    return _all_present(HIGHLEVEL_COLUMNS, alias)


def compacted_lookup_sql(features: str, recordings: str, require_highlevel: bool) -> str:
    """Rows of the compacted table `features` (`AUDIO_COLUMNS`) for the recordings of query
    `recordings` (a `recording_id` column); with `require_highlevel`, only those with both documents."""
    highlevel = f"AND {_has_highlevel('f')}" if require_highlevel else ""
    columns = ", ".join(f"f.{_quoted(c)}" for c in AUDIO_COLUMNS)
    return f"""
        SELECT {columns} FROM {features} AS f
        WHERE f.mbid IN (SELECT recording_id FROM ({recordings})) {highlevel}
    """


@dataclass(frozen=True)
class CandidateOptions:
    """Which catalog releases count as albums to judge."""

    primary_types: tuple[str, ...] = ("Album",)
    # Release groups with any of these secondary types are left out (best-ofs, live records, ...).
    excluded_secondary_types: tuple[str, ...] = ("Compilation", "Live", "Remix", "DJ-mix")
    # Discovery: leave out albums credited to any artist of a labelled recording.
    skip_labelled_artists: bool = False
    min_year: int | None = None
    max_year: int | None = None


def _string_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(_literal(value) for value in values) + "]::VARCHAR[]"


def candidate_tracklists_sql(releases: str, tracks: str, labelled: str, options: CandidateOptions) -> str:
    """Tracklist rows (`TRACK_COLUMNS`) of every candidate release, in release and track order.

    A release is a candidate when its release group holds none of the labelled recordings (on
    any of its releases: a reissue of an album the listener has rated is not news), its types
    are wanted, and it passes the year and discovery filters. `labelled` is a query with a
    `recording_id` column.
    """
    conditions = [f"r.primary_type IN (SELECT unnest({_string_list(options.primary_types)}))"]
    if options.excluded_secondary_types:
        conditions.append(
            "NOT list_has_any(string_split(coalesce(r.secondary_types, ''), ';'), "
            f"{_string_list(options.excluded_secondary_types)})"
        )
    conditions.append("coalesce(r.release_group_id, r.release_id) NOT IN (SELECT group_key FROM labelled_groups)")
    year = "coalesce(r.release_group_year, r.release_year)"
    if options.min_year is not None:
        conditions.append(f"{year} >= {int(options.min_year)}")
    if options.max_year is not None:
        conditions.append(f"{year} <= {int(options.max_year)}")
    if options.skip_labelled_artists:
        conditions.append(
            "NOT list_has_any(string_split(coalesce(r.album_artist_ids, ''), ';'), "
            "(SELECT coalesce(list(DISTINCT artist_id), []::VARCHAR[]) FROM labelled_artists))"
        )
    selected = ", ".join(f"r.{c}" if c in _RELEASE_SIDE else f"t.{c}" for c in TRACK_COLUMNS)
    # Data tracks (video, software on an enhanced CD) are catalogued but are no part of the album
    # a listener hears: they neither count as its tracks nor lower its feature coverage. Tables
    # ingested before track_kind existed lack the column: BY NAME gives them NULL (audio).
    tracks = f"(SELECT * FROM {tracks} UNION ALL BY NAME SELECT NULL::VARCHAR AS track_kind WHERE false)"
    return f"""
        WITH labelled_tracks AS (
            SELECT t.release_id, t.recording_artist_ids
            FROM {tracks} AS t
            WHERE t.recording_id IN (SELECT recording_id FROM ({labelled}))
        ),
        labelled_groups AS (
            SELECT DISTINCT coalesce(r.release_group_id, r.release_id) AS group_key
            FROM {releases} AS r
            WHERE r.release_id IN (SELECT release_id FROM labelled_tracks)
        ),
        labelled_artists AS (
            SELECT DISTINCT unnest(string_split(recording_artist_ids, ';')) AS artist_id
            FROM labelled_tracks WHERE recording_artist_ids IS NOT NULL
        ),
        candidates AS (
            -- DISTINCT ON: a release found by the live search can also be in a dump partition.
            SELECT DISTINCT ON (r.release_id) * FROM {releases} AS r WHERE {" AND ".join(conditions)}
        )
        SELECT DISTINCT ON (t.release_id, t.medium_position, t.track_position) {selected}
        FROM {tracks} AS t JOIN candidates AS r ON r.release_id = t.release_id
        WHERE t.track_kind IS DISTINCT FROM 'data'
        ORDER BY t.release_id, t.medium_position, t.track_position
    """


_RELEASE_SIDE = {
    "release_id", "release_group_id", "album_title", "album_artist", "release_date", "release_year",
    "primary_type", "status",
}


def recording_tracklists_sql(releases: str, tracks: str, recordings: str) -> str:
    """Tracklist rows of the releases that hold any of the recordings (only those recordings' rows)."""
    selected = ", ".join(f"r.{c}" if c in _RELEASE_SIDE else f"t.{c}" for c in TRACK_COLUMNS)
    return f"""
        SELECT {selected}
        FROM {tracks} AS t JOIN {releases} AS r ON r.release_id = t.release_id
        WHERE t.recording_id IN (SELECT recording_id FROM ({recordings}))
    """


def candidate_recordings_sql(candidates: str) -> str:
    """One row per recording on the candidates' tracklists: its earliest year there, and the titles
    of that appearance (`recording_id`, `release_year`, `release_title`, `recording_title`)."""
    first = "struct_pack(y := coalesce(recording_year, 9999), r := release_id, m := medium_position, t := track_position)"
    return f"""
        SELECT recording_id, min(recording_year) AS release_year,
               arg_min(album_title, {first}) AS release_title, arg_min(recording_title, {first}) AS recording_title
        FROM {candidates}
        GROUP BY recording_id
    """


def candidate_features_sql(recordings: str, features: str, require_highlevel: bool) -> str:
    """Feature rows (`RAW_TRACK_COLUMNS`) of every recording in `recordings` (a table expression of
    `candidate_recordings_sql`'s rows) that has features, from the compacted feature table
    `features` (see `compact_recording_features`). `write_candidate_features` runs it part by part."""
    columns = ", ".join(
        "CAST(w.release_year AS DOUBLE) AS release_year" if column == "release_year"
        else f"w.{column}" if column in TITLE_COLUMNS
        else f"f.{_quoted(column)}"
        for column in RAW_TRACK_COLUMNS
    )
    highlevel = f"WHERE {_has_highlevel('f')}" if require_highlevel else ""
    return f"""
        SELECT {columns}
        FROM {features} AS f JOIN {recordings} AS w ON w.recording_id = f.mbid
        {highlevel}
    """


# Recordings per part of `write_candidate_features`: a part's join of wide feature rows then fits
# DuckDB's default 1 GB with two threads, as a whole 1M-submission catalog does.
CANDIDATE_PART_RECORDINGS = 250_000


def _id_range(column: str, low: str | None, high: str | None) -> str:
    bounds = [f"{column} >= {_literal(low)}" if low is not None else "", f"{column} < {_literal(high)}" if high is not None else ""]
    return " AND ".join(bound for bound in bounds if bound) or "true"


def write_candidate_features(
    connection: duckdb.DuckDBPyConnection,
    candidates: str,
    features: str,
    destination: Path,
    require_highlevel: bool,
    tags: str | None = None,
    part_recordings: int = CANDIDATE_PART_RECORDINGS,
) -> int:
    """Write the feature rows of the candidates' recordings (`candidate_features_sql`) to
    `destination` as Parquet, with the recordings' `musicbrainz_tags` added last when `tags` (a
    `recording_tags_sql` query) is given; returns the rows written.

    `candidates` holds tracklist rows (`candidate_tracklists_sql`); `features` is the compacted
    table, sorted by recording id. The recordings and their tags are first written to files of
    their own, sorted by id; then the rows are joined one range of ids at a time, each range
    reading only its row groups of the three sorted files, and appended to `destination`. As one
    join, wide feature rows against millions of recordings with their titles ran out of 1 GB
    with two threads at 10M submissions; a part's join needs what a small catalog's does.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".candidates-", dir=destination.parent) as folder:
        recordings_file, tags_file = Path(folder, "recordings.parquet"), Path(folder, "tags.parquet")
        copy_to_parquet(connection, f"{candidate_recordings_sql(candidates)} ORDER BY recording_id", recordings_file, "lz4")
        recordings = parquet_source([recordings_file.as_posix()])
        if tags is not None:
            copy_to_parquet(connection, f"SELECT * FROM ({tags}) ORDER BY recording_id", tags_file, "lz4")
        count = connection.execute(f"SELECT count(*) FROM {recordings}").fetchall()[0][0]
        parts = max(1, -(-count // part_recordings))
        edges: list[str | None] = [None, None]
        if parts > 1:
            fractions = ", ".join(str(number / parts) for number in range(1, parts))
            quantiles = connection.execute(f"SELECT quantile_disc(recording_id, [{fractions}]) FROM {recordings}").fetchall()[0][0]
            edges = [None, *sorted(set(quantiles)), None]
        writer: pq.ParquetWriter | None = None
        written = 0
        try:
            for low, high in zip(edges[:-1], edges[1:]):
                rows = candidate_features_sql(
                    f"(SELECT * FROM {recordings} WHERE {_id_range('recording_id', low, high)})",
                    f"(SELECT * FROM {features} WHERE {_id_range('mbid', low, high)})",
                    require_highlevel,
                )
                if tags is not None:
                    rows = with_musicbrainz_tags_sql(
                        rows, f"SELECT * FROM {parquet_source([tags_file.as_posix()])} WHERE {_id_range('recording_id', low, high)}"
                    )
                reader = connection.sql(rows).to_arrow_reader(PARQUET_ROW_GROUP_ROWS)
                if writer is None:
                    writer = pq.ParquetWriter(destination, reader.schema, compression="lz4")
                for batch in reader:
                    writer.write_batch(batch)
                    written += batch.num_rows
        finally:
            if writer is not None:
                writer.close()
    return written


MUSICBRAINZ_TAGS_COLUMN = "musicbrainz_tags"
_RELEASE_TAG_COLUMNS = ("release_tags", "release_group_tags", "artist_tags")


def _tag_rows_sql(source: str, kind: str, entity: str, text: str) -> str:
    """(kind, entity, tag, votes) rows from a tag-string column (`name=votes;...`) of `source`."""
    return f"""
        SELECT '{kind}' AS kind, entity,
               split_part(entry, '{VOTES_SEPARATOR}', 1) AS tag,
               TRY_CAST(split_part(entry, '{VOTES_SEPARATOR}', 2) AS BIGINT) AS votes
        FROM (
            SELECT {entity} AS entity, unnest(string_split({text}, '{TAG_SEPARATOR}')) AS entry
            FROM {source} WHERE {entity} IS NOT NULL AND {text} IS NOT NULL
        )
    """


def recording_tags_sql(
    releases: str,
    tracks: str,
    recordings: str,
    release_group_tags: str | None = None,
    artist_tags: str | None = None,
) -> str:
    """`recording_id, musicbrainz_tags` for every recording of `recordings` (a query with a
    `recording_id` column) that has MusicBrainz tags.

    A recording's tags are those of every catalog release it is on, of those releases' release
    groups, and of its credited artists (`recording_artist_ids`): each of these entities counts
    once, and the votes of a tag are summed over them. `musicbrainz_tags` is
    `name=votes;name=votes`, most votes first, then by name. An entity's tags come from the
    release rows (`release_tags`, `release_group_tags`, `artist_tags`) and from the
    `release_group_tags` and `artist_tags` tables (`<entity>_id, tag, votes`; None: no such table);
    where several copies of an entity's tag are found (two archives, a release in a dump and in
    the live search), the most votes count, so nothing is counted twice. Release partitions
    ingested before the tag columns existed read as having no tags.
    """
    nulls = ", ".join(f"NULL::VARCHAR AS {column}" for column in _RELEASE_TAG_COLUMNS)
    releases = f"(SELECT * FROM {releases} UNION ALL BY NAME SELECT {nulls} WHERE false)"
    artist_blocks = f"""(
        SELECT split_part(block, '{ARTIST_ID_SEPARATOR}', 1) AS artist_id,
               substr(block, strpos(block, '{ARTIST_ID_SEPARATOR}') + 1) AS tags
        FROM (SELECT unnest(string_split(artist_tags, '{ARTIST_SEPARATOR}')) AS block FROM held
              WHERE artist_tags IS NOT NULL)
    )"""
    sources = [
        _tag_rows_sql("held", "release", "release_id", "release_tags"),
        _tag_rows_sql("held", "release-group", "release_group_id", "release_group_tags"),
        _tag_rows_sql(artist_blocks, "artist", "artist_id", "tags"),
    ]
    if release_group_tags:
        sources.append(
            f"""SELECT 'release-group' AS kind, release_group_id AS entity, tag, CAST(votes AS BIGINT) AS votes
                FROM {release_group_tags}
                WHERE release_group_id IN (SELECT entity FROM links WHERE kind = 'release-group')"""
        )
    if artist_tags:
        sources.append(
            f"""SELECT 'artist' AS kind, artist_id AS entity, tag, CAST(votes AS BIGINT) AS votes
                FROM {artist_tags}
                WHERE artist_id IN (SELECT entity FROM links WHERE kind = 'artist')"""
        )
    return f"""
        WITH placements AS (
            SELECT DISTINCT t.recording_id, t.release_id, t.recording_artist_ids
            FROM {tracks} AS t
            WHERE t.recording_id IN (SELECT recording_id FROM ({recordings}))
        ),
        held AS (
            SELECT r.release_id, r.release_group_id, r.release_tags, r.release_group_tags, r.artist_tags
            FROM {releases} AS r
            WHERE r.release_id IN (SELECT release_id FROM placements)
        ),
        links AS (
            SELECT recording_id, 'release' AS kind, release_id AS entity FROM placements
            UNION
            SELECT DISTINCT p.recording_id, 'release-group' AS kind, h.release_group_id AS entity
            FROM placements AS p JOIN held AS h USING (release_id) WHERE h.release_group_id IS NOT NULL
            UNION
            SELECT recording_id, 'artist' AS kind, artist_id AS entity FROM (
                SELECT recording_id, unnest(string_split(recording_artist_ids, ';')) AS artist_id
                FROM placements WHERE recording_artist_ids IS NOT NULL
            )
        ),
        entity_tags AS (
            SELECT kind, entity, tag, max(votes) AS votes
            FROM ({" UNION ALL ".join(sources)})
            WHERE votes > 0 AND tag <> ''
            GROUP BY kind, entity, tag
        ),
        summed AS (
            SELECT l.recording_id, e.tag, sum(e.votes) AS votes
            FROM links AS l JOIN entity_tags AS e ON e.kind = l.kind AND e.entity = l.entity
            GROUP BY l.recording_id, e.tag
        )
        SELECT recording_id,
               string_agg(tag || '{VOTES_SEPARATOR}' || CAST(votes AS VARCHAR), '{TAG_SEPARATOR}'
                          ORDER BY votes DESC, tag) AS {MUSICBRAINZ_TAGS_COLUMN}
        FROM summed
        GROUP BY recording_id
    """


def recording_tags_from_documents(
    releases: Iterable[Mapping[str, Any]], recording_ids: Sequence[str]
) -> tuple[dict[str, str], ReleaseIngestCounts]:
    """The `musicbrainz_tags` of recordings from release documents alone (WS/2 lookups with
    `inc=...+genres+tags`, or dump lines): the documents are read into release and track rows as
    the dump's are, and combined by `recording_tags_sql`, so both sources give the same string.
    Returns recording -> tags (recordings without tags left out) and the reading's counts."""
    counts = ReleaseIngestCounts()
    collected = ReleaseRows(counts)
    for release in releases:
        collected.add(release, f"release {release.get('id') if isinstance(release, Mapping) else release!r}")
    tables = collected.take()
    connection = connect(EngineSettings(threads=1))
    try:
        connection.register("document_releases", tables["releases"])
        connection.register("document_tracks", tables["tracks"])
        wanted = register_ids(connection, "document_recordings", list(recording_ids))
        found = connection.execute(recording_tags_sql("document_releases", "document_tracks", wanted)).fetchall()
    finally:
        connection.close()
    return dict(found), counts


def with_musicbrainz_tags_sql(rows: str, tags: str, key: str = "mbid") -> str:
    """`rows` (a query) with the `musicbrainz_tags` column of `tags` (a `recording_tags_sql`) added last."""
    return f"""
        SELECT rows.*, tags.{MUSICBRAINZ_TAGS_COLUMN}
        FROM ({rows}) AS rows LEFT JOIN ({tags}) AS tags ON tags.recording_id = rows.{_quoted(key)}
    """


def with_recording_tags(rows: pd.DataFrame, tags: pd.DataFrame | None, key: str = "mbid") -> pd.DataFrame:
    """`rows` with a `musicbrainz_tags` column from `tags` (columns `mbid`, `musicbrainz_tags`; None: no
    tags at all), placed before the label column `liked` when there is one, else last."""
    found = {} if tags is None else dict(zip(tags["mbid"], tags[MUSICBRAINZ_TAGS_COLUMN]))
    values = pd.Series([found.get(recording_id) for recording_id in rows[key]], index=rows.index, dtype="object")
    table = rows.drop(columns=[MUSICBRAINZ_TAGS_COLUMN], errors="ignore")
    position = table.columns.get_loc("liked") if "liked" in table.columns else len(table.columns)
    table.insert(position, MUSICBRAINZ_TAGS_COLUMN, values.where(values.notna(), None))
    return table


PARQUET_ROW_GROUP_ROWS = 100_000


def copy_to_parquet(
    connection: duckdb.DuckDBPyConnection, query: str, destination: Path, compression: str = "zstd"
) -> int:
    """Write a query's rows to a Parquet file without holding them in memory; returns the row count.

    zstd makes the smaller file; lz4 one that decodes about twice as fast, for a table that is
    read in full right after (the features the network scores).
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    connection.execute(
        f"COPY ({query}) TO {_literal(str(destination))} "
        f"(FORMAT parquet, COMPRESSION {compression}, ROW_GROUP_SIZE {PARQUET_ROW_GROUP_ROWS})"
    )
    # fetchall, not fetchone: a result left unread keeps the connection from registering tables.
    return int(connection.execute(f"SELECT count(*) FROM read_parquet({_literal(str(destination))})").fetchall()[0][0])


def register_ids(connection: duckdb.DuckDBPyConnection, name: str, recording_ids: Sequence[str]) -> str:
    """Make a list of recording ids queryable as `SELECT recording_id FROM <name>`."""
    connection.register(name, pd.DataFrame({"recording_id": pd.Series(list(recording_ids), dtype="object")}))
    return f"SELECT recording_id FROM {name}"
