"""The fitted scaler and the trained network as stored artifacts (Parquet summary + native file).

What is stored, and what is trusted
-----------------------------------
`feature_scaler.parquet` holds, besides its table of training statistics, a JSON document with
the scaler's fitted parameters (plain numbers), its feature schema, a few probe rows with the
outputs the scaler gave for them, and the versions of the libraries that fitted it.
`FittedScaler.load` rebuilds the scaler from those numbers and checks that it reproduces the
probe outputs: loading a scaler never unpickles anything.

`feature_scaler/scaler.joblib` is still written beside it, the scikit-learn object in its native
format, for tools that want one. A joblib file is a pickle, and unpickling runs whatever code the
file names: only `FittedScaler.load_joblib` opens it, on explicit request, after checking that
its SHA-256 is the one recorded when it was written and before comparing its outputs with the
probe. That digest catches interrupted writes and mix-ups, not an attacker who can write to the
warehouse (they could rewrite the summary too): unpickle scalers from your own warehouse only,
and never one somebody sent you.

`preference_model/song_pref_model_weights.pth` holds state dicts, the feature schema, the
architecture, metrics and versions: tensors, strings and numbers only. It is read with
`torch.load(weights_only=True)`, which refuses any other object, so a doctored file cannot run
code either; albumrec reports such a file instead of loading it.

Versions: both carry the albumrec artifact format version (`storage.artifacts`), refused when
its major number is not this albumrec's, and the albumrec, Python, PyTorch, scikit-learn, NumPy
and pandas versions that made them. An artifact made with a newer scikit-learn (the scaler) or
PyTorch (the network) than the one running loads with an `ArtifactVersionWarning`: a warning and
not a refusal, because the probe comparison (the scaler) and the state-dict shapes (the network)
already refuse what would compute differently, while a dependency pinned a minor version lower
on the scoring machine is common and harmless.

The scaler and the network record the same feature schema (columns in order, their dtype, the
one-hot vocabularies, the genre-tag vocabulary, the scaling method, the network inputs and a
fingerprint of the fitted scaler); `check_scaler_and_model` refuses a pair that do not match.
Tags are encoded by the scaler itself, from the rows' raw tag text, over the vocabulary it was
fitted with: rows can never reach the network encoded over another vocabulary.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import pickle
import platform
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar

import joblib
import numpy as np
import pandas as pd
import torch
from packaging.version import InvalidVersion, Version
from sklearn.pipeline import Pipeline

from albumrec_pipeline.core.liked_only import liked_probability
from albumrec_pipeline.core.feature_columns import CATEGORICAL_VOCABULARIES
from albumrec_pipeline.core.network import PreferenceNet
from albumrec_pipeline.core.scaling import make_scaler, output_names
from albumrec_pipeline.core.tags import TAG_TEXT_COLUMNS, TagVocabulary
from albumrec_pipeline.storage.artifacts import (
    ArtifactFormatError,
    ArtifactIntegrityError,
    StoredArtifact,
    check_format,
    format_version_text,
    read_verified_native,
    stored_document,
    summary_path,
)
from albumrec_pipeline.storage.atomic import DOCUMENT_KEY, atomic_write_bytes

if TYPE_CHECKING:
    from upath import UPath

SCALER_FILE = "scaler.joblib"
MODEL_FILE = "song_pref_model_weights.pth"
# Libraries whose versions are recorded with each artifact, by distribution name.
RECORDED_LIBRARIES = ("torch", "scikit-learn", "numpy", "pandas", "joblib")


class FeatureSchemaError(ValueError):
    """Rows, scaler and network do not agree on the feature columns."""


class ArtifactVersionWarning(UserWarning):
    """An artifact was made with a newer library than the one loading it."""


def require_columns(frame: pd.DataFrame, expected: list[str], what: str) -> None:
    missing = [column for column in expected if column not in frame.columns]
    if missing:
        raise FeatureSchemaError(f"{what}: {len(missing)} feature column(s) missing, e.g. {missing[:5]}")


def _distribution_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        # A checkout that was never installed still has to say something.
        return "0.0.0.dev0" if name == "albumrec" else "unknown"


def library_versions() -> dict[str, str]:
    """The versions this process would record with an artifact it writes."""
    versions = {"albumrec": _distribution_version("albumrec"), "python": platform.python_version()}
    versions.update({name: _distribution_version(name) for name in RECORDED_LIBRARIES})
    return versions


def warn_if_made_with_newer(recorded: Mapping[str, str], library: str, what: str, consequence: str) -> None:
    """Warn when `what` was made with a newer `library` than the one running here."""
    written, running = recorded.get(library), library_versions().get(library)
    try:
        newer = written is not None and running is not None and Version(written) > Version(running)
    except InvalidVersion:
        return  # an unparseable version (a local build) tells us nothing either way
    if newer:
        warnings.warn(
            ArtifactVersionWarning(
                f"{what} was made with {library} {written}; this environment has {library} {running}, which is "
                f"older. {consequence} Install {library}>={written} to load it as it was made."
            ),
            stacklevel=3,
        )


# --- the feature schema -----------------------------------------------------------------------


def categorical_encoding(columns: list[str] | tuple[str, ...]) -> dict[str, list[str]]:
    """The one-hot sources among encoded `columns`: raw column -> the vocabulary it is encoded over."""
    return {
        source: list(vocabulary)
        for source, vocabulary in CATEGORICAL_VOCABULARIES.items()
        if any(f"{source}_{value}" in columns for value in vocabulary)
    }


@dataclass(frozen=True)
class FeatureSchema:
    """What the network's inputs are, in order. Recorded by the scaler and by the network it trained."""

    columns: tuple[str, ...]  # the encoded feature columns the scaler reads, in order
    inputs: tuple[str, ...]  # the network inputs the scaler makes of them, in order
    scaling: str = ""  # the scaling method; "" when unknown (a network built outside the pipeline)
    scaler_fingerprint: str = ""  # SHA-256 of the fitted scaler's parameters; "" when unknown
    column_dtype: str = "float64"  # what every encoded column is read as
    input_dtype: str = "float32"  # what the network is fed
    categorical: dict[str, list[str]] = field(default_factory=dict)  # one-hot source -> vocabulary
    tag_terms: tuple[str, ...] | None = None  # the genre-tag vocabulary; None: no tag inputs

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": list(self.columns),
            "inputs": list(self.inputs),
            "scaling": self.scaling,
            "scaler_fingerprint": self.scaler_fingerprint,
            "column_dtype": self.column_dtype,
            "input_dtype": self.input_dtype,
            "categorical": {source: list(values) for source, values in self.categorical.items()},
            "tag_terms": None if self.tag_terms is None else list(self.tag_terms),
        }

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any]) -> FeatureSchema:
        return cls(
            columns=tuple(stored["columns"]),
            inputs=tuple(stored["inputs"]),
            scaling=str(stored.get("scaling", "")),
            scaler_fingerprint=str(stored.get("scaler_fingerprint", "")),
            column_dtype=str(stored.get("column_dtype", "float64")),
            input_dtype=str(stored.get("input_dtype", "float32")),
            categorical={source: list(values) for source, values in dict(stored.get("categorical", {})).items()},
            tag_terms=None if stored.get("tag_terms") is None else tuple(stored["tag_terms"]),
        )

    def check_encoding(self, what: str) -> None:
        """Refuse a schema whose one-hot vocabularies are not the ones this albumrec encodes rows with."""
        for source, vocabulary in self.categorical.items():
            current = list(CATEGORICAL_VOCABULARIES.get(source, ()))
            if vocabulary != current:
                raise FeatureSchemaError(
                    f"{what} one-hot encodes {source!r} over {vocabulary}; this albumrec encodes it over {current}. "
                    "Materialize feature_scaler and preference_model again."
                )


def _first_difference(ours: tuple[str, ...], theirs: tuple[str, ...], our_name: str, their_name: str) -> str:
    if set(ours) == set(theirs) and len(ours) == len(theirs):
        position = next(index for index, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b)
        return (
            f"the same {len(ours)} columns in another order (position {position}: {our_name} {ours[position]!r}, "
            f"{their_name} {theirs[position]!r})"
        )
    only_theirs = [name for name in theirs if name not in ours]
    only_ours = [name for name in ours if name not in theirs]
    parts = []
    if only_theirs:
        parts.append(f"the {their_name} reads {len(only_theirs)} the {our_name} does not, e.g. {only_theirs[:5]}")
    if only_ours:
        parts.append(f"the {our_name} reads {len(only_ours)} the {their_name} does not, e.g. {only_ours[:5]}")
    return "; ".join(parts) or f"{len(ours)} against {len(theirs)} columns"


def check_scaler_and_model(scaler: FittedScaler, model: TrainedPreferenceModel) -> None:
    """Refuse a scaler and a network that were not fitted together, naming the first difference."""
    together = "; materialize feature_scaler and preference_model together"
    ours = scaler.feature_schema
    if tuple(scaler.feature_columns) != tuple(model.feature_columns):
        difference = _first_difference(tuple(scaler.feature_columns), tuple(model.feature_columns), "scaler", "network")
        raise FeatureSchemaError(f"the scaler and the network were fitted on different feature columns: {difference}{together}")
    if len(scaler.input_names) != model.network.input_size:
        raise FeatureSchemaError(
            f"the scaler produces {len(scaler.input_names)} inputs, the network reads {model.network.input_size}{together}"
        )
    theirs = model.feature_schema
    if theirs is None:
        return  # a network built outside the pipeline records no more than its columns
    if ours.inputs != theirs.inputs:
        position = next(
            (index for index, (a, b) in enumerate(zip(ours.inputs, theirs.inputs, strict=False)) if a != b),
            min(len(ours.inputs), len(theirs.inputs)),
        )
        produced = ours.inputs[position] if position < len(ours.inputs) else "nothing"
        expected = theirs.inputs[position] if position < len(theirs.inputs) else "nothing"
        raise FeatureSchemaError(
            f"the scaler's inputs are not the network's: input {position} is {produced!r} from the scaler "
            f"but {expected!r} to the network{together}"
        )
    if theirs.scaling and theirs.scaling != ours.scaling:
        raise FeatureSchemaError(
            f"the network was trained on inputs scaled with {theirs.scaling!r}, the scaler scales with {ours.scaling!r}{together}"
        )
    if theirs.categorical and theirs.categorical != ours.categorical:
        raise FeatureSchemaError(f"the scaler and the network one-hot encode the keys differently{together}")
    if theirs.tag_terms != ours.tag_terms:
        raise FeatureSchemaError(
            f"the scaler encodes genre tags over {len(ours.tag_terms or ())} terms, the network was trained on "
            f"{len(theirs.tag_terms or ())} other terms{together}"
        )
    if theirs.scaler_fingerprint and theirs.scaler_fingerprint != ours.scaler_fingerprint:
        raise FeatureSchemaError(
            f"the network was trained with another fit of the scaler (parameters {theirs.scaler_fingerprint[:12]}, "
            f"this scaler's are {ours.scaler_fingerprint[:12]}){together}"
        )


# --- the scaler's parameters as plain numbers ---------------------------------------------------


def _steps(transformer: Any) -> list[Any]:
    return [step for _, step in transformer.steps] if isinstance(transformer, Pipeline) else [transformer]


def _encode(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return {"ndarray": value.tolist(), "dtype": value.dtype.str}
    if isinstance(value, (list, tuple)):
        return [_encode(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"a fitted scaler attribute of type {type(value).__name__} has no plain-number form")


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) != {"ndarray", "dtype"} or np.dtype(value["dtype"]).kind not in "biuf":
            raise ArtifactFormatError(f"a stored scaler parameter is not an array of numbers: {sorted(value)}")
        return np.array(value["ndarray"], dtype=np.dtype(value["dtype"]))
    if isinstance(value, list):
        return [_decode(item) for item in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ArtifactFormatError(f"a stored scaler parameter of type {type(value).__name__}")


def fitted_parameters(transformer: Any) -> dict[str, Any]:
    """What fitting set on each step of the transformer (scikit-learn's trailing-underscore attributes)."""
    return {
        "steps": [
            {name: _encode(value) for name, value in sorted(vars(step).items()) if name.endswith("_") and not name.startswith("_")}
            for step in _steps(transformer)
        ]
    }


def rebuild_transformer(method: str, parameters: Mapping[str, Any]) -> Any:
    """A transformer for `method` with the fitted attributes set from `parameters` instead of a fit."""
    transformer = make_scaler(method)
    steps = _steps(transformer)
    stored = parameters.get("steps")
    if not isinstance(stored, list) or len(stored) != len(steps):
        raise ArtifactFormatError(f"the stored parameters do not describe a {method!r} scaler")
    for step, attributes in zip(steps, stored, strict=True):
        for name, value in attributes.items():
            # Only fitted attributes: a stored document never gets to replace a method or a setting.
            if not (name.isidentifier() and name.endswith("_") and not name.startswith("_")):
                raise ArtifactFormatError(f"{name!r} is not a fitted scaler attribute")
            setattr(step, name, _decode(value))
    return transformer


def fingerprint(method: str, columns: list[str], parameters: Mapping[str, Any], tag_terms: tuple[str, ...] | None = None) -> str:
    document: dict[str, Any] = {"method": method, "columns": columns, "parameters": parameters}
    if tag_terms is not None:
        document["tag_terms"] = list(tag_terms)
    canonical = json.dumps(document, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def dataset_digest(table: pd.DataFrame) -> str:
    """SHA-256 of a table's rows and column names: tells whether two tables are the same training data."""
    digest = hashlib.sha256("\0".join(map(str, table.columns)).encode())
    digest.update(pd.util.hash_pandas_object(table, index=False).to_numpy().tobytes())
    return digest.hexdigest()


@dataclass
class FittedScaler(StoredArtifact):
    """The input transformation, fitted on the training split only, and the columns it reads.

    `method` is one of `core.scaling.SCALING_METHODS`: the original project's `minmax`, or a
    transformation that suits the network better (see the README's model section).
    `tags`, when set, appends the genre-tag inputs (`core.tags`), encoded from the rows' raw tag
    text over the vocabulary fitted on the training rows; those inputs are not scaled.
    """

    transformer: Any
    feature_columns: list[str]
    method: str
    training_statistics: pd.DataFrame
    versions: dict[str, str] = field(default_factory=library_versions)
    tags: TagVocabulary | None = None
    native_files: ClassVar[tuple[str, ...]] = (SCALER_FILE,)
    # Loading rebuilds the scaler from the summary's parameters; scaler.joblib is not opened.
    files_read_on_load: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def fit(
        cls, train_features: pd.DataFrame, method: str = "minmax", tags: TagVocabulary | None = None
    ) -> FittedScaler:
        """Fit on `train_features` (the encoded feature columns; raw tag text columns, when present
        beside them, are not features). `tags` is a vocabulary fitted on the same rows."""
        train_features = train_features.drop(columns=[c for c in TAG_TEXT_COLUMNS if c in train_features])
        values = train_features.to_numpy(dtype="float64")
        statistics = pd.DataFrame(
            {
                "feature": list(train_features.columns),
                "data_min": values.min(axis=0),
                "data_max": values.max(axis=0),
                "data_mean": values.mean(axis=0),
            }
        )
        return cls(make_scaler(method).fit(values), list(train_features.columns), method, statistics, tags=tags)

    @property
    def input_names(self) -> list[str]:
        """The network's inputs: one per feature, or one per bin for the piecewise encoding; then
        one per tag term and "no tags", when the scaler encodes tags."""
        names = output_names(self.transformer, self.feature_columns)
        return names + (self.tags.input_names if self.tags is not None else [])

    @property
    def read_columns(self) -> list[str]:
        """Every column `transform` reads: the feature columns, then the raw tag text columns."""
        return self.feature_columns + (list(TAG_TEXT_COLUMNS) if self.tags is not None else [])

    @property
    def feature_schema(self) -> FeatureSchema:
        return FeatureSchema(
            columns=tuple(self.feature_columns),
            inputs=tuple(self.input_names),
            scaling=self.method,
            scaler_fingerprint=fingerprint(
                self.method, self.feature_columns, fitted_parameters(self.transformer),
                None if self.tags is None else self.tags.terms,
            ),
            categorical=categorical_encoding(self.feature_columns),
            tag_terms=None if self.tags is None else self.tags.terms,
        )

    def transform(self, features: pd.DataFrame) -> np.ndarray:
        """The network inputs of `features`: the scaled feature columns, then (when the scaler encodes
        tags) the tag inputs from the `genre` text and, if present, the `musicbrainz_tags` text."""
        require_columns(features, self.feature_columns, "scaling")
        scaled = self.transformer.transform(features[self.feature_columns].to_numpy(dtype="float64")).astype("float32")
        if self.tags is None:
            return scaled
        require_columns(features, [TAG_TEXT_COLUMNS[0]], "encoding genre tags")
        return np.hstack([scaled, self.tags.encode(features)])

    def _probe_rows(self) -> np.ndarray:
        """Rows spanning the training range, on which a rebuilt scaler must agree with the fitted one."""
        statistics = self.training_statistics.set_index("feature").loc[self.feature_columns]
        low, high = statistics["data_min"].to_numpy("float64"), statistics["data_max"].to_numpy("float64")
        middle = statistics["data_mean"].to_numpy("float64")
        return np.vstack([low, low + (high - low) / 4, middle, low + 3 * (high - low) / 4, high])

    def _check_reproduces(self, check: Mapping[str, Any], source: str) -> None:
        inputs = np.asarray(check.get("inputs"), dtype="float64")
        expected = np.asarray(check.get("outputs"), dtype="float64")
        actual = self.transformer.transform(inputs).astype("float64")
        if actual.shape != expected.shape or not np.allclose(actual, expected, rtol=1e-9, atol=1e-12):
            raise ArtifactFormatError(
                f"the scaler from {source} does not reproduce the outputs recorded when it was fitted (made with "
                f"scikit-learn {self.versions.get('scikit-learn')}, running {library_versions()['scikit-learn']}). "
                "Materialize feature_scaler and preference_model again."
            )

    def summary_table(self) -> pd.DataFrame:
        table = self.training_statistics.assign(method=self.method)
        probe = self._probe_rows()
        table.attrs = {
            DOCUMENT_KEY: {
                "format_version": format_version_text(),
                "artifact": {
                    "kind": "feature_scaler",
                    "method": self.method,
                    "feature_schema": self.feature_schema.to_dict(),
                    "parameters": fitted_parameters(self.transformer),
                    "tag_vocabulary": None if self.tags is None else self.tags.to_dict(),
                    "check": {"inputs": probe.tolist(), "outputs": self.transformer.transform(probe).tolist()},
                    "versions": dict(self.versions),
                },
            }
        }
        return table

    def save_native(self, folder: UPath) -> None:
        buffer = io.BytesIO()
        joblib.dump(self.transformer, buffer)
        atomic_write_bytes(folder / SCALER_FILE, buffer.getvalue())

    @classmethod
    def load(cls, summary: pd.DataFrame, folder: UPath) -> FittedScaler:
        """The scaler rebuilt from the parameters in its summary: nothing is unpickled."""
        what = summary_path(folder)
        document = stored_document(summary)
        check_format(document.get("format_version"), what, folder.name)
        stored = document.get("artifact")
        if not isinstance(stored, dict) or stored.get("kind") != "feature_scaler" or "parameters" not in stored:
            raise ArtifactFormatError(f"{what} holds no feature scaler parameters. Materialize {folder.name} again.")
        schema = FeatureSchema.from_dict(stored["feature_schema"])
        columns = summary["feature"].tolist()
        if tuple(columns) != schema.columns:
            raise FeatureSchemaError(f"{what}: the statistics table and the feature schema list different columns")
        schema.check_encoding(what)
        statistics = summary.drop(columns="method")
        statistics.attrs = {}
        method = str(stored["method"])
        versions = dict(stored.get("versions", {}))
        try:
            tags = None if stored.get("tag_vocabulary") is None else TagVocabulary.from_dict(stored["tag_vocabulary"])
        except (ValueError, TypeError, AttributeError) as error:
            raise ArtifactFormatError(f"{what}: the stored tag vocabulary is unreadable ({error})") from None
        scaler = cls(rebuild_transformer(method, stored["parameters"]), columns, method, statistics, versions, tags)
        scaler._check_reproduces(stored.get("check", {}), what)
        if scaler.feature_schema != schema:
            raise FeatureSchemaError(f"{what}: the rebuilt scaler does not match its recorded feature schema")
        warn_if_made_with_newer(
            versions, "scikit-learn", what,
            "The scaler was rebuilt from its stored parameters and reproduces its recorded outputs, so it is used.",
        )
        return scaler

    def bundled(self) -> dict[str, Any]:
        """The scaler as plain values, for the network file that carries the fit it was trained with."""
        table = self.summary_table()
        return {
            "document": table.attrs[DOCUMENT_KEY],
            "statistics": {column: table[column].tolist() for column in ("feature", "data_min", "data_max", "data_mean")},
        }

    @classmethod
    def from_bundled(cls, bundled: Mapping[str, Any], folder: UPath) -> FittedScaler:
        """The scaler `bundled()` stored, rebuilt and checked as `load` does (nothing unpickled)."""
        if not isinstance(bundled, Mapping) or not {"document", "statistics"} <= set(bundled):
            raise ArtifactFormatError(f"{summary_path(folder)}: the scaler stored with the network is incomplete")
        summary = pd.DataFrame(dict(bundled["statistics"])).astype({"feature": "str"})
        summary["method"] = str(dict(bundled["document"]).get("artifact", {}).get("method", ""))
        summary.attrs = {DOCUMENT_KEY: dict(bundled["document"])}
        return cls.load(summary, folder)

    @classmethod
    def load_joblib(cls, summary: pd.DataFrame, folder: UPath) -> FittedScaler:
        """The scaler unpickled from scaler.joblib, for checking that file: see the module docstring.

        Refused unless the file is the one written with `summary` (same SHA-256) and its outputs
        match the recorded ones. Unpickling runs code named by the file: own warehouse only.
        """
        with warnings.catch_warnings():
            # The warning that matters here is the one about unpickling, below.
            warnings.simplefilter("ignore", ArtifactVersionWarning)
            rebuilt = cls.load(summary, folder)
        path = folder / SCALER_FILE
        payload = read_verified_native(summary, folder, SCALER_FILE)
        warn_if_made_with_newer(
            rebuilt.versions, "scikit-learn", str(path),
            "scikit-learn does not support unpickling its objects with an older version; the result was "
            "compared with the recorded outputs and is used only because they match.",
        )
        transformer = joblib.load(io.BytesIO(payload))
        if type(transformer) is not type(rebuilt.transformer):
            raise ArtifactIntegrityError(
                f"{path} holds a {type(transformer).__name__}, not the {type(rebuilt.transformer).__name__} of "
                f"a {rebuilt.method!r} scaler"
            )
        unpickled = replace(rebuilt, transformer=transformer)
        unpickled._check_reproduces(stored_document(summary)["artifact"].get("check", {}), str(path))
        return unpickled


@dataclass
class TrainedPreferenceModel(StoredArtifact):
    """The network, the feature columns it reads (in order), its training history and metrics.

    `feature_columns` are the raw columns (as in the enriched CSV) the scaler turns into the
    network's inputs; `input_names` name those inputs (one per feature, or per encoding bin).
    `feature_schema` is the schema of the scaler the network was trained with; None for a
    network built outside the pipeline, which is then checked on its columns only.
    """

    network: PreferenceNet
    feature_columns: list[str]
    history: pd.DataFrame
    metrics: dict[str, Any] = field(default_factory=dict)
    input_names: list[str] = field(default_factory=list)
    # Further members of an ensemble; `network` is the first. Predictions average all members.
    more_networks: list[PreferenceNet] = field(default_factory=list)
    feature_schema: FeatureSchema | None = None
    versions: dict[str, str] = field(default_factory=library_versions)
    # The scaler fit the network was trained with, stored in the network's own file: whatever
    # later happens to `feature_scaler` (a run that fails after refitting it, a concurrent run),
    # the network is scored with its own fit. None for a network built outside the pipeline.
    scaler: FittedScaler | None = None
    # `dataset_digest` of the training table (cleaned_dataset), "" when unknown.
    dataset_digest: str = ""
    # How much a track's score is pooled with its artist's other tracks when a table is scored
    # (`core.evaluation.pool_by_artist`); the test metrics were measured with it.
    artist_pooling: float = 0.0
    # The liked-only mode's c (`core.liked_only.label_frequency`): the networks give the probability of
    # being on the list rather than in the catalog background, which `like_probability` turns into the
    # probability of being liked. None for a network trained on liked against disliked tracks.
    liked_only_calibration: float | None = None
    native_files: ClassVar[tuple[str, ...]] = (MODEL_FILE,)

    def __post_init__(self) -> None:
        if self.scaler is not None:
            check_scaler_and_model(self.scaler, self)

    @property
    def networks(self) -> list[PreferenceNet]:
        return [self.network, *self.more_networks]

    def own_scaler(self) -> FittedScaler:
        """The scaler fit this network was trained with; refused for a network stored without one."""
        if self.scaler is None:
            raise ArtifactFormatError(
                "preference_model does not carry the scaler fit it was trained with (it was written by an older "
                "albumrec, or built outside the pipeline): materialize feature_scaler and preference_model again"
            )
        return self.scaler

    def check_trained_on(self, dataset: pd.DataFrame, what: str = "cleaned_dataset") -> None:
        """Refuse a training table other than the one this network was trained on."""
        if self.dataset_digest and dataset_digest(dataset) != self.dataset_digest:
            raise FeatureSchemaError(
                f"{what} is not the table preference_model was trained on: it was materialized again after the "
                "network (a later run failed or is still running before preference_model). Materialize "
                "preference_model, or the whole refresh_from_liked_list job, again"
            )

    def like_probability(self, scaled_features: np.ndarray) -> np.ndarray:
        if scaled_features.shape[1] != self.network.input_size:
            raise FeatureSchemaError(
                f"the network reads {self.network.input_size} features, the rows have {scaled_features.shape[1]}"
            )
        inputs = torch.as_tensor(scaled_features, dtype=torch.float32)
        listed = np.mean([network.like_probability(inputs).numpy() for network in self.networks], axis=0)
        if self.liked_only_calibration is None:
            return listed
        return liked_probability(listed, self.liked_only_calibration).astype(listed.dtype)

    def summary_table(self) -> pd.DataFrame:
        return self.history

    def save_native(self, folder: UPath) -> None:
        payload = {
            "format_version": format_version_text(),
            "state_dicts": [network.state_dict() for network in self.networks],
            "feature_columns": list(self.feature_columns),
            "input_names": list(self.input_names or self.feature_columns),
            "feature_schema": None if self.feature_schema is None else self.feature_schema.to_dict(),
            "input_size": int(self.network.input_size),
            "hidden_sizes": list(self.network.hidden_sizes),
            "dropout": float(self.network.dropout),
            "input_dropout": float(self.network.input_dropout),
            "metrics": {key: float(value) for key, value in self.metrics.items()},
            "versions": dict(self.versions),
            "scaler": None if self.scaler is None else self.scaler.bundled(),
            "dataset_digest": self.dataset_digest,
            "artist_pooling": float(self.artist_pooling),
            "liked_only_calibration": None if self.liked_only_calibration is None else float(self.liked_only_calibration),
        }
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        atomic_write_bytes(folder / MODEL_FILE, buffer.getvalue())

    @classmethod
    def load(cls, summary: pd.DataFrame, folder: UPath) -> TrainedPreferenceModel:
        path = folder / MODEL_FILE
        try:
            # weights_only: tensors, strings and numbers; an object that would run code is refused.
            payload = torch.load(io.BytesIO(path.read_bytes()), weights_only=True)
        except pickle.UnpicklingError as error:
            # PyTorch's own message suggests weights_only=False, which is exactly what must not happen here.
            named = re.search(r"GLOBAL ([\w.]+)", str(error))
            raise ArtifactIntegrityError(
                f"{path} holds objects other than tensors and plain values"
                + (f" (it names {named.group(1)})" if named else "")
                + f", which albumrec never writes; it was not loaded. Materialize {folder.name} again, "
                "and find out how this file got into the warehouse."
            ) from None
        if not isinstance(payload, dict) or "state_dicts" not in payload:
            raise ArtifactIntegrityError(f"{path} is not an albumrec network file. Materialize {folder.name} again.")
        check_format(payload.get("format_version"), str(path), folder.name)
        versions = dict(payload.get("versions", {}))
        warn_if_made_with_newer(
            versions, "torch", str(path), "Its state dicts loaded into networks of the recorded shapes, so it is used."
        )
        columns = list(payload["feature_columns"])
        schema = None if payload.get("feature_schema") is None else FeatureSchema.from_dict(payload["feature_schema"])
        if schema is not None and (schema.columns != tuple(columns) or len(schema.inputs) != int(payload["input_size"])):
            raise FeatureSchemaError(f"{path}: the network's feature schema does not match its own columns and input size")
        networks = []
        for state in payload["state_dicts"]:
            network = PreferenceNet(
                int(payload["input_size"]), payload["hidden_sizes"], payload["dropout"], payload["input_dropout"]
            )
            network.load_state_dict(state)
            network.eval()
            networks.append(network)
        history = summary.copy(deep=False)
        history.attrs = {}  # the stored document describes the file, not the history
        bundled = payload.get("scaler")
        scaler = None if bundled is None else FittedScaler.from_bundled(bundled, folder)
        # Built with its scaler, the model checks the pair: a file whose two halves disagree is refused.
        return cls(
            networks[0], columns, history, dict(payload.get("metrics", {})), list(payload["input_names"]), networks[1:],
            schema, versions, scaler, str(payload.get("dataset_digest", "")), float(payload.get("artist_pooling", 0.0)),
            None if payload.get("liked_only_calibration") is None else float(payload["liked_only_calibration"]),
        )
