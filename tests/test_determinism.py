"""The same command with the same seed gives the same model, bit for bit: two trainings of the tiny sentiment
model with one seed save identical weights and predictions, and another seed does not (so the check can fail).
On CUDA the seed also asks for deterministic kernels; the report's header says what a re-run needs.

    python -m pytest -q tests/test_determinism.py
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from conftest import write_reviews

import mobilebert_project
from moodpipe import runtime
from moodpipe.provenance import provenance_lines


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


def test_on_cuda_the_seed_also_asks_for_deterministic_kernels(monkeypatch):
    monkeypatch.setattr(runtime, "resolve_device", lambda name: "cuda")
    monkeypatch.setattr(runtime, "check_launch", lambda device: None)
    monkeypatch.setattr(runtime, "device_has_bf16", lambda device: True)
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    runtime.resolve_runtime("cuda")
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"  # set before cuBLAS starts
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    try:
        runtime.set_seed(3)
        assert torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.benchmark
    finally:
        torch.use_deterministic_algorithms(False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    runtime.set_seed(3)
    assert not torch.are_deterministic_algorithms_enabled()  # the CPU path stays as it was


def test_the_report_header_says_what_a_bit_for_bit_rerun_needs():
    facts = runtime.Runtime("cpu", "bf16").facts()
    assert facts["torch_threads"] == torch.get_num_threads() and facts["deterministic_algorithms"] is False
    line = provenance_lines({"command": "python main.py"}, {"torch": "2.13.0"}, facts)[-2]
    assert line.startswith("- to reproduce bit for bit: the same seed, libraries and device (cpu, bf16), ")
    assert f"{torch.get_num_threads()} torch threads" in line
