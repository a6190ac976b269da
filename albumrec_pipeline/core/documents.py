"""Turn AcousticBrainz documents into one flat feature row per recording.

A low-level document (`lowlevel`, `rhythm`, `tonal`, `metadata` sections) and a high-level
document (`highlevel`, `metadata`) are the same whether they come from the 2022 data dumps,
the v1 API or the embedded demo world, so this one function serves every source.
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
)


class DocumentError(ValueError):
    """A document lacks a value albumrec needs, or holds one of the wrong kind."""

    def __init__(self, recording_id: str, kind: str, path: str, problem: str):
        super().__init__(f"{kind} document for recording {recording_id}: {path} {problem}")
        self.recording_id = recording_id
        self.kind = kind
        self.path = path


def _lookup(document: Mapping[str, Any], path: tuple[str, ...], recording_id: str, kind: str) -> Any:
    node: Any = document
    for depth, key in enumerate(path):
        if not isinstance(node, Mapping) or key not in node:
            raise DocumentError(recording_id, kind, ".".join(path[: depth + 1]), "is missing")
        node = node[key]
    return node


def _number(value: Any, path: tuple[str, ...], recording_id: str, kind: str) -> float:
    # bool is an int subclass; a True where a loudness belongs is a broken document, not 1.0.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DocumentError(recording_id, kind, ".".join(path), f"is not a number ({value!r})")
    number = float(value)
    if not math.isfinite(number):
        raise DocumentError(recording_id, kind, ".".join(path), f"is not finite ({value!r})")
    return number


def highlevel_features(document: Mapping[str, Any], recording_id: str) -> dict[str, float]:
    """Classifier probabilities from a high-level document, keyed by feature column."""
    kind = "high-level"
    row: dict[str, float] = {}
    path = ("highlevel", "danceability", "all", "danceable")
    row[DANCEABLE_COLUMN] = _number(_lookup(document, path, recording_id, kind), path, recording_id, kind)
    for model, labels in MULTICLASS_MODELS.items():
        for label in labels:
            path = ("highlevel", model, "all", label)
            row[f"{model}_{label}"] = _number(_lookup(document, path, recording_id, kind), path, recording_id, kind)
    for model in CONFIDENCE_MODELS:
        path = ("highlevel", model, "probability")
        row[model] = _number(_lookup(document, path, recording_id, kind), path, recording_id, kind)
    return row


def lowlevel_features(document: Mapping[str, Any], recording_id: str) -> dict[str, Any]:
    """Tonal, rhythm and spectral descriptors from a low-level document, keyed by feature column."""
    kind = "low-level"
    row: dict[str, Any] = {}
    for column, vocabulary in CATEGORICAL_VOCABULARIES.items():
        path = ("tonal", column)
        value = _lookup(document, path, recording_id, kind)
        if value not in vocabulary:
            raise DocumentError(recording_id, kind, ".".join(path), f"is {value!r}, expected one of {vocabulary}")
        row[column] = value
    for column, (section, descriptor, statistic) in LOWLEVEL_SCALARS.items():
        path = (section, descriptor) if statistic is None else (section, descriptor, statistic)
        row[column] = _number(_lookup(document, path, recording_id, kind), path, recording_id, kind)
    path = ("lowlevel", "mfcc", "mean")
    mfcc = _lookup(document, path, recording_id, kind)
    if not isinstance(mfcc, list) or len(mfcc) < MFCC_COUNT:
        raise DocumentError(recording_id, kind, ".".join(path), f"is not a list of {MFCC_COUNT} numbers")
    for index in range(MFCC_COUNT):
        row[f"mfcc_{index + 1}"] = _number(mfcc[index], (*path, str(index)), recording_id, kind)
    return row


def _first_tag(document: Mapping[str, Any], tag: str) -> str | None:
    """Tags are lists of strings in AcousticBrainz documents; an absent tag is not an error."""
    tags = document.get("metadata", {}).get("tags", {})
    value = tags.get(tag) if isinstance(tags, Mapping) else None
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, str) and value.strip() else None


def track_row_from_documents(
    recording_id: str, lowlevel: Mapping[str, Any], highlevel: Mapping[str, Any]
) -> dict[str, Any]:
    """One feature row (without MusicBrainz metadata) from a recording's two documents.

    The `artist`, `genre` and `label` tags come from the low-level document's metadata, which is
    what the submitter's file was tagged with; MusicBrainz supplies the authoritative artist later.
    """
    row: dict[str, Any] = {"mbid": recording_id}
    row.update(highlevel_features(highlevel, recording_id))
    row.update(lowlevel_features(lowlevel, recording_id))
    for tag in ("artist", "genre", "label"):
        row[tag] = _first_tag(lowlevel, tag) or _first_tag(highlevel, tag)
    return row
