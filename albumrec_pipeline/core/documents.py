"""Turn AcousticBrainz documents into one flat feature row per recording.

A low-level document (`lowlevel`, `rhythm`, `tonal`, `metadata` sections) and a high-level
document (`highlevel`, `metadata`) are the same whether they come from the 2022 data dumps,
the v1 API or the embedded demo world, so this one function serves every source.

Every feature the model reads is taken as the document states it, or the document is refused
with a `DocumentError` naming the recording, the kind of document and the path of the value
(`lowlevel.mfcc.mean.3`). Nothing is filled in: a missing section or value, a value of the
wrong JSON type (text, a list or an object where a number belongs, `null`, and `true`/`false`,
which Python would otherwise count as 1 and 0), a NaN or infinite number, a key or scale
outside the model's vocabulary and an MFCC mean list that does not hold exactly 13 numbers all
make the recording unusable for the model; its callers count and report such documents.

The file tags (`artist`, `genre`, `label` from `metadata.tags`) only describe a recording, so
an absent, `null` or blank tag is simply no tag. A tag of a type no tagger writes (a number, an
object, a list not starting with text) is still an error: it means the document is broken.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from albumrec_pipeline.core.feature_columns import (
    CATEGORICAL_VOCABULARIES,
    CONFIDENCE_MODELS,
    DANCEABLE_COLUMN,
    LOWLEVEL_SCALARS,
    MFCC_COUNT,
    MULTICLASS_MODELS,
    TAG_COLUMNS,
)

LOWLEVEL_KIND, HIGHLEVEL_KIND = "low-level", "high-level"


class DocumentError(ValueError):
    """A document lacks a value albumrec needs, or holds one of the wrong kind."""

    def __init__(self, recording_id: str, kind: str, path: str, problem: str):
        super().__init__(f"{kind} document for recording {recording_id}: {path} {problem}")
        self.recording_id = recording_id
        self.kind = kind
        self.path = path


def json_type(value: Any) -> str:
    """The JSON name of a value's type, for messages about a value of the wrong type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


def _shown(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _whole_document(document: Any, recording_id: str, kind: str) -> Mapping[str, Any]:
    if not isinstance(document, Mapping):
        raise DocumentError(recording_id, kind, "the document", f"is {json_type(document)}, not an object")
    return document


def _lookup(document: Mapping[str, Any], path: tuple[str, ...], recording_id: str, kind: str) -> Any:
    node: Any = document
    for depth, key in enumerate(path):
        if not isinstance(node, Mapping):
            where = ".".join(path[:depth])
            raise DocumentError(recording_id, kind, where, f"is {json_type(node)} where an object with '{key}' belongs")
        if key not in node:
            raise DocumentError(recording_id, kind, ".".join(path[: depth + 1]), "is missing")
        node = node[key]
    return node


def _number(value: Any, path: tuple[str, ...], recording_id: str, kind: str) -> float:
    # bool is an int subclass; a True where a loudness belongs is a broken document, not 1.0.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DocumentError(recording_id, kind, ".".join(path), f"is {json_type(value)}, not a number ({_shown(value)})")
    try:
        number = float(value)
    except OverflowError as error:  # an integer beyond any float
        raise DocumentError(recording_id, kind, ".".join(path), "is a number too large to use") from error
    if not math.isfinite(number):
        raise DocumentError(recording_id, kind, ".".join(path), f"is not finite ({value!r})")
    return number


def _number_at(document: Mapping[str, Any], path: tuple[str, ...], recording_id: str, kind: str) -> float:
    return _number(_lookup(document, path, recording_id, kind), path, recording_id, kind)


def highlevel_features(document: Mapping[str, Any], recording_id: str) -> dict[str, float]:
    """Classifier probabilities from a high-level document, keyed by feature column."""
    kind = HIGHLEVEL_KIND
    document = _whole_document(document, recording_id, kind)
    row: dict[str, float] = {}
    row[DANCEABLE_COLUMN] = _number_at(document, ("highlevel", "danceability", "all", "danceable"), recording_id, kind)
    for model, labels in MULTICLASS_MODELS.items():
        for label in labels:
            row[f"{model}_{label}"] = _number_at(document, ("highlevel", model, "all", label), recording_id, kind)
    for model in CONFIDENCE_MODELS:
        row[model] = _number_at(document, ("highlevel", model, "probability"), recording_id, kind)
    return row


def lowlevel_features(document: Mapping[str, Any], recording_id: str) -> dict[str, Any]:
    """Tonal, rhythm and spectral descriptors from a low-level document, keyed by feature column."""
    kind = LOWLEVEL_KIND
    document = _whole_document(document, recording_id, kind)
    row: dict[str, Any] = {}
    for column, vocabulary in CATEGORICAL_VOCABULARIES.items():
        path = ("tonal", column)
        value = _lookup(document, path, recording_id, kind)
        if not isinstance(value, str) or value not in vocabulary:
            raise DocumentError(
                recording_id, kind, ".".join(path), f"is {_shown(value)}, expected one of {', '.join(vocabulary)}"
            )
        row[column] = value
    for column, (section, descriptor, statistic) in LOWLEVEL_SCALARS.items():
        path = (section, descriptor) if statistic is None else (section, descriptor, statistic)
        row[column] = _number_at(document, path, recording_id, kind)
    path = ("lowlevel", "mfcc", "mean")
    mfcc = _lookup(document, path, recording_id, kind)
    # Essentia's music extractor writes 13 coefficients; another count is another configuration,
    # whose coefficients the model has not learnt.
    if not isinstance(mfcc, (list, tuple)) or len(mfcc) != MFCC_COUNT:
        found = f"{len(mfcc)} values" if isinstance(mfcc, (list, tuple)) else json_type(mfcc)
        raise DocumentError(recording_id, kind, ".".join(path), f"is not a list of {MFCC_COUNT} numbers ({found})")
    for index in range(MFCC_COUNT):
        row[f"mfcc_{index + 1}"] = _number(mfcc[index], (*path, str(index)), recording_id, kind)
    return row


def _tag_text(value: Any) -> str | None | bool:
    """A tag's text; None for no tag; False for a value no tagger writes."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    return False


def document_tags(document: Mapping[str, Any], recording_id: str, kind: str) -> dict[str, str | None]:
    """The `artist`, `genre` and `label` file tags (first value of each), None where there is none.

    Taggers write every tag as a list of strings; a plain string is read the same way.
    """
    document = _whole_document(document, recording_id, kind)
    tags: dict[str, str | None] = dict.fromkeys(TAG_COLUMNS)
    if "metadata" not in document:
        return tags
    metadata = document["metadata"]
    if not isinstance(metadata, Mapping):
        raise DocumentError(recording_id, kind, "metadata", f"is {json_type(metadata)}, not an object")
    if "tags" not in metadata:
        return tags
    found = metadata["tags"]
    if not isinstance(found, Mapping):
        raise DocumentError(recording_id, kind, "metadata.tags", f"is {json_type(found)}, not an object")
    for tag in TAG_COLUMNS:
        value = found.get(tag)
        path = f"metadata.tags.{tag}"
        if isinstance(value, (list, tuple)):
            value = value[0] if value else None
            path += ".0"
        text = _tag_text(value)
        if text is False:
            raise DocumentError(recording_id, kind, path, f"is {json_type(value)}, not text ({_shown(value)})")
        tags[tag] = text
    return tags


def track_row_from_documents(
    recording_id: str, lowlevel: Mapping[str, Any], highlevel: Mapping[str, Any]
) -> dict[str, Any]:
    """One feature row (without MusicBrainz metadata) from a recording's two documents.

    The `artist`, `genre` and `label` tags come from the low-level document's metadata, which is
    what the submitter's file was tagged with, and from the high-level one where the low-level
    one has none; MusicBrainz supplies the authoritative artist later.
    """
    row: dict[str, Any] = {"mbid": recording_id}
    row.update(highlevel_features(highlevel, recording_id))
    row.update(lowlevel_features(lowlevel, recording_id))
    low_tags = document_tags(lowlevel, recording_id, LOWLEVEL_KIND)
    high_tags = document_tags(highlevel, recording_id, HIGHLEVEL_KIND)
    for tag in TAG_COLUMNS:
        row[tag] = low_tags[tag] if low_tags[tag] is not None else high_tags[tag]
    return row
