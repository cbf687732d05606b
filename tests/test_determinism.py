"""The same command with the same seed gives the same model, bit for bit: two trainings of the tiny sentiment
model with one seed save identical weights and predictions, and another seed does not (so the check can fail).

    python -m pytest -q tests/test_determinism.py
"""

from __future__ import annotations

from pathlib import Path

from conftest import write_reviews

import mobilebert_project


def train(data: Path, model: Path, out: Path, seed: int) -> Path:
    mobilebert_project.main(["--data-dir", str(data), "--reviews", "reviews.csv", "--model", str(model), "--out",
                             str(out), "--epochs", "1", "--batch-size", "8", "--device", "cpu", "--precision", "fp32",
                             "--seed", str(seed)])
    return out / "saved_model" / "sentiment"


def test_one_seed_gives_identical_weights_and_predictions(tmp_path, tiny_mobilebert):
    write_reviews(tmp_path / "reviews.csv", n_copies=4)
    first, again, other = (train(tmp_path, tiny_mobilebert, tmp_path / name, seed)
                           for name, seed in (("a", 3), ("b", 3), ("c", 4)))
    for name in ("model.safetensors", "test_predictions.csv"):
        assert (first / name).read_bytes() == (again / name).read_bytes(), name
    assert (first / "model.safetensors").read_bytes() != (other / "model.safetensors").read_bytes()
