"""AcousticBrainz dump archives -> feature tables, one row per submission.

Three kinds of archive feed the same two tables:

* JSON dumps (`acousticbrainz-lowlevel-json-<date>-<n>.tar.zst`, `...-highlevel-json-...`, and
  the 100k sample dump): one document per member at
  `<dump>/lowlevel/<mbid[0:2]>/<mbid[2]>/<mbid>-<offset>.json` (or `highlevel/`). A low-level
  document becomes a row of the `lowlevel` table, a high-level one a row of the `highlevel`
  table, with the columns `core.documents` reads for the model.
* CSV feature dumps (`acousticbrainz-lowlevel-features-<date>-{lowlevel,rhythm,tonal}`): one
  CSV per archive, one line per submission. Their columns that the model also reads
  (loudness, dynamic complexity, the first MFCC mean, bpm, key and scale) go into the
  `lowlevel` table under the same names; the rest of that row stays empty.

Submissions. AcousticBrainz kept every analysis of a recording, numbered by `offset` from 0
(about four per recording). albumrec uses the lowest offset: the first analysis, which is what
the v1 API returns when no offset is asked for (and so what the original project trained on),
and what the live API source picks. "Lowest" is a rule that gives the same answer whatever the
order of the archives and of the members in them. The dumps are written in submission order,
so a recording's submissions are spread over every archive of a kind: the tables keep a row per
submission (a batch drops only the rare repeat within itself), and the choice is made once,
over all archives together, by the compacted `recording_features` table (see `core.catalog`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from albumrec_pipeline.core.archives import ArchiveMember, DumpFormatError, DumpReadCounts
from albumrec_pipeline.core.documents import (
    HIGHLEVEL_KIND,
    LOWLEVEL_KIND,
    DocumentError,
    document_tags,
    highlevel_features,
    json_type,
    lowlevel_features,
)
from albumrec_pipeline.core.feature_columns import (
    CATEGORICAL_VOCABULARIES,
    HIGHLEVEL_COLUMNS,
    LOWLEVEL_SCALARS,
    MFCC_COLUMNS,
    TAG_COLUMNS,
)
from albumrec_pipeline.core.mbids import MBID_PATTERN

LOWLEVEL, HIGHLEVEL = "lowlevel", "highlevel"

# Low-level feature columns, in table order: the tonal categories, then the numbers.
LOWLEVEL_FEATURE_COLUMNS: list[str] = list(CATEGORICAL_VOCABULARIES) + list(LOWLEVEL_SCALARS) + MFCC_COLUMNS


def _schema(feature_columns: list[str]) -> pa.Schema:
    fields = [pa.field("mbid", pa.string(), nullable=False), pa.field("submission_offset", pa.int32(), nullable=False)]
    for column in feature_columns:
        fields.append(pa.field(column, pa.string() if column in CATEGORICAL_VOCABULARIES else pa.float64()))
    fields += [pa.field(tag, pa.string()) for tag in TAG_COLUMNS]
    return pa.schema(fields)


TABLE_SCHEMAS: dict[str, pa.Schema] = {
    LOWLEVEL: _schema(LOWLEVEL_FEATURE_COLUMNS),
    HIGHLEVEL: _schema(HIGHLEVEL_COLUMNS),
}

# `<dump>/<kind>/<aa>/<b>/<mbid>-<offset>.json`; the folders between kind and file are not
# checked, so older dumps (`<a>/<ab>/`) read the same.
_DOCUMENT_PATH = re.compile(rf"(?:^|/)(lowlevel|highlevel)/(?:[^/]+/)*({MBID_PATTERN})-(\d+)\.json$")

# CSV feature dumps: which file is which is told by its header, not its name.
CSV_KINDS: dict[str, tuple[str, ...]] = {
    "lowlevel": ("mbid", "submission_offset", "average_loudness", "dynamic_complexity", "mfcc_zero_mean"),
    "rhythm": (
        "mbid", "submission_offset", "bpm", "bpm_histogram_first_peak_bpm_mean", "bpm_histogram_first_peak_bpm_median",
        "bpm_histogram_second_peak_bpm_mean", "bpm_histogram_second_peak_bpm_median", "danceability", "onset_rate",
    ),
    "tonal": ("mbid", "submission_offset", "key_key", "key_scale", "tuning_frequency", "tuning_equal_tempered_deviation"),
}
# CSV columns the model reads, and their names in the feature tables.
CSV_TO_TABLE: dict[str, str] = {
    "average_loudness": "average_loudness",
    "dynamic_complexity": "dynamic_complexity",
    "mfcc_zero_mean": "mfcc_1",  # the mean of the first MFCC coefficient: `lowlevel.mfcc.mean[0]`
    "bpm": "bpm",
    "key_key": "key_key",
    "key_scale": "key_scale",
}


def document_identity(member_name: str) -> tuple[str, str, int] | None:
    """(kind, recording mbid, submission offset) of a JSON dump member; None for other members."""
    match = _DOCUMENT_PATH.search(member_name)
    if not match:
        return None
    return match.group(1), match.group(2), int(match.group(3))


_KIND_NAMES = {LOWLEVEL: LOWLEVEL_KIND, HIGHLEVEL: HIGHLEVEL_KIND}


def document_row(kind: str, mbid: str, offset: int, payload: bytes) -> dict[str, Any]:
    """One table row from one JSON document; raises DocumentError when it lacks what the model reads.

    A member cut short, empty, not UTF-8, not JSON (NaN and Infinity are not JSON either) or
    not a JSON object is a DocumentError like any other unusable document: the archive goes on.
    """
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        raise DocumentError(mbid, _KIND_NAMES[kind], f"submission {offset}", f"is not valid JSON ({error})") from error
    return parsed_document_row(kind, mbid, offset, document)


def parsed_document_row(kind: str, mbid: str, offset: int, document: Any) -> dict[str, Any]:
    """`document_row` for a document already parsed (as the live API's client hands them out)."""
    if not isinstance(document, dict):
        raise DocumentError(
            mbid, _KIND_NAMES[kind], f"submission {offset}", f"is {json_type(document)}, not a JSON object"
        )
    features = lowlevel_features(document, mbid) if kind == LOWLEVEL else highlevel_features(document, mbid)
    return {"mbid": mbid, "submission_offset": offset, **features, **document_tags(document, mbid, _KIND_NAMES[kind])}


@dataclass
class TableBatcher:
    """Collects rows for one table and hands out Arrow batches of about `batch_rows` rows.

    Within a batch a recording keeps only its lowest-offset row: a cheap saving when two of its
    submissions happen to be near each other in an archive (submitted close together), and no
    more than that, since the archives are in submission order, not by recording.
    """

    schema: pa.Schema
    batch_rows: int = 20_000
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    duplicates_dropped: int = 0

    def add(self, row: dict[str, Any]) -> pa.Table | None:
        mbid = row["mbid"]
        current = self.rows.get(mbid)
        if current is not None:
            self.duplicates_dropped += 1
            if row["submission_offset"] < current["submission_offset"]:
                self.rows[mbid] = row
            return None
        full = len(self.rows) >= self.batch_rows
        batch = self.flush() if full else None
        self.rows[mbid] = row
        return batch

    def flush(self) -> pa.Table | None:
        if not self.rows:
            return None
        batch = pa.Table.from_pylist(list(self.rows.values()), schema=self.schema)
        self.rows = {}
        return batch


@dataclass
class IngestCounts(DumpReadCounts):
    documents: dict[str, int] = field(default_factory=lambda: {LOWLEVEL: 0, HIGHLEVEL: 0})
    csv_rows: int = 0
    other_members: int = 0


def _csv_kind(header: list[str], member: str) -> str:
    for kind, columns in CSV_KINDS.items():
        if tuple(header) == columns:
            return kind
    raise DumpFormatError(
        f"{member}: a CSV whose header {header} is none of the AcousticBrainz feature dumps "
        f"(lowlevel, rhythm, tonal: {', '.join(', '.join(c) for c in CSV_KINDS.values())})"
    )


def csv_feature_batches(file: IO[bytes], member: str, block_bytes: int = 1 << 22) -> Iterator[pa.Table]:
    """Rows of a CSV feature dump in the `lowlevel` table's schema (absent columns empty).

    Values are text in these dumps, an empty field meaning "missing"; numbers that do not parse
    or are not finite, and keys outside the model's vocabulary, are left empty rather than
    failing the archive. Rows keep every submission: they are small, and the submission is
    chosen when the tables are read, where a row missing a value can give way to the next one.

    Bytes that are not CSV at all (a line with another number of fields, text that is not
    UTF-8) mean the file is damaged, not one value: DumpFormatError names the member and the
    parser's finding, and the archive's partition fails; the rows before it have been handed out.
    """
    try:
        header = file.readline().decode("utf-8-sig").strip().split(",")
    except UnicodeDecodeError as error:
        raise DumpFormatError(f"{member}: the CSV header is not UTF-8 text ({error})") from error
    kind = _csv_kind(header, member)
    schema = TABLE_SCHEMAS[LOWLEVEL]
    for batch in _csv_blocks(file, member, header, block_bytes):
        offsets = _numbers(batch.column("submission_offset"))
        whole = pc.and_(pc.is_valid(offsets), pc.equal(pc.floor(offsets), offsets))
        columns: dict[str, pa.Array] = {
            "mbid": pc.utf8_lower(pc.utf8_trim_whitespace(batch.column("mbid"))),
            "submission_offset": pc.cast(pc.if_else(whole, offsets, pa.scalar(None, pa.float64())), pa.int32()),
        }
        for source in CSV_KINDS[kind][2:]:
            target = CSV_TO_TABLE.get(source)
            if target is None:
                continue
            values = pc.utf8_trim_whitespace(batch.column(source))
            if target in CATEGORICAL_VOCABULARIES:
                known = pc.is_in(values, value_set=pa.array(CATEGORICAL_VOCABULARIES[target]))
                values = pc.if_else(known, values, pa.scalar(None, pa.string()))
            else:
                values = _numbers(values)
                values = pc.if_else(pc.is_finite(values), values, pa.scalar(None, pa.float64()))
            columns[target] = values
        length = batch.num_rows
        arrays = [columns[field.name] if field.name in columns else pa.nulls(length, field.type) for field in schema]
        table = pa.Table.from_arrays(arrays, schema=schema)
        valid = pc.and_(
            pc.is_valid(table.column("submission_offset")), pc.match_substring_regex(table.column("mbid"), _MBID)
        )
        yield table.filter(pc.fill_null(valid, False))


def _csv_blocks(file: IO[bytes], member: str, header: list[str], block_bytes: int) -> Iterator[pa.RecordBatch]:
    """The CSV's lines, parsed a block of whole lines at a time, each block as soon as it is read.

    The blocks are read here rather than by pyarrow's streaming reader, which reads many blocks
    ahead: when the archive breaks off, every line before the break has then been handed out.
    The feature dumps quote nothing, so a block can end at any line end.
    """
    read_options = pa_csv.ReadOptions(column_names=header, block_size=block_bytes)
    # Every column is read as text and converted later: a single odd value further down the
    # file must not fail the conversion of a whole block.
    convert_options = pa_csv.ConvertOptions(
        column_types={name: pa.string() for name in header}, strings_can_be_null=True, null_values=[""]
    )
    carried = b""
    while True:
        data = file.read(block_bytes)
        lines = carried + data
        if data:
            end = lines.rfind(b"\n") + 1
            lines, carried = lines[:end], lines[end:]
        if lines and not lines.isspace():
            try:
                table = pa_csv.read_csv(pa.BufferReader(lines), read_options=read_options, convert_options=convert_options)
            except pa.ArrowInvalid as error:
                raise DumpFormatError(f"{member}: the CSV is damaged: {error}") from error
            yield from table.to_batches()
        if not data:
            return


_MBID = f"^{MBID_PATTERN}$"


def _numbers(values: pa.Array) -> pa.Array:
    """Text to float64, unparseable text to empty (a plain cast would fail the whole batch)."""
    parseable = pc.match_substring_regex(values, r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
    cleaned = pc.if_else(pc.fill_null(parseable, False), values, pa.scalar(None, pa.string()))
    return pc.cast(cleaned, pa.float64())


def ingest_feature_archive(
    members: Iterable[ArchiveMember],
    emit: Callable[[str, pa.Table], None],
    counts: IngestCounts,
    batch_rows: int = 20_000,
    on_member: Callable[[IngestCounts], None] | None = None,
) -> IngestCounts:
    """Route every member of an AcousticBrainz archive to the `lowlevel` or `highlevel` table.

    `emit(table_name, batch)` receives Arrow batches as they fill; `on_member` is called after
    each member (for progress). Unusable documents are counted and skipped; members that are
    not documents or feature CSVs (COPYING, checksums) are counted as other members.
    """
    batchers = {kind: TableBatcher(TABLE_SCHEMAS[kind], batch_rows) for kind in (LOWLEVEL, HIGHLEVEL)}
    try:
        for member in members:
            counts.members += 1
            identity = document_identity(member.name)
            if identity is not None:
                kind, mbid, offset = identity
                try:
                    row = document_row(kind, mbid, offset, member.read())
                except DocumentError as error:
                    counts.note_problem(f"{member.name}: {error}")
                else:
                    counts.documents[kind] += 1
                    if (batch := batchers[kind].add(row)) is not None:
                        emit(kind, batch)
            elif member.name.endswith(".csv"):
                for batch in csv_feature_batches(member.file, member.name):
                    counts.csv_rows += batch.num_rows
                    emit(LOWLEVEL, batch)
                    if on_member:
                        on_member(counts)
            else:
                counts.other_members += 1
            if on_member:
                on_member(counts)
    finally:
        # Also when the archive breaks off: the rows read so far are handed out, and the caller
        # decides whether to keep them.
        for kind, batcher in batchers.items():
            if (batch := batcher.flush()) is not None:
                emit(kind, batch)
    return counts
