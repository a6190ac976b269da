"""Small documents in the services' real shapes, built in code so unit tests need no files."""

from __future__ import annotations

import uuid

from albumrec_pipeline.core.feature_columns import CONFIDENCE_MODELS, MULTICLASS_MODELS


def recording_id(number: int) -> str:
    return str(uuid.UUID(int=number + 1, version=4))


def highlevel_document(shift: float = 0.0) -> dict:
    models = {}
    for model, labels in MULTICLASS_MODELS.items():
        weights = [1.0 + shift * index for index in range(len(labels))]
        total = sum(weights)
        probabilities = {label: weight / total for label, weight in zip(labels, weights, strict=True)}
        best = max(probabilities, key=probabilities.get)
        models[model] = {"all": probabilities, "value": best, "probability": probabilities[best]}
    for model in (*CONFIDENCE_MODELS, "danceability"):
        positive = {"danceability": "danceable"}.get(model, model.removeprefix("mood_"))
        share = min(0.99, 0.6 + shift / 10)
        models[model] = {"all": {positive: share, f"not_{positive}": 1 - share}, "value": positive, "probability": share}
    return {"highlevel": models, "metadata": {"tags": {}}}


def lowlevel_document(key: str = "C", scale: str = "major", shift: float = 0.0, artist: str = "Tag Artist") -> dict:
    stat = lambda value: {"mean": value, "median": value, "min": value, "max": value, "var": 0.0}  # noqa: E731
    return {
        "lowlevel": {
            "average_loudness": 0.8,
            "dynamic_complexity": 4.0 + shift,
            "spectral_centroid": stat(1200.0 + 100 * shift),
            "spectral_rolloff": stat(2300.0),
            "spectral_flux": stat(0.08),
            "mfcc": {"mean": [-685.0 + shift] + [float(index) for index in range(1, 13)]},
        },
        "rhythm": {"bpm": 120.0 + shift, "beats_count": 450},
        "tonal": {
            "key_key": key,
            "key_scale": scale,
            "chords_key": key,
            "chords_scale": scale,
            "chords_changes_rate": 0.06,
            "chords_number_rate": 0.002,
        },
        "metadata": {"audio_properties": {"length": 220.0}, "tags": {"artist": [artist], "genre": ["Rock"]}},
    }


def release_document(
    release_id: str,
    recording_ids: list[str],
    artist: str = "Band",
    date: str = "2001-05-01",
    primary_type: str = "Album",
    title: str = "Record",
) -> dict:
    credit = [{"name": artist, "joinphrase": "", "artist": {"id": recording_id(999), "name": artist}}]
    return {
        "id": release_id,
        "title": title,
        "status": "Official",
        "date": date,
        "artist-credit": credit,
        "release-group": {"id": f"rg-{release_id}", "primary-type": primary_type, "first-release-date": date},
        "media": [
            {
                "position": 1,
                "track-count": len(recording_ids),
                "tracks": [
                    {
                        "id": f"t-{index}",
                        "position": index + 1,
                        "title": f"Song {index}",
                        "recording": {"id": rid, "title": f"Song {index}", "first-release-date": date},
                    }
                    for index, rid in enumerate(recording_ids)
                ],
            }
        ],
    }


def write_checked_tar_zst(path, members: list[tuple[str, bytes]]):
    """A `.tar.zst` whose frame carries a content checksum, as the `zstd` tool (and so the real
    AcousticBrainz dumps) writes it: a changed byte anywhere fails the read instead of passing."""
    import io
    import tarfile

    import zstandard

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(zstandard.ZstdCompressor(level=3, write_checksum=True).compress(raw.getvalue()))
    return path
