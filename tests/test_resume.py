"""Interrupted runs lose nothing: on a copy of the tiny --quick run, an output cut short, changed, deleted or a stage
record gone (what `kill -9` in a stage leaves) makes exactly that stage rerun while the finished ones are skipped;
what killed saves leave behind is removed at the start of the next run."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

import main as pipeline

TRAINING = "data,sentiment,emotion,goemotions"


@pytest.fixture
def run_copy(quick_run, tmp_path) -> tuple[Path, list[str]]:
    """A copy of the quick run (file times kept, so it is as fresh as the original) and the argv that runs on it."""
    out, argv, _ = quick_run
    copy = Path(shutil.copytree(out, tmp_path / "out"))
    return copy, [*argv, "--out", str(copy)]


def stage_lines(text: str) -> dict[str, str]:
    """{stage: 'skipped' | 'running (<reason>)'} from main.py's output."""
    return {m[1]: m[2] for m in re.finditer(r"^\[(\w+)\] (skipped|running \(.*\))", text, re.MULTILINE)}


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])


def flip_a_byte(path: Path) -> None:
    """The same size, other content: only the hash in the record can tell."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_the_record_lists_every_produced_file_with_its_size(run_copy):
    out, _ = run_copy
    record = json.loads((out / "results" / "stages" / "sentiment.json").read_text())
    weights = out / "saved_model" / "sentiment" / "model.safetensors"
    assert record["files"]["saved_model/sentiment/model.safetensors"]["size"] == weights.stat().st_size
    assert len(record["files"]["saved_model/sentiment/config.json"]["sha256"]) == 64
    assert "data/processed/test_data.csv" in record["files"]


@pytest.mark.parametrize("stage, interrupt, stages, reason", [
    ("sentiment", lambda o: truncate(o / "saved_model" / "sentiment" / "model.safetensors"), TRAINING, "cut short?"),
    ("emotion", lambda o: (o / "saved_model" / "emotion" / "tokenizer.json").unlink(), TRAINING, "is missing"),
    ("emotion", lambda o: (o / "results" / "stages" / "emotion.json").unlink(), TRAINING, "never finished here"),
    ("score", lambda o: truncate(o / "results" / "song_halves.csv"), f"{TRAINING},score", "cut short?"),
    ("recommend", lambda o: flip_a_byte(o / "results" / "recommendations.md"), f"{TRAINING},score,recommend",
     "changed since the stage finished"),
])
def test_exactly_the_interrupted_stage_reruns(run_copy, stage, interrupt, stages, reason, capsys):
    out, argv = run_copy
    interrupt(out)
    pipeline.main([*argv, "--stages", stages])
    lines = stage_lines(capsys.readouterr().out)
    ran = lines.pop(stage)
    assert ran.startswith("running (") and reason in ran, ran
    assert set(lines.values()) == {"skipped"}, lines  # every other selected stage was trusted
    pipeline.main([*argv, "--stages", stages])  # and now the rerun stage is trusted too
    assert set(stage_lines(capsys.readouterr().out).values()) == {"skipped"}


def test_the_reason_names_what_was_wrong(run_copy, capsys):
    out, argv = run_copy
    truncate(out / "results" / "song_halves.csv")
    pipeline.main([*argv, "--stages", "score"])
    assert re.search(r"\[score\] running \(.*song_halves\.csv is \d+ bytes, not the \d+ it had when the stage "
                     r"finished \(cut short\?\)\)", capsys.readouterr().out)


def test_leftovers_of_killed_saves_are_removed_and_nothing_reruns(run_copy, capsys):
    out, argv = run_copy
    leftovers = [out / "saved_model" / "sentiment" / ".model.onnx.x1y2.tmp",
                 out / "results" / ".song_emotions.embeddings.npz.tmp.npz",
                 out / "saved_model" / "emotion" / ".tfidf.joblib.tmp"]
    for path in leftovers:
        path.write_bytes(b"\0" * 1000)
    checkpoints = out / ".checkpoints-arch2-abc" / "checkpoint-5"
    checkpoints.mkdir(parents=True)
    (checkpoints / "model.safetensors").write_bytes(b"\0" * 5000)
    pipeline.main(argv)
    printed = capsys.readouterr().out
    assert "removed 4 leftover(s) of an interrupted run (0.0 MB)" in printed
    assert not any(p.exists() for p in leftovers) and not checkpoints.parent.exists()
    assert set(stage_lines(printed).values()) == {"skipped"}
