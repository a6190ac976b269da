"""The listener's input list: recording MBIDs labelled liked (1) or disliked (0).

Format. A UTF-8 text file of comma-separated values whose first row is a header naming the
columns `mbid` and `liked` (in any order and letter case). Every following row holds one
MusicBrainz recording id and its label. Rows are numbered as a spreadsheet shows them: the
header is row 1, the first entry row 2; every error names the file and these row numbers
(the first ten, then "and N more").

Repairs, the only ones made (everything else is an error, because a guessed label or id
would teach the model something the listener never said):

* a UTF-8 byte-order mark and Windows (CRLF) or old Mac (CR) line endings are accepted;
* header names are compared without surrounding spaces and letter case (`MBID`, ` Liked`);
* ids and labels lose surrounding whitespace, ids are lower-cased (MusicBrainz prints them
  lower-case; `{...}` braces, URLs and 32-digit ids without hyphens are refused);
* the labels `1.0` and `0.0` are read as 1 and 0: a spreadsheet or pandas column of numbers
  with one empty cell is written that way. `yes`, `true`, `2`, blanks and the like are refused;
* rows whose every field is empty (blank lines, or the `,,` that spreadsheets write for an
  empty row) are skipped; they still count for the row numbers of the rows after them;
* a recording listed more than once with the same label is kept once, where it first appears.
  With two different labels it is an error listing the rows;
* columns other than `mbid` and `liked` (a `note`, or the feature columns of the original
  project's enriched CSV) are ignored, and so are empty fields past the header's last column
  (the trailing comma of `a,1,`). Text in such a field belongs to no column and is an error.

What a repair did is recorded in the returned table's `attrs["liked_list"]`: rows read,
empty rows skipped, repeated recordings dropped.

Errors: a missing path, a directory, an empty file or one with a header but no entries, a file
that is not UTF-8 (UTF-16 "Unicode text" exports included), one separated by semicolons or tabs,
a row with more fields than the header, an unclosed quote, a missing or repeated `mbid` or
`liked` column, a value that is not an id or a label, conflicting labels, and a list without
liked tracks (a taste is learned from what you like). A list of liked tracks only is fine: it is
learned against a background sample of the catalog (`core.liked_only`). A list that only adds
to the main one (the listener's feedback) is read with `only_adds=True`: it may hold dislikes
only, or no entries yet.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from albumrec_pipeline.core.mbids import MBID_PATTERN
from albumrec_pipeline.core.user_files import UserFileError, read_user_file

REQUIRED_COLUMNS = ("mbid", "liked")
# Label text -> label. The float spellings are the narrow repair described above.
LABEL_VALUES: dict[str, int] = {"0": 0, "1": 1, "0.0": 0, "1.0": 1}
ROWS_SHOWN = 10
# The header is spreadsheet row 1, so the entry at position 0 is row 2.
FIRST_ENTRY_ROW = 2


class LikedTracksError(ValueError):
    """The liked/disliked list cannot be used as it is; the message says where and why."""


def _rows_phrase(rows: np.ndarray | list[int], singular: str, plural: str) -> str:
    """'row 5 has' / 'rows 2, 3 and 4 more have': the first rows of many, with the verb to match."""
    shown = ", ".join(str(int(row)) for row in rows[:ROWS_SHOWN])
    more = max(0, len(rows) - ROWS_SHOWN)
    if len(rows) == 1:
        return f"row {shown} {singular}"
    return f"rows {shown}" + (f" and {more} more" if more else "") + f" {plural}"


def _text_column(column: pd.Series) -> pd.Series:
    """A column as stripped text, missing values as empty text."""
    return column.astype("str").fillna("").str.strip()


def _normalised_columns(frame: pd.DataFrame) -> list[str]:
    return [str(column).strip().lower() for column in frame.columns]


# What a header row may look like for an error to repeat it: a few short, printable names.
_HEADER_NAME = re.compile(r"[\w .()#/+-]{1,32}")
_MOST_HEADER_NAMES = 12
_MOST_DIGITS_IN_A_NAME = 3


def _header_like_names(columns: list[str]) -> bool:
    """Short names of words (`mbid`, `Liked`, `mfcc_13`): a token or password rarely passes."""
    names = [str(column).strip() for column in columns]
    return bool(names) and all(
        _HEADER_NAME.fullmatch(name) and name[0].isalpha() and sum(map(str.isdigit, name)) <= _MOST_DIGITS_IN_A_NAME
        for name in names
        if name
    )


def _plausible_header(columns: list[str]) -> bool:
    """Whether a first row reads like a CSV header, so that naming its fields in an error is safe."""
    return len(columns) <= _MOST_HEADER_NAMES and _header_like_names(columns)


def _missing_columns_message(source: str, columns: list[str], first_row: list[str] | None) -> str:
    """What is wrong with row 1. Its fields are repeated only when they look like a header: a file
    that is not a list (a password file, an environment dump) must not have its first line shown."""
    missing = [column for column in REQUIRED_COLUMNS if column not in columns]
    prefix = f"{source}: row 1 must be the header 'mbid,liked'"
    if first_row is not None and any(re.fullmatch(MBID_PATTERN, str(value).strip().lower()) for value in first_row):
        return f"{prefix}; row 1 holds an id, so the header seems to be missing: add 'mbid,liked' as the first line"
    if any(";" in column for column in columns):
        return f"{prefix}; the file looks separated by semicolons: save it as comma-separated values"
    if any("\t" in column for column in columns):
        return f"{prefix}; the file looks separated by tabs: save it as comma-separated values"
    if _plausible_header(columns):
        return f"{prefix}; missing column(s) {missing}, found {columns}"
    if _header_like_names(columns):
        return f"{prefix}; row 1 names {len(columns)} columns, without {' or '.join(repr(name) for name in missing)}"
    return f"{source}: the first line is not a CSV header; row 1 must be the header 'mbid,liked'"


def validate_liked_tracks(
    frame: pd.DataFrame, source: str = "liked list", only_adds: bool = False
) -> pd.DataFrame:
    """Check and normalise a liked list; return columns `mbid` (lower-case str) and `liked` (int8).

    `frame` holds the list's entries in file order, one column per header name (as text; other
    types are converted to text first, missing values count as empty). The rules and repairs
    are those of the module docstring; row numbers in errors count the header as row 1.
    `only_adds=True` is for a list that only adds to another one (the listener's feedback): its
    labels may all be the same, and a header without entries is an empty list, not an error.
    """
    columns = _normalised_columns(frame)
    repeated = sorted({column for column in columns if column in REQUIRED_COLUMNS and columns.count(column) > 1})
    if repeated:
        raise LikedTracksError(f"{source}: the header names column(s) {repeated} more than once; keep one of each")
    if any(column not in columns for column in REQUIRED_COLUMNS):
        raise LikedTracksError(_missing_columns_message(source, columns, None))
    named = frame.set_axis(columns, axis=1)
    mbids = _text_column(named["mbid"]).str.lower()
    labels = _text_column(named["liked"])

    empty = ((mbids == "") & (labels == "")).to_numpy(copy=True)
    if empty.any():
        # Only rows with neither id nor label can be empty rows; look at their other fields.
        others = [position for position, column in enumerate(columns) if column not in REQUIRED_COLUMNS]
        if others:
            candidates = np.flatnonzero(empty)
            rest = named.iloc[candidates, others]
            filled = np.zeros(len(candidates), dtype=bool)
            for position in range(rest.shape[1]):
                filled |= (_text_column(rest.iloc[:, position]) != "").to_numpy()
            empty[candidates[filled]] = False
    entries = ~empty
    if not entries.any() and not only_adds:
        raise LikedTracksError(f"{source}: has a header but no rows; add one 'mbid,liked' line per recording")

    problems = []
    bad_ids = np.flatnonzero(entries & ~mbids.str.fullmatch(MBID_PATTERN).to_numpy(dtype=bool))
    if len(bad_ids):
        problems.append(
            f"{_rows_phrase(bad_ids + FIRST_ENTRY_ROW, 'does', 'do')} not hold a MusicBrainz recording id (UUID such as "
            "'a4ce8277-a761-4b15-a4da-9ce11ae4770a')"
        )
    label_values = labels.map(LABEL_VALUES)
    bad_labels = np.flatnonzero(entries & label_values.isna().to_numpy())
    if len(bad_labels):
        problems.append(f"{_rows_phrase(bad_labels + FIRST_ENTRY_ROW, 'has', 'have')} a 'liked' value other than 0 or 1")
    if problems:
        raise LikedTracksError(f"{source}: " + "; ".join(problems))

    positions = np.flatnonzero(entries)
    table = pd.DataFrame(
        {"mbid": mbids.to_numpy()[positions], "liked": label_values.to_numpy()[positions].astype("int8")}
    ).astype({"mbid": "str"})
    conflicting = (table.groupby("mbid")["liked"].transform("nunique") > 1).to_numpy()
    if conflicting.any():
        examples = list(dict.fromkeys(table["mbid"].to_numpy()[conflicting][:ROWS_SHOWN]))[:3]
        rows = _rows_phrase(positions[conflicting] + FIRST_ENTRY_ROW, "labels", "label")
        raise LikedTracksError(
            f"{source}: {rows} the same recording both liked and disliked "
            f"(e.g. {', '.join(examples)}); keep one label per recording"
        )
    repeated_rows = table["mbid"].duplicated().to_numpy()
    table = table.loc[~repeated_rows].reset_index(drop=True)
    if not only_adds and not (table["liked"] == 1).any():
        raise LikedTracksError(
            f"{source}: every row has liked=0; albumrec learns a taste from what you like: add the tracks you "
            "like (liked=1); dislikes are optional"
        )
    table.attrs["liked_list"] = {
        "rows": len(frame),
        "empty_rows_skipped": int(empty.sum()),
        "repeated_recordings_dropped": int(repeated_rows.sum()),
    }
    return table


def _decoded(path: Path, data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise LikedTracksError(f"{path}: is UTF-16 text (a spreadsheet's 'Unicode text'); save it as 'CSV UTF-8'")
    try:
        # utf-8-sig accepts a byte-order mark from spreadsheet exports.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise LikedTracksError(
            f"{path}: is not UTF-8 text (byte {data[error.start]:#04x} on line {line}); save it as 'CSV UTF-8'"
        ) from error


# How far a row may run past the header before the lenient reading gives up on a wide table.
_WIDEST_LENIENT_READ = 256


def _read_rows(text: str, width: int | None = None) -> pd.DataFrame:
    return pd.read_csv(
        io.StringIO(text),
        header=None,  # the header is read as a row, so repeated names are seen, not renamed
        names=None if width is None else range(width),
        dtype="str",
        na_filter=False,
        index_col=False,
        skip_blank_lines=False,  # keeps blank lines as rows, so row numbers stay those of the file
        skipinitialspace=True,  # `a, "1"` is a quoted field after a space, as a spreadsheet reads it
    )


def _most_fields_on_a_line(text: str) -> int:
    """An upper bound of the fields of any one-line row: its commas plus one, counted in bulk."""
    raw = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    commas_before = np.concatenate([[0], np.cumsum(raw == ord(","))])
    edges = np.concatenate([[0], np.flatnonzero((raw == ord("\n")) | (raw == ord("\r"))), [len(raw)]])
    return int(np.diff(commas_before[edges]).max()) + 1


def _most_fields_in_a_row(text: str) -> int | None:
    """The fields of the widest row, quoted line breaks understood; None when the text is not CSV."""
    try:
        return max((len(row) for row in csv.reader(io.StringIO(text), skipinitialspace=True)), default=0)
    except csv.Error:
        return None


def _rows_past_the_header(path: Path, text: str, header_width: int, error: pd.errors.ParserError) -> pd.DataFrame:
    """Read a file some of whose rows have more fields than the header.

    Fields past the header's that are empty (`a,1,`) are dropped; a row with text in one is an
    error, since that text belongs to no column (usually an unquoted comma inside a value).
    """
    width = _most_fields_on_a_line(text)
    try:
        if width > header_width + _WIDEST_LENIENT_READ:
            raise error
        try:
            rows = _read_rows(text, width)
        except pd.errors.ParserError:
            # A quoted field spanning lines can make a row wider than any one line: count rows.
            width = _most_fields_in_a_row(text)
            if width is None or width > header_width + _WIDEST_LENIENT_READ:
                raise
            rows = _read_rows(text, width)
    except pd.errors.ParserError:
        # A quoted field spanning lines holds more commas than any one line: name the first row only.
        first = re.search(r"in line (\d+), saw", str(error))
        where = f"row {first.group(1)}" if first else "a row"
        raise LikedTracksError(
            f"{path}: {where} has more fields than the header; quote values that contain commas"
        ) from error
    header = _text_column(rows.iloc[0, :header_width]).str.lower().tolist()
    if any(column not in header for column in REQUIRED_COLUMNS):
        # A header lacking a column explains long rows better than the rows do.
        raise LikedTracksError(_missing_columns_message(str(path), header, rows.iloc[0, :header_width].tolist()))
    past = rows.iloc[:, header_width:]
    filled = np.zeros(len(rows), dtype=bool)
    for position in range(past.shape[1]):
        filled |= (past.iloc[:, position].str.strip() != "").to_numpy()
    if filled.any():
        raise LikedTracksError(
            f"{path}: {_rows_phrase(np.flatnonzero(filled) + 1, 'has', 'have')} more fields than the header; "
            "quote values that contain commas"
        ) from error
    return rows.iloc[:, :header_width]


def _parsed(path: Path, text: str) -> pd.DataFrame:
    try:
        return _read_rows(text)
    except pd.errors.ParserError as error:
        unclosed = re.search(r"EOF inside string starting at row (\d+)", str(error))
        if unclosed:
            row = int(unclosed.group(1)) + 1
            raise LikedTracksError(f"{path}: row {row} opens a quoted field that is never closed") from error
        expected = re.search(r"Expected (\d+) fields in line \d+, saw \d+", str(error))
        if expected:
            return _rows_past_the_header(path, text, int(expected.group(1)), error)
        # pandas' message can quote the text it choked on: name the problem, not the text.
        raise LikedTracksError(f"{path}: is not a readable CSV file (it could not be split into rows)") from None
    except pd.errors.EmptyDataError as error:
        raise LikedTracksError(f"{path}: row 1 must be the header 'mbid,liked' but is blank") from error


def read_liked_tracks(path: str | Path, only_adds: bool = False, max_bytes: int | None = None) -> pd.DataFrame:
    """Read and validate the listener's list (see the module docstring for the format).

    The path must name a plain file of the user's (see `core.user_files`: never under /proc,
    /sys or /dev, inside `ALBUMREC_INPUT_DIRS` when that is set, at most `max_bytes`).
    """
    path = Path(path)
    try:
        data = read_user_file(path, "the 'mbid,liked' CSV", max_bytes)
    except UserFileError as error:
        raise LikedTracksError(f"{error}; point the liked_tracks asset's config at your 'mbid,liked' CSV") from None
    return parse_liked_tracks(path, data, only_adds)


def parse_liked_tracks(path: str | Path, data: bytes, only_adds: bool = False) -> pd.DataFrame:
    """Validate the bytes of a list already read from `path` (named in the errors)."""
    path = Path(path)
    text = _decoded(path, data)
    if not text.strip():
        raise LikedTracksError(f"{path}: the file is empty; it needs a header 'mbid,liked' and one line per recording")
    header_line = text.lstrip("\r\n").splitlines()[0]
    for separator, name in ((";", "semicolons"), ("\t", "tabs")):
        if "," not in header_line and separator in header_line:
            fields = [field.strip() for field in header_line.split(separator)]
            shown = f" ({header_line.strip()[:60]!r})" if _plausible_header(fields) else ""
            raise LikedTracksError(
                f"{path}: looks separated by {name}{shown}; albumrec reads comma-separated "
                "values: export the list as CSV with commas"
            )
    rows = _parsed(path, text)
    header = _text_column(rows.iloc[0]).str.lower().tolist()
    entries = rows.iloc[1:].reset_index(drop=True).set_axis(header, axis=1)
    if any(column not in header for column in REQUIRED_COLUMNS):
        raise LikedTracksError(_missing_columns_message(str(path), header, rows.iloc[0].tolist()))
    return validate_liked_tracks(entries, source=str(path), only_adds=only_adds)
