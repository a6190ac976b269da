"""From a track's latent style to the numbers an AcousticBrainz document would hold for it.

Every track has a position on a handful of named style axes (how acoustic, energetic or
electronic it is, ...). Each feature column is a noisy linear read-out of those axes, turned
into a standard-normal score and then pushed through the column's calibrated marginal:

* plain descriptors (loudness, bpm, mfcc, ...) and the `danceable` probability: through the
  reference percentiles, so mean, spread, minimum and maximum follow the real tracks;
* binary mood/style classifiers: the score's sign picks the winning class and its size sets the
  classifier's confidence, again through the reference percentiles of that confidence;
* multi-class classifiers (genres, rhythms, mirex moods): a softmax over the classes' scores
  whose per-class offset and temperature are fitted so class means and spreads follow the
  reference, and which sums to one by construction.

Because all columns read the same few axes, they correlate the way real features do (acoustic
tracks are quiet, dynamic, rarely danceable and classified as folk or classical, ...).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np

from albumrec_pipeline.core.feature_columns import (
    MFCC_COLUMNS,
    MFCC_COUNT,
    MULTICLASS_MODELS,
    PITCH_CLASSES,
)
from albumrec_pipeline.demo.reference_figures import (
    PERCENTILE_LEVELS,
    REFERENCE_BEATS_PER_EXPECTED_BEAT,
    REFERENCE_CHORDS_KEY_AGREEMENT,
    REFERENCE_CHORDS_KEY_COUNTS,
    REFERENCE_CHORDS_SCALE_AGREEMENT,
    REFERENCE_FIGURES,
    REFERENCE_KEY_COUNTS,
    REFERENCE_MINOR_SHARE,
)

# The latent style axes. The first seven are drawn per artist, album and track; `era` is the
# normal score of the album's release year, so older and newer records sound different (older
# masters are quieter and more dynamic) the way the reference tracks do.
AXES: tuple[str, ...] = ("acoustic", "energy", "electronic", "urban", "tempo", "mood", "bright", "era")
STYLE_AXES: tuple[str, ...] = AXES[:-1]
AXIS_INDEX: dict[str, int] = {axis: index for index, axis in enumerate(AXES)}

# A sample of 1,254 tracks reaches about 3.35 standard deviations at its extremes; the reference
# minimum and maximum are placed there so generated values never leave the real range.
_EXTREME_SCORE = 3.35


@dataclass(frozen=True)
class Projection:
    """A feature's read-out of the style axes: weights per axis plus independent per-track noise."""

    loadings: dict[str, float]
    noise: float = 0.6

    def weights(self) -> np.ndarray:
        vector = np.zeros(len(AXES))
        for axis, weight in self.loadings.items():
            vector[AXIS_INDEX[axis]] = weight
        return vector


def _p(noise: float = 0.6, **loadings: float) -> Projection:
    return Projection(loadings=loadings, noise=noise)


# Low-level descriptors. Signs follow the reference tracks' correlations: loud, bright, busy
# spectra go with energetic and electronic music; acoustic music is quieter and more dynamic;
# mfcc_1 (overall log energy) rises and mfcc_2 falls with brightness.
SCALAR_PROJECTIONS: dict[str, Projection] = {
    "chords_changes_rate": _p(0.85, energy=0.35, tempo=0.3, acoustic=-0.2),
    "chords_number_rate": _p(0.85, acoustic=0.35, electronic=-0.3),
    "bpm": _p(0.5, tempo=0.85, electronic=0.15),
    "average_loudness": _p(0.6, energy=0.55, era=0.45, acoustic=-0.35),
    "dynamic_complexity": _p(0.7, acoustic=0.45, electronic=-0.35, energy=-0.2, era=-0.3),
    "duration": _p(0.9, electronic=0.35, acoustic=0.15, urban=-0.1),
    "spectral_centroid": _p(0.5, bright=0.6, energy=0.45, acoustic=-0.3),
    "spectral_rolloff": _p(0.6, bright=0.6, energy=0.35, electronic=0.2),
    "spectral_flux": _p(0.55, energy=0.5, electronic=0.35, acoustic=-0.35, tempo=0.15),
    "mfcc_1": _p(0.5, energy=0.6, bright=0.35, acoustic=-0.3, era=0.25),
    "mfcc_2": _p(0.6, bright=-0.55, acoustic=0.4, energy=-0.25),
    "mfcc_3": _p(0.8, urban=0.4, electronic=0.3, bright=-0.2),
    "mfcc_4": _p(0.9, acoustic=0.3, mood=0.2),
    "mfcc_5": _p(0.9, energy=-0.3, urban=0.2),
    "mfcc_6": _p(0.9, electronic=-0.3, tempo=-0.2),
    "mfcc_7": _p(0.9, bright=-0.3, energy=0.2),
    "mfcc_8": _p(0.9, acoustic=0.25, mood=-0.2),
    "mfcc_9": _p(0.9, urban=-0.3),
    "mfcc_10": _p(0.9, energy=-0.3, electronic=0.2),
    "mfcc_11": _p(0.95, mood=0.25),
    "mfcc_12": _p(0.9, electronic=0.25, energy=0.2),
    "mfcc_13": _p(0.9, acoustic=-0.2, bright=0.2),
}

DANCEABLE_PROJECTION = _p(0.5, electronic=0.55, urban=0.45, tempo=0.25, acoustic=-0.35, mood=0.2)


@dataclass(frozen=True)
class BinaryModel:
    """A two-class high-level model: `positive` wins where the score (plus `offset`) is above 0."""

    positive: str
    negative: str
    projection: Projection
    offset: float


# The ten models whose confidence is a feature column, plus `gender` (not a column; its
# probabilities are only there because every real high-level document carries the model).
BINARY_MODELS: dict[str, BinaryModel] = {
    "mood_acoustic": BinaryModel("acoustic", "not_acoustic", _p(0.5, acoustic=0.8, energy=-0.3, electronic=-0.3), -0.2),
    "mood_aggressive": BinaryModel("aggressive", "not_aggressive", _p(0.5, energy=0.8, mood=-0.2), -0.8),
    "mood_electronic": BinaryModel("electronic", "not_electronic", _p(0.5, electronic=0.8, acoustic=-0.3), 0.2),
    "mood_happy": BinaryModel("happy", "not_happy", _p(0.6, mood=0.8), -0.2),
    "mood_party": BinaryModel("party", "not_party", _p(0.5, electronic=0.4, urban=0.4, mood=0.4, energy=0.2), -0.3),
    "mood_relaxed": BinaryModel("relaxed", "not_relaxed", _p(0.6, acoustic=0.5, energy=-0.5), 0.2),
    "mood_sad": BinaryModel("sad", "not_sad", _p(0.6, mood=-0.7, acoustic=0.2), -0.3),
    "timbre": BinaryModel("bright", "dark", _p(0.5, bright=0.8), 0.0),
    "tonal_atonal": BinaryModel("tonal", "atonal", _p(0.8, acoustic=0.3, electronic=-0.3), 1.0),
    "voice_instrumental": BinaryModel("voice", "instrumental", _p(0.6, urban=0.5, electronic=-0.5, acoustic=-0.1), 0.6),
}
GENDER_MODEL = BinaryModel("female", "male", _p(1.0, mood=0.2), 0.0)

# Multi-class models: each class's score; the softmax offsets and temperatures are fitted below.
FAMILY_PROJECTIONS: dict[str, dict[str, Projection]] = {
    "genre_dortmund": {
        "alternative": _p(0.6, energy=0.4, acoustic=-0.1, bright=0.2),
        "blues": _p(0.6, acoustic=0.4, era=-0.5),
        "electronic": _p(0.5, electronic=0.6, acoustic=-0.5),
        "folkcountry": _p(0.5, acoustic=0.7, urban=-0.2),
        "funksoulrnb": _p(0.6, urban=0.5, era=-0.3, energy=0.2),
        "jazz": _p(0.6, acoustic=0.5, mood=-0.1, bright=-0.2),
        "pop": _p(0.6, mood=0.4, bright=0.2),
        "raphiphop": _p(0.5, urban=0.8),
        "rock": _p(0.5, energy=0.6, acoustic=-0.1),
    },
    "genre_electronic": {
        "ambient": _p(0.5, acoustic=0.5, energy=-0.5, tempo=-0.2),
        "dnb": _p(0.6, tempo=0.5, energy=0.4),
        "house": _p(0.6, electronic=0.4, urban=0.3, tempo=0.2),
        "techno": _p(0.6, electronic=0.5, energy=0.2),
        "trance": _p(0.6, electronic=0.5, mood=0.2, tempo=0.2),
    },
    "genre_rosamerica": {
        "cla": _p(0.5, acoustic=0.7, energy=-0.4, urban=-0.3),
        "dan": _p(0.6, electronic=0.6, tempo=0.2),
        "hip": _p(0.5, urban=0.8),
        "jaz": _p(0.6, acoustic=0.5, urban=0.2, bright=-0.2),
        "pop": _p(0.6, mood=0.4, electronic=0.1),
        "rhy": _p(0.6, urban=0.5, mood=0.1),
        "roc": _p(0.5, energy=0.7, acoustic=-0.2),
        "spe": _p(0.7, acoustic=0.3, energy=-0.3, urban=-0.3),
    },
    "genre_tzanetakis": {
        "blu": _p(0.8, acoustic=0.3, era=-0.3),
        "cla": _p(0.8, acoustic=0.5),
        "cou": _p(0.8, acoustic=0.4, urban=-0.3),
        "dis": _p(0.8, electronic=0.4, tempo=0.2),
        "hip": _p(0.8, urban=0.6),
        "jaz": _p(0.8, acoustic=0.3, bright=-0.2),
        "met": _p(0.8, energy=0.7),
        "pop": _p(0.8, mood=0.3),
        "reg": _p(0.8, urban=0.3, tempo=-0.2),
        "roc": _p(0.8, energy=0.5),
    },
    "ismir04_rhythm": {
        "ChaChaCha": _p(0.6, electronic=0.4, urban=0.3, energy=0.3, acoustic=-0.3),
        "Jive": _p(0.7, tempo=0.6),
        "Quickstep": _p(0.7, tempo=0.7),
        "Rumba-American": _p(0.7, urban=0.3, tempo=-0.3),
        "Rumba-International": _p(0.7, tempo=-0.4),
        "Rumba-Misc": _p(0.7, tempo=-0.3, mood=0.2),
        "Samba": _p(0.7, tempo=0.4, mood=0.3),
        "Tango": _p(0.7, acoustic=0.3, energy=0.2),
        "VienneseWaltz": _p(0.6, acoustic=0.5, tempo=-0.2, energy=-0.3),
        "Waltz": _p(0.7, acoustic=0.4, tempo=-0.4),
    },
    "moods_mirex": {
        "Cluster1": _p(0.7, energy=0.3, mood=0.3),
        "Cluster2": _p(0.6, mood=0.6, electronic=0.2),
        "Cluster3": _p(0.6, mood=-0.5, acoustic=0.4),
        "Cluster4": _p(0.7, mood=0.3, urban=0.3),
        "Cluster5": _p(0.5, energy=0.6, electronic=0.3),
    },
}
assert all(tuple(classes) == MULTICLASS_MODELS[model] for model, classes in FAMILY_PROJECTIONS.items())


def _highlevel_model_classes() -> dict[str, tuple[str, ...]]:
    """The classes of all 18 high-level models; models and classes in the order real documents list them."""
    classes: dict[str, tuple[str, ...]] = {"danceability": ("danceable", "not_danceable")}
    classes.update({model: tuple(sorted(labels)) for model, labels in MULTICLASS_MODELS.items()})
    for model, spec in {**BINARY_MODELS, "gender": GENDER_MODEL}.items():
        classes[model] = tuple(sorted((spec.positive, spec.negative)))
    return dict(sorted(classes.items()))


HIGHLEVEL_MODEL_CLASSES: dict[str, tuple[str, ...]] = _highlevel_model_classes()
assert len(HIGHLEVEL_MODEL_CLASSES) == 18


def projection_scores(latent: np.ndarray, projections: list[Projection], rng: np.random.Generator) -> np.ndarray:
    """Standard-normal scores (one column per projection) for latent rows that are N(0, I)."""
    weights = np.stack([projection.weights() for projection in projections], axis=1)
    noise = np.array([projection.noise for projection in projections])
    scale = np.sqrt((weights**2).sum(axis=0) + noise**2)
    return (latent @ weights + rng.standard_normal((latent.shape[0], len(projections))) * noise) / scale


@functools.lru_cache(maxsize=None)
def _score_knots() -> np.ndarray:
    """Normal scores at the reference percentile levels; the extremes sit at +-3.35."""
    inner = [NormalDist().inv_cdf(level) for level in PERCENTILE_LEVELS[1:-1]]
    return np.array([-_EXTREME_SCORE, *inner, _EXTREME_SCORE])


def from_score(column: str, scores: np.ndarray) -> np.ndarray:
    """Map standard-normal scores onto a column's reference distribution (percentile by percentile)."""
    values = np.array(REFERENCE_FIGURES[column].percentiles)
    return np.interp(scores, _score_knots(), values)


@functools.lru_cache(maxsize=None)
def _magnitude_knots(offset: float) -> np.ndarray:
    """|score + offset| at the reference percentile levels, for a score that is N(0, 1).

    A binary classifier is most confident far from its decision boundary, so the confidence
    column is the reference confidence distribution indexed by the distance from it.
    """
    normal = NormalDist()

    def magnitude_cdf(x: float) -> float:
        return normal.cdf(x - offset) - normal.cdf(-x - offset)

    top = 2 * NormalDist().cdf(_EXTREME_SCORE) - 1
    knots = []
    for level in (0.0, *PERCENTILE_LEVELS[1:-1], top):
        low, high = 0.0, 12.0
        for _ in range(60):
            middle = (low + high) / 2
            low, high = (middle, high) if magnitude_cdf(middle) < level else (low, middle)
        knots.append((low + high) / 2)
    return np.array(knots)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


# The softmax parameters are fitted on a fixed sample of latent styles, so every demo world,
# whatever its seed, uses the same "classifiers".
_CALIBRATION_SEED = 20220623
_CALIBRATION_TRACKS = 8_000


@functools.lru_cache(maxsize=None)
def family_parameters() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-class softmax offset and temperature of each multi-class model.

    Fixed-point iteration: the offset moves each class's mean probability onto the reference
    mean, the temperature its spread onto the reference standard deviation.
    """
    rng = np.random.default_rng(_CALIBRATION_SEED)
    latent = rng.standard_normal((_CALIBRATION_TRACKS, len(AXES)))
    parameters = {}
    for model, classes in FAMILY_PROJECTIONS.items():
        scores = projection_scores(latent, list(classes.values()), rng)
        target_mean = np.array([REFERENCE_FIGURES[f"{model}_{label}"].mean for label in classes])
        target_mean = target_mean / target_mean.sum()
        target_std = np.array([REFERENCE_FIGURES[f"{model}_{label}"].std for label in classes])
        offset = np.log(target_mean)
        scale = np.ones(len(classes))
        # Damped steps: classes with a tiny mean and a long tail (rap in genre_dortmund) need
        # large temperatures, and undamped updates of offset and temperature chase each other.
        for _ in range(300):
            probabilities = _softmax(offset + scale * scores)
            mean_ratio = target_mean / probabilities.mean(axis=0)
            std_ratio = target_std / probabilities.std(axis=0)
            if np.abs(mean_ratio - 1).max() < 0.002 and np.abs(std_ratio - 1).max() < 0.002:
                break
            offset += 0.5 * np.log(mean_ratio)
            scale = np.clip(scale * std_ratio**0.3, 0.05, 20.0)
        parameters[model] = (offset, scale)
    return parameters


def family_probabilities(model: str, scores: np.ndarray) -> np.ndarray:
    offset, scale = family_parameters()[model]
    return _softmax(offset + scale * scores)


@dataclass
class AudioFeatures:
    """Everything measured about n tracks, as arrays in track order."""

    scalars: dict[str, np.ndarray]  # low-level scalar columns (LOWLEVEL_SCALARS) by name
    mfcc: np.ndarray  # (n, 13)
    # Every high-level model: its classes (document order) and an (n, classes) probability array.
    highlevel: dict[str, tuple[tuple[str, ...], np.ndarray]]
    key_key: np.ndarray
    key_scale: np.ndarray
    chords_key: np.ndarray
    chords_scale: np.ndarray
    key_strength: np.ndarray
    extras: dict[str, np.ndarray] = field(default_factory=dict)  # descriptors outside the feature columns

    def __len__(self) -> int:
        return self.mfcc.shape[0]


def _binary_probabilities(spec: BinaryModel, scores: np.ndarray, column: str | None) -> tuple[tuple[str, ...], np.ndarray]:
    shifted = scores + spec.offset
    if column is None:
        positive = 1.0 / (1.0 + np.exp(-2.0 * shifted))
    else:
        confidence = np.interp(np.abs(shifted), _magnitude_knots(spec.offset), REFERENCE_FIGURES[column].percentiles)
        positive = np.where(shifted > 0, confidence, 1.0 - confidence)
    classes = tuple(sorted((spec.positive, spec.negative)))
    columns = [positive if label == spec.positive else 1.0 - positive for label in classes]
    return classes, np.stack(columns, axis=1)


def _keys(latent: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    n = latent.shape[0]
    pitch = np.array(PITCH_CLASSES)
    key_weights = np.array([REFERENCE_KEY_COUNTS[key] for key in PITCH_CLASSES], dtype=float)
    chord_weights = np.array([REFERENCE_CHORDS_KEY_COUNTS[key] for key in PITCH_CLASSES], dtype=float)
    key_key = rng.choice(pitch, size=n, p=key_weights / key_weights.sum())
    # Sad-sounding tracks lean minor; the threshold keeps the overall minor share at the reference's.
    minor_score = 0.5 * -latent[:, AXIS_INDEX["mood"]] + np.sqrt(0.75) * rng.standard_normal(n)
    key_scale = np.where(minor_score > NormalDist().inv_cdf(1 - REFERENCE_MINOR_SHARE), "minor", "major")
    other_chord_key = rng.choice(pitch, size=n, p=chord_weights / chord_weights.sum())
    chords_key = np.where(rng.random(n) < REFERENCE_CHORDS_KEY_AGREEMENT, key_key, other_chord_key)
    flipped = np.where(key_scale == "major", "minor", "major")
    chords_scale = np.where(rng.random(n) < REFERENCE_CHORDS_SCALE_AGREEMENT, key_scale, flipped)
    key_strength = np.clip(0.62 + 0.12 * rng.standard_normal(n), 0.2, 0.97)
    return key_key, key_scale, chords_key, chords_scale, key_strength


def generate_audio_features(latent: np.ndarray, rng: np.random.Generator) -> AudioFeatures:
    """Audio descriptors of tracks whose latent styles (rows, axes in AXES order) are given."""
    n = latent.shape[0]
    scalar_columns = [column for column in SCALAR_PROJECTIONS if column not in MFCC_COLUMNS]
    scores = projection_scores(latent, [SCALAR_PROJECTIONS[column] for column in scalar_columns], rng)
    scalars = {column: from_score(column, scores[:, index]) for index, column in enumerate(scalar_columns)}
    # Beats follow from tempo and length, as the extractor counts them.
    beat_ratio = REFERENCE_BEATS_PER_EXPECTED_BEAT + 0.01 * rng.standard_normal(n)
    scalars["beats_count"] = np.maximum(1, np.rint(scalars["bpm"] * scalars["duration"] / 60.0 * beat_ratio)).astype(int)

    mfcc_scores = projection_scores(latent, [SCALAR_PROJECTIONS[column] for column in MFCC_COLUMNS], rng)
    mfcc = np.stack([from_score(column, mfcc_scores[:, index]) for index, column in enumerate(MFCC_COLUMNS)], axis=1)
    assert mfcc.shape[1] == MFCC_COUNT

    highlevel: dict[str, tuple[tuple[str, ...], np.ndarray]] = {}
    danceable = from_score("danceable", projection_scores(latent, [DANCEABLE_PROJECTION], rng)[:, 0])
    highlevel["danceability"] = (("danceable", "not_danceable"), np.stack([danceable, 1.0 - danceable], axis=1))
    highlevel["gender"] = _binary_probabilities(
        GENDER_MODEL, projection_scores(latent, [GENDER_MODEL.projection], rng)[:, 0], None
    )
    for model, classes in FAMILY_PROJECTIONS.items():
        family_scores = projection_scores(latent, list(classes.values()), rng)
        highlevel[model] = (tuple(classes), family_probabilities(model, family_scores))
    binary_scores = projection_scores(latent, [spec.projection for spec in BINARY_MODELS.values()], rng)
    for index, (model, spec) in enumerate(BINARY_MODELS.items()):
        highlevel[model] = _binary_probabilities(spec, binary_scores[:, index], model)
    highlevel = {model: highlevel[model] for model in HIGHLEVEL_MODEL_CLASSES}

    key_key, key_scale, chords_key, chords_scale, key_strength = _keys(latent, rng)
    extras = {
        # The rhythm extractor's own danceability (0..3, higher is more danceable).
        "rhythm_danceability": np.clip(0.7 + 0.8 * danceable + 0.15 * rng.standard_normal(n), 0.4, 2.6),
        "onset_rate": np.clip(scalars["bpm"] / 60.0 * (0.9 + 0.8 * rng.random(n)), 0.3, 8.0),
        "tuning_frequency": np.clip(440.0 + 2.0 * rng.standard_normal(n), 432.0, 448.0),
    }
    return AudioFeatures(
        scalars=scalars,
        mfcc=mfcc,
        highlevel=highlevel,
        key_key=key_key,
        key_scale=key_scale,
        chords_key=chords_key,
        chords_scale=chords_scale,
        key_strength=key_strength,
        extras=extras,
    )
