"""The same commands under torchrun: 2 CPU processes (gloo), as users launch them on N GPUs.

    python -m pytest -q tests/test_distributed.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_char_bert, write_reviews

from moodpipe.models.heads import build_emotion_model

REPO = Path(__file__).resolve().parents[1]
LINES = ["사랑이 떠나가네", "비가 오는 밤", "혼자 남은 방", "기쁜 우리 젊은 날", "화가 나서 울었다", "눈물이 흘러"]


def torchrun(args: list[str], n: int = 2) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}", *args]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_sentiment_trains_in_two_processes_and_saves_once(tmp_path, tiny_mobilebert):
    write_reviews(tmp_path / "reviews.csv", n_copies=4)
    done = torchrun(["mobilebert_project.py", "--data-dir", str(tmp_path), "--reviews", "reviews.csv", "--model",
                     str(tiny_mobilebert), "--out", str(tmp_path / "out"), "--epochs", "1", "--batch-size", "8",
                     "--precision", "fp32", "--device", "cpu"])
    assert done.stdout.count("sentiment: test accuracy") == 1  # only the main process reports
    folder = tmp_path / "out" / "saved_model" / "sentiment"
    assert (folder / "model.safetensors").is_file() and (folder / "metrics.json").is_file()
    assert not (tmp_path / "out" / "saved_model" / ".checkpoints-sentiment").exists()


@pytest.fixture(scope="module")
def emotion_model(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dist")
    encoder = write_char_bert(root / "encoder", LINES)
    model = build_emotion_model(str(encoder), "arch2", ["분노/분노", "슬픔/슬픔", "기쁨/기쁨"], train_max_length=16)
    model.save_pretrained(root / "model")
    from transformers import AutoTokenizer
    AutoTokenizer.from_pretrained(encoder).save_pretrained(root / "model")
    return root / "model"


def test_scoring_in_two_processes_equals_one(tmp_path, emotion_model):
    rng = np.random.default_rng(0)
    lyrics = ["\n".join(rng.choice(LINES, size=int(rng.integers(1, 9)))) for _ in range(50)]
    lyrics[7] = ""  # an empty song is skipped in both
    pd.DataFrame({"song_id": range(50), "song_name": [f"s{i}" for i in range(50)], "artist": "a",
                  "lyrics": lyrics}).to_csv(tmp_path / "songs.csv", index=False)
    common = ["lyrics_emotion.py", "score", "--lyrics", str(tmp_path / "songs.csv"), "--model", str(emotion_model),
              "--halves", "--precision", "fp32", "--device", "cpu"]
    one = subprocess.run([sys.executable, *common, "--out", str(tmp_path / "one")], cwd=REPO, capture_output=True,
                         text=True, timeout=300)
    assert one.returncode == 0, one.stderr[-3000:]
    torchrun([*common, "--out", str(tmp_path / "two")])
    for name in ("song_emotions.csv", "song_halves.csv"):
        a, b = (pd.read_csv(tmp_path / run / "results" / name) for run in ("one", "two"))
        assert list(a.columns) == list(b.columns) and len(a) == len(b) > 0
        pd.testing.assert_frame_equal(a, b, check_exact=False, atol=1e-5, rtol=0)
