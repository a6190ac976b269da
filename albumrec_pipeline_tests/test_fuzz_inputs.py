"""Property tests over the two doors bad input comes through: the listener's list and the documents.

For both the promise is the same: a known error (`LikedTracksError`, `DocumentError`) or a
result every value of which can be traced back to the input. Nothing else may escape. And the
error comes only where the documented rules refuse: each test works out from the rules alone
whether its input must be read (and with which values) or refused (and where), so a reader
that refuses too much fails as surely as one that reads too much.
"""

import json
import math
import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from albumrec_pipeline.core.documents import HIGHLEVEL_KIND, LOWLEVEL_KIND, DocumentError, track_row_from_documents
from albumrec_pipeline.core.feature_columns import (
    CATEGORICAL_VOCABULARIES,
    CONFIDENCE_MODELS,
    DANCEABLE_COLUMN,
    LOWLEVEL_SCALARS,
    MFCC_COLUMNS,
    MULTICLASS_MODELS,
    NUMERIC_AUDIO_COLUMNS,
    TAG_COLUMNS,
)
from albumrec_pipeline.core.feature_dumps import HIGHLEVEL, LOWLEVEL, document_row
from albumrec_pipeline.core.liked_tracks import LikedTracksError, read_liked_tracks
from albumrec_pipeline_tests.factories import highlevel_document, lowlevel_document, recording_id

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
LABELS = {"0": 0, "1": 1, "0.0": 0, "1.0": 1}
FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _read(data: bytes):
    # A fresh folder per example: hypothesis runs many examples inside one test call.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "list.csv"
        path.write_bytes(data)
        return read_liked_tracks(path)


# --- the listener's list ------------------------------------------------------------------------

POOL = [recording_id(number) for number in range(20)]

good_ids = st.one_of(
    st.sampled_from(POOL),
    st.sampled_from(POOL).map(str.upper),
    st.tuples(st.sampled_from(["", " ", "\t", "\u00a0"]), st.sampled_from(POOL), st.sampled_from(["", " ", "\t"])).map(
        "".join
    ),
)
bad_ids = st.one_of(
    st.sampled_from(POOL).map(lambda mbid: "{" + mbid + "}"),
    st.sampled_from(POOL).map(lambda mbid: mbid.replace("-", "")),
    st.sampled_from(["", "not-an-id", "mbid", "NULL"]),
    st.text(max_size=40),
)
good_labels = st.sampled_from(["0", "1", "0.0", "1.0", " 1", "0 "])
bad_labels = st.one_of(
    st.sampled_from(["yes", "true", "", "2", "-1", "1e0", "01", "1.00", "1.", "+1"]), st.text(max_size=4)
)
extra_cells = st.one_of(st.just(""), st.text(max_size=12))
# What follows a row's last column: nothing or a trailing comma; stray text only as a corruption.
good_endings = st.sampled_from(["", "", ","])
bad_endings = st.sampled_from([",x", ",,y", ', "z"'])
corrupt_values = {"liked": bad_labels, "mbid": bad_ids, "ending": bad_endings, "blank": st.just("")}
corrupted_cells = st.sampled_from(sorted(corrupt_values)).flatmap(
    lambda field: st.tuples(st.just(field), corrupt_values[field])
)
corruptions = st.lists(st.tuples(st.integers(0, 20), corrupted_cells), max_size=2)


def _field(value: str, quote: bool) -> str:
    if quote or any(character in value for character in ',"\r\n') or value[:1].isspace():
        return '"' + value.replace('"', '""') + '"'
    return value


@st.composite
def csv_lists(draw):
    """A CSV list as a spreadsheet or a careless script might write it: mostly good rows, a few
    corrupted ones. Returns the file's bytes and each row's cells (mbid, liked, others, ending)."""
    extras = draw(st.lists(st.sampled_from(["note", "rating", ""]), max_size=2))
    id_name, label_name = draw(st.sampled_from(["mbid", "MBID", " mbid"])), draw(st.sampled_from(["liked", "Liked"]))
    # Column positions in the file: 0 is the id, 1 the label, 2... the extra columns.
    order = draw(st.permutations(range(2 + len(extras))))
    names = [[id_name, label_name, *extras][position] for position in order]
    rows = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "mbid": good_ids,
                    "liked": good_labels,
                    "others": st.lists(extra_cells, min_size=len(extras), max_size=len(extras)),
                    "ending": good_endings,
                }
            ),
            min_size=2,
            max_size=12,
        )
    )
    rows = [dict(row) for row in rows]
    for index, (field, value) in draw(corruptions):
        row = rows[index % len(rows)]
        if field == "blank":
            row.update(mbid="", liked="", others=[""] * len(extras), ending="")
        else:
            row[field] = value
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    quote_all = draw(st.booleans())
    lines = [",".join(_field(name, quote_all) for name in names)]
    for row in rows:
        cells = [row["mbid"], row["liked"], *row["others"]]
        by_position = [cells[position] for position in order]
        blank = not any(by_position) and not row["ending"]
        lines.append("" if blank and draw(st.booleans()) else ",".join(_field(v, quote_all) for v in by_position) + row["ending"])
    text = newline.join(lines) + draw(st.sampled_from(["", newline, newline * 3]))
    bom = draw(st.sampled_from(["", "\ufeff"]))
    return (bom + text).encode(), rows


def _expected_list(rows) -> dict[str, int] | None:
    """What the documented rules make of these rows: recording -> label, or None for a refusal."""
    if any(row["ending"].strip(", ") for row in rows):
        return None  # text past the last column
    entries = [row for row in rows if (row["mbid"] + row["liked"]).strip() or any(o.strip() for o in row["others"])]
    labels: dict[str, set[int]] = {}
    for row in entries:
        mbid, label = row["mbid"].strip().lower(), row["liked"].strip()
        if not UUID.fullmatch(mbid) or label not in LABELS:
            return None
        labels.setdefault(mbid, set()).add(LABELS[label])
    if not labels or any(len(found) > 1 for found in labels.values()):
        return None  # no entries, or conflicting labels
    expected = {mbid: found.pop() for mbid, found in labels.items()}
    # A list needs a liked track; dislikes are optional (the liked-only mode).
    return expected if 1 in expected.values() else None


@FUZZ
@given(csv_lists())
def test_a_list_is_read_by_its_documented_rules(generated):
    data, rows = generated
    expected = _expected_list(rows)
    try:
        table = _read(data)
    except LikedTracksError as error:
        assert expected is None, f"refused a good list: {error}"
        assert "list.csv: " in str(error)
        event("refused")
        return
    event("read")
    assert expected is not None, "read a list the rules refuse"
    assert list(table.columns) == ["mbid", "liked"]
    assert all(UUID.fullmatch(mbid) for mbid in table["mbid"])
    assert dict(zip(table["mbid"], table["liked"].tolist(), strict=True)) == expected
    # In the order of their first appearance, each once.
    first_seen = list(dict.fromkeys(row["mbid"].strip().lower() for row in rows if row["mbid"].strip()))
    assert table["mbid"].tolist() == [mbid for mbid in first_seen if mbid in expected]


label_spellings = st.one_of(
    st.sampled_from(["0", "1", "0.0", "1.0", " 1 ", "\t0", "yes", "no", "true", "false", "", "2", "-1", "-0", "+1", "1.",
                     ".0", "1e0", "01", "00", "1.00", "0.5", "nan", "inf", "I", "l", "１", "1\u00a0", "\u00a00"]),
    st.text(max_size=4),
)
id_spellings = st.one_of(
    st.sampled_from(POOL[2:]).flatmap(
        lambda mbid: st.sampled_from([mbid, mbid.upper(), f" {mbid}\t", "{" + mbid + "}", mbid.replace("-", ""), mbid[1:],
                                      mbid + "0", f"urn:uuid:{mbid}", mbid.replace("-", "_"), mbid[:-1] + "g", mbid[:-1] + "İ"])
    ),
    st.text(max_size=40),
)


@FUZZ
@given(
    st.one_of(st.tuples(st.sampled_from(POOL[2:]), label_spellings), st.tuples(id_spellings, st.sampled_from(["0", "1"]))),
    st.booleans(),
    st.sampled_from(["", ",", ",note"]),
)
def test_one_cell_decides_between_read_and_refused(cells, quote, ending):
    """A good list plus one row with a fuzzed id or label: read exactly when the rules allow that row."""
    mbid, label = cells
    header = "mbid,liked,note" if ending == ",note" else "mbid,liked"
    padding = "," if ending == ",note" else ""
    text = f"{header}\n{POOL[0]},1{padding}\n{POOL[1]},0{padding}\n{_field(mbid, quote)},{_field(label, quote)}{ending}\n"
    stripped_id, stripped_label = mbid.strip().lower(), label.strip()
    good = bool(UUID.fullmatch(stripped_id)) and stripped_label in LABELS
    blank = not stripped_id and not stripped_label and ending != ",note"
    try:
        table = _read(text.encode())
    except LikedTracksError:
        assert not good and not blank
        return
    assert good or blank, (mbid, label, ending)
    assert table["mbid"].tolist() == POOL[:2] + ([stripped_id] if good else [])
    assert table["liked"].tolist() == [1, 0] + ([LABELS[stripped_label]] if good else [])


# Characters whose handling belongs to the CSV parser rather than to the list's rules: quoting,
# NUL, a byte-order mark left after the first one, and the line separators only Python's
# `splitlines` knows. A file holding one may be read or refused; a file without any is decided
# by the rules alone.
PARSER_CHARACTERS = frozenset('"\x00\ufeff\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029')
LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Rows running this many fields past the header are refused outright, whatever the fields hold.
FIELDS_PAST_THE_HEADER_READ = 256
UNDECIDED = object()


def _rows_of(entries, names):
    """Cell lists as `_expected_list` takes rows: mbid, liked, the other columns' cells, no ending."""
    others = [position for position, name in enumerate(names) if name not in ("mbid", "liked")]
    return [
        {
            "mbid": cells[names.index("mbid")],
            "liked": cells[names.index("liked")],
            "others": [cells[position] for position in others],
            "ending": "",
        }
        for cells in entries
    ]


def _expected_from_bytes(data: bytes):
    """What the documented rules make of a file: recording -> label, None for a refusal, or
    UNDECIDED for a file holding characters the rules leave to the CSV parser."""
    try:
        text = data.decode("utf-8-sig")  # a UTF-16 byte-order mark is no UTF-8 either
    except UnicodeDecodeError:
        return None  # not UTF-8
    if not text.strip():
        return None  # empty
    if PARSER_CHARACTERS & set(text):
        return UNDECIDED
    lines = LINE_BREAK.split(text)
    if lines[-1] == "":
        lines.pop()  # the line break that ends the last row
    names = [name.strip().lower() for name in lines[0].split(",")]
    if names.count("mbid") != 1 or names.count("liked") != 1:
        return None  # no header, a column missing or named twice
    width = len(names)
    entries = []
    for line in lines[1:]:
        cells = line.split(",")
        if len(cells) > width + FIELDS_PAST_THE_HEADER_READ:
            return UNDECIDED
        if any(cell.strip() for cell in cells[width:]):
            return None  # text past the header's last column
        entries.append((cells + [""] * width)[:width])  # a short row's missing fields are empty
    return _expected_list(_rows_of(entries, names))


list_cells = st.one_of(
    st.sampled_from(POOL[:4]),
    st.sampled_from(POOL[:4]).map(str.upper),
    st.sampled_from(["1", "0", "1.0", "0.0", " 1", "0 ", "", " ", "\t", "\u00a0", "yes", "2", "x", ";", "mbid", "liked"]),
    st.sampled_from(sorted(PARSER_CHARACTERS)),
)
scrambled_cells = st.lists(st.lists(list_cells, max_size=3).map("".join), min_size=1, max_size=4)
# Mostly one label per recording, so that lists without a conflict are common.
labelled = st.sampled_from([(POOL[0], "1"), (POOL[1], "1.0"), (POOL[2], "0"), (POOL[3], " 1"), (POOL[3], "0")])


@st.composite
def list_like_bytes(draw):
    """Text shaped like a list: a header of some kind, rows mostly of ids and labels in the header's
    columns, some of them scrambled, any line breaks, now and then a byte that is not UTF-8."""
    names = draw(st.sampled_from([["mbid", "liked"], ["MBID", " Liked ", "note"], ["mbid", "liked", ""], ["note", "liked", "mbid"],
                                  ["mbid;liked"], ["mbid", "mbid", "liked"], ["id", "liked"], [""]]))
    lowered = [name.strip().lower() for name in names]
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.integers(0, 3)) == 0:
            rows.append(",".join(draw(scrambled_cells)))
            continue
        mbid, label = draw(labelled)
        cells = [mbid if name == "mbid" else label if name == "liked" else draw(st.sampled_from(["", "a note"])) for name in lowered]
        rows.append(",".join(cells))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = draw(st.sampled_from(["", "\ufeff"])) + newline.join([",".join(names), *rows])
    data = (text + draw(st.sampled_from(["", newline, newline * 2]))).encode()
    if draw(st.integers(0, 9)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xff\xfe"])) + data[at:]
    return data


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=400),
        st.binary(max_size=400).map(lambda tail: b"mbid,liked\n" + tail),
        list_like_bytes(),
        list_like_bytes(),
    )
)
def test_any_bytes_give_a_list_or_a_list_error(data):
    expected = _expected_from_bytes(data)
    try:
        table = _read(data)
    except LikedTracksError as error:
        assert expected is None or expected is UNDECIDED, f"refused a list the rules read as {expected}: {error}"
        event("refused")
        return
    event("read" if expected is not UNDECIDED else "read, left to the parser")
    assert expected is not None, "read a file the rules refuse"
    if expected is not UNDECIDED:
        assert dict(zip(table["mbid"], table["liked"].tolist(), strict=True)) == expected
        return
    text = data.decode("utf-8-sig").lower()
    assert all(UUID.fullmatch(mbid) and mbid in text for mbid in table["mbid"])
    assert 1 in set(table["liked"]) and set(table["liked"]) <= {0, 1}


# --- AcousticBrainz documents -------------------------------------------------------------------

RID = recording_id(7)
json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=8),
        st.sampled_from(["C", "minor", "120", "", "nan"]),
    ),
    lambda children: st.one_of(st.lists(children, max_size=14), st.dictionaries(st.text(max_size=8), children, max_size=4)),
    max_leaves=20,
)


def _paths(node, prefix=()):
    """The path of every value in a JSON tree, the root's included."""
    yield prefix
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _paths(child, (*prefix, index))


def _mutated(data, document):
    """The document with one to four random changes: a value deleted, replaced (by any JSON value,
    NaN or an infinity, its own text, a boolean), wrapped in a list or object, or unwrapped."""
    for _ in range(data.draw(st.integers(1, 4))):
        path = data.draw(st.sampled_from(list(_paths(document))))
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        value = parent[path[-1]] if path else document
        operation = data.draw(st.sampled_from(["delete", "replace", "special", "text", "bool", "wrap", "unwrap", "number"]))
        if operation == "delete":
            if not path:
                continue
            del parent[path[-1]]
            continue
        if operation == "replace":
            new = data.draw(json_values)
        elif operation == "special":
            new = data.draw(st.sampled_from([math.nan, math.inf, -math.inf]))
        elif operation == "text":
            new = str(value)
        elif operation == "bool":
            new = data.draw(st.booleans())
        elif operation == "wrap":
            new = data.draw(st.sampled_from([[value], {"mean": value}, {"value": value}]))
        elif operation == "unwrap" and isinstance(value, dict) and value:
            new = value[data.draw(st.sampled_from(sorted(value)))]
        elif operation == "unwrap" and isinstance(value, list) and value:
            new = value[0]
        else:  # another plain number where one was: the row must carry it, not the old one
            new = data.draw(st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False)))
        if path:
            parent[path[-1]] = new
        else:
            document = new
    return document


def _at(document, path):
    node = document
    for key in path:
        assert isinstance(node, dict) and key in node, f"{'.'.join(path)} is not in the document"
        node = node[key]
    return node


def _plain_number(value):
    assert isinstance(value, (int, float)) and not isinstance(value, bool), repr(value)
    assert math.isfinite(float(value)), repr(value)
    return float(value)


def _expected_tag(document, tag):
    metadata = document.get("metadata", {})
    assert isinstance(metadata, dict)
    tags = metadata.get("tags", {})
    assert isinstance(tags, dict)
    value = tags.get(tag)
    if isinstance(value, list):
        value = value[0] if value else None
    assert value is None or isinstance(value, str), repr(value)
    return value if value and value.strip() else None


def _check_highlevel(row, high):
    assert row[DANCEABLE_COLUMN] == _plain_number(_at(high, ("highlevel", "danceability", "all", "danceable")))
    for model, labels in MULTICLASS_MODELS.items():
        for label in labels:
            assert row[f"{model}_{label}"] == _plain_number(_at(high, ("highlevel", model, "all", label)))
    for model in CONFIDENCE_MODELS:
        assert row[model] == _plain_number(_at(high, ("highlevel", model, "probability")))


def _check_lowlevel(row, low):
    for column, vocabulary in CATEGORICAL_VOCABULARIES.items():
        assert row[column] == _at(low, ("tonal", column)) and row[column] in vocabulary
    for column, (section, descriptor, statistic) in LOWLEVEL_SCALARS.items():
        path = (section, descriptor) if statistic is None else (section, descriptor, statistic)
        assert row[column] == _plain_number(_at(low, path))
    mfcc = _at(low, ("lowlevel", "mfcc", "mean"))
    assert isinstance(mfcc, list) and len(mfcc) == len(MFCC_COLUMNS)
    assert [row[column] for column in MFCC_COLUMNS] == [_plain_number(value) for value in mfcc]


def _check_numbers(row):
    assert row["mbid"] == RID
    numbers = [value for key, value in row.items() if key in NUMERIC_AUDIO_COLUMNS]
    assert numbers and all(type(value) is float and math.isfinite(value) for value in numbers)


# --- the documented rules as an oracle: where a document must be refused, and nowhere else ---

HIGHLEVEL_NUMBER_PATHS = [
    ("highlevel", "danceability", "all", "danceable"),
    *[("highlevel", model, "all", label) for model, labels in MULTICLASS_MODELS.items() for label in labels],
    *[("highlevel", model, "probability") for model in CONFIDENCE_MODELS],
]
LOWLEVEL_NUMBER_PATHS = [
    (section, descriptor) if statistic is None else (section, descriptor, statistic)
    for section, descriptor, statistic in LOWLEVEL_SCALARS.values()
]
MFCC_PATH = ("lowlevel", "mfcc", "mean")


def _walk(document, path):
    """(value, None) for the value at `path`; (None, where) when the way there breaks off: `where`
    is the path of the missing key, or of the value that is no object but has a key below it."""
    node = document
    for depth, key in enumerate(path):
        if not isinstance(node, dict):
            return None, ".".join(path[:depth])
        if key not in node:
            return None, ".".join(path[: depth + 1])
        node = node[key]
    return node, None


def _unusable_number(value) -> bool:
    """Anything but a finite JSON number: text, null, a boolean, a list or object, NaN, an infinity,
    an integer no float can hold."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return True
    try:
        return not math.isfinite(float(value))
    except OverflowError:
        return True


def _refusals(document, kind) -> set[str]:
    """Every path at which the rules refuse this document; empty when every value read is usable.

    Features: each must be at its path, a finite number (a key or scale from the vocabulary for
    the tonal categories, exactly 13 numbers for the MFCC means). Tags: an absent, null or blank
    tag is no tag; a tag that is neither text nor a list starting with text (or empty) is refused,
    and so are `metadata` and `metadata.tags` when present but not objects.
    """
    if not isinstance(document, dict):
        return {"the document"}
    found: set[str] = set()

    def number_at(path):
        value, broken = _walk(document, path)
        if broken is not None:
            found.add(broken)
        elif _unusable_number(value):
            found.add(".".join(path))

    if kind == HIGHLEVEL:
        for path in HIGHLEVEL_NUMBER_PATHS:
            number_at(path)
    else:
        for column, vocabulary in CATEGORICAL_VOCABULARIES.items():
            value, broken = _walk(document, ("tonal", column))
            if broken is not None:
                found.add(broken)
            elif not (isinstance(value, str) and value in vocabulary):
                found.add(f"tonal.{column}")
        for path in LOWLEVEL_NUMBER_PATHS:
            number_at(path)
        mfcc, broken = _walk(document, MFCC_PATH)
        if broken is not None:
            found.add(broken)
        elif not isinstance(mfcc, list) or len(mfcc) != len(MFCC_COLUMNS):
            found.add(".".join(MFCC_PATH))
        else:
            found |= {f"{'.'.join(MFCC_PATH)}.{index}" for index, value in enumerate(mfcc) if _unusable_number(value)}
    metadata = document.get("metadata", {})
    if not isinstance(metadata, dict):
        return found | {"metadata"}
    tags = metadata.get("tags", {})
    if not isinstance(tags, dict):
        return found | {"metadata.tags"}
    for tag in TAG_COLUMNS:
        value, path = tags.get(tag), f"metadata.tags.{tag}"
        if isinstance(value, list):
            value, path = (value[0] if value else None), f"{path}.0"
        if value is not None and not isinstance(value, str):
            found.add(path)
    return found


def _json_member(payload: bytes):
    """(True, value) for bytes that are one JSON value; (False, None) for bytes that are not: cut
    short, not UTF-8, or holding NaN, an infinity or a number too large for a double (which a
    parser can only read as an infinity), none of which is JSON."""

    def finite(text):
        number = float(text)
        if not math.isfinite(number):
            raise ValueError(text)
        return number

    def integer(text):
        number = int(text)
        float(number)  # OverflowError beyond a double
        return number

    def constant(name):
        raise ValueError(name)

    try:
        return True, json.loads(payload.decode("utf-8"), parse_float=finite, parse_int=integer, parse_constant=constant)
    except (UnicodeDecodeError, ValueError, OverflowError):
        return False, None


@FUZZ
@given(st.data(), st.sampled_from(["low", "high", "both"]))
def test_a_mutated_document_gives_its_own_values_or_a_document_error(data, which):
    low, high = lowlevel_document(), highlevel_document(shift=0.5)
    if which in ("low", "both"):
        low = _mutated(data, low)
    if which in ("high", "both"):
        high = _mutated(data, high)
    before = json.dumps([low, high])
    # Where the rules refuse these documents; a read must then fail at one of these places, and
    # a document they do not refuse (a change away from every path read, a finite number where
    # one was) must be read, with its own values.
    refused_at = {(LOWLEVEL_KIND, path) for path in _refusals(low, LOWLEVEL)}
    refused_at |= {(HIGHLEVEL_KIND, path) for path in _refusals(high, HIGHLEVEL)}
    try:
        row = track_row_from_documents(RID, low, high)
    except DocumentError as error:
        assert (error.kind, error.path) in refused_at, f"refused at {error.kind} {error.path}; the rules refuse {sorted(refused_at)}"
        assert RID in str(error) and error.path in str(error)
        event(f"refused: {error.kind}")
        return
    event("read")
    assert not refused_at, f"read documents the rules refuse at {sorted(refused_at)}"
    assert json.dumps([low, high]) == before  # reading never edits a document
    assert set(row) == {"mbid", *NUMERIC_AUDIO_COLUMNS, *CATEGORICAL_VOCABULARIES, *TAG_COLUMNS}
    _check_numbers(row)
    _check_highlevel(row, high)
    _check_lowlevel(row, low)
    for tag in TAG_COLUMNS:
        from_low, from_high = _expected_tag(low, tag), _expected_tag(high, tag)
        assert row[tag] == (from_low if from_low is not None else from_high)


@FUZZ
@given(st.data(), st.sampled_from([LOWLEVEL, HIGHLEVEL]))
def test_a_damaged_dump_member_gives_its_own_values_or_a_document_error(data, kind):
    document = _mutated(data, lowlevel_document() if kind == LOWLEVEL else highlevel_document(shift=0.5))
    # Python's encoder writes NaN and Infinity, which are not JSON: the reader must refuse them.
    payload = json.dumps(document).encode()
    payload = payload[: data.draw(st.integers(0, len(payload)))] if data.draw(st.booleans()) else payload
    is_json, read = _json_member(payload)
    # A member that is no JSON object is refused as a whole, named by its submission.
    refused_at = _refusals(read, kind) if is_json and isinstance(read, dict) else {"submission 3"}
    try:
        row = document_row(kind, RID, 3, payload)
    except DocumentError as error:
        assert error.path in refused_at, f"refused at {error.path}; the rules refuse {sorted(refused_at)}"
        assert error.kind == {LOWLEVEL: LOWLEVEL_KIND, HIGHLEVEL: HIGHLEVEL_KIND}[kind]
        assert RID in str(error) and error.path in str(error)
        event("refused")
        return
    event("read")
    assert not refused_at, f"read a member the rules refuse at {sorted(refused_at)}"
    assert row["submission_offset"] == 3
    _check_numbers(row)
    (_check_lowlevel if kind == LOWLEVEL else _check_highlevel)(row, read)
    assert all(row[tag] == _expected_tag(read, tag) for tag in TAG_COLUMNS)
