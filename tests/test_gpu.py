"""What only a GPU can show: training and prediction on CUDA, and QLoRA (4-bit encoder + LoRA adapters).
Skipped, with the reason, where there is no CUDA GPU (CI); run on a GPU machine with

    python -m pytest -q tests/test_gpu.py -rs
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_char_bert, write_reviews

import lyrics_emotion
import mobilebert_project
import predict_sample
from moodpipe.models.emotion_predictor import score_texts
from moodpipe.models.heads import EmotionClassifier

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
WORDS = ["anger here", "so happy", "i love it", "neutral text", "angry and sad", "joy joy"]


def test_sentiment_trains_and_predicts_on_the_gpu(tmp_path, tiny_mobilebert, capsys):
    write_reviews(tmp_path / "reviews.csv", n_copies=4)
    out = tmp_path / "out"
    metrics = mobilebert_project.main(["--data-dir", str(tmp_path), "--reviews", "reviews.csv", "--model",
                                       str(tiny_mobilebert), "--out", str(out), "--epochs", "1", "--batch-size", "8",
                                       "--device", "cuda"])
    assert metrics["runtime"]["device"] == "cuda" and metrics["runtime"]["precision"] in ("bf16", "fp16")
    results = predict_sample.main(["app keeps crashing", "--model", str(out / "saved_model" / "sentiment"),
                                   "--device", "cuda"])
    assert results[0]["label"] in ("negative", "positive")


def goemotions_data(root: Path) -> Path:
    (root / "goemotions" / "original").mkdir(parents=True)
    names = ["anger", "joy", "love", "neutral"]
    (root / "goemotions" / "original" / "labels.txt").write_text("\n".join(names) + "\n")
    (root / "goemotions" / "ekman_mapping.json").write_text(json.dumps({"anger": ["anger"], "joy": ["joy", "love"]}))
    rows = [f"{WORDS[i % len(WORDS)]} {i}\t{i % 4}\tid{i}" for i in range(64)]
    for split in ("train", "dev", "test"):
        (root / "goemotions" / "original" / f"{split}.tsv").write_text("\n".join(rows) + "\n")
    return root


def test_qlora_trains_saves_and_loads_back(tmp_path):
    pytest.importorskip("bitsandbytes")
    encoder = write_char_bert(tmp_path / "encoder", WORDS + [str(i) for i in range(10)])
    data = goemotions_data(tmp_path / "data")
    metrics = lyrics_emotion.main(["train", "--dataset", "goemotions", "--data-dir", str(data), "--model",
                                   str(encoder), "--out", str(tmp_path / "out"), "--qlora", "--device", "cuda",
                                   "--max-steps", "4", "--batch-size", "8", "--freeze-embeddings", "no"])
    assert metrics["frozen"]["lora"]["trainable_params"] > 0 and metrics["runtime"]["device"] == "cuda"
    folder = tmp_path / "out" / "saved_model" / "goemotions"
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in json.dumps(config)  # saved dequantized: loads without bitsandbytes
    model = EmotionClassifier.from_pretrained(folder)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    for device in ("cuda", "cpu"):
        probs = score_texts(folder, ["so happy 3", "anger here 1"], device=device)
        assert probs.shape == (2, 4) and np.isfinite(probs).all()
