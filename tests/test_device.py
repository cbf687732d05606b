"""The device policy: which device and precision run, and that prediction follows the model's device.

CPU-only machines cannot run CUDA, so these tests check the placement and precision functions
themselves, with a model on the `meta` device and stand-ins for the CUDA queries."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mobilebert_project
from moodpipe import runtime
from moodpipe.cli import run_cli
from moodpipe.files import InputError
from moodpipe.models.inference import predict_logits


class Recorder(torch.nn.Module):
    """Weights on `meta`; records where each batch arrived and under which autocast, returns CPU logits."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.empty(2, 2, device="meta"))
        self.config = type("Config", (), {"num_labels": 2})()
        self.seen = []

    def forward(self, input_ids, attention_mask):
        self.seen.append((input_ids.device.type, attention_mask.device.type))
        return type("Out", (), {"logits": torch.zeros(len(input_ids), 2)})()


class CharTokenizer:
    def __call__(self, texts, truncation=True, max_length=128):
        ids = [[ord(c) % 50 for c in t][:max_length] for t in texts]
        return {"input_ids": ids, "attention_mask": [[1] * len(i) for i in ids]}

    def pad(self, features, return_tensors="pt"):
        width = max(len(x) for x in features["input_ids"])
        return {k: torch.tensor([x + [0] * (width - len(x)) for x in v]) for k, v in features.items()}


def test_every_batch_goes_to_the_models_device():
    model = Recorder()
    logits = predict_logits(model, CharTokenizer(), ["a", "bbb", "cc"], batch_size=2)
    assert model.seen == [("meta", "meta")] * 2  # never assumed "cpu"
    assert isinstance(logits, np.ndarray) and logits.shape == (3, 2)


def test_batch_placement_moves_tensors_and_leaves_the_rest():
    moved = runtime.to_model_device({"input_ids": torch.ones(2, 3), "note": "x"}, Recorder())
    assert moved["input_ids"].device.type == "meta" and moved["note"] == "x"


def test_precision_follows_the_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert runtime.precision_for("cuda") == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert runtime.precision_for("cuda") == "fp16"  # an older GPU: fp16, never silently fp32
    assert runtime.precision_for("cuda", "fp16") == "fp16"
    assert runtime.precision_for("mps") == "fp32"
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: False)
    assert runtime.precision_for("cpu") == "fp32" and runtime.precision_for("cpu", "bf16") == "bf16"
    assert runtime.autocast_settings("cuda", "fp16") == ("cuda", "float16", True)
    assert runtime.autocast_settings("cpu", "fp32")[2] is False


def test_auto_picks_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(runtime, "gpu_possible", lambda: True)
    monkeypatch.setattr(runtime, "cuda_available", lambda: True)
    assert runtime.resolve_device("auto") == "cuda"
    monkeypatch.setattr(runtime, "cuda_available", lambda: False)
    monkeypatch.setattr(runtime, "mps_available", lambda: True)
    assert runtime.resolve_device("auto") == "mps"
    monkeypatch.setattr(runtime, "mps_available", lambda: False)
    assert runtime.resolve_device("auto") == "cpu"
    assert runtime.inference_batch_size("cuda") > runtime.inference_batch_size("cpu")


def test_auto_on_a_machine_without_any_gpu_never_asks_torch(monkeypatch):
    """No NVIDIA driver, no CUDA_VISIBLE_DEVICES, not Apple silicon: the CPU, decided without importing torch."""
    monkeypatch.setattr(runtime, "gpu_possible", lambda: False)
    monkeypatch.setattr(runtime, "cuda_available", lambda: pytest.fail("torch was asked"))
    assert runtime.resolve_device("auto") == "cpu"


def test_fp16_is_refused_off_cuda_in_one_line():
    with pytest.raises(InputError, match="--precision fp16 needs a CUDA GPU"):
        runtime.precision_for("cpu", "fp16")


def test_cuda_without_a_gpu_exits_2_with_one_line(monkeypatch, capsys):
    monkeypatch.setattr(runtime, "cuda_available", lambda: False)
    with pytest.raises(SystemExit) as stop:
        run_cli(mobilebert_project.main, ["--device", "cuda"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --device cuda:") and "\n" not in err


def test_more_processes_than_gpus_is_refused(monkeypatch):
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(InputError, match="--nproc_per_node=2"):
        runtime.check_launch("cuda")
    runtime.check_launch("cpu")  # CPU processes share the cores: allowed


def test_the_runtime_puts_each_process_on_its_own_gpu(monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "3")
    monkeypatch.setattr(runtime, "resolve_device", lambda name: "cuda")
    monkeypatch.setattr(runtime, "check_launch", lambda device: None)
    monkeypatch.setattr(runtime, "device_has_bf16", lambda device: True)
    assert runtime.resolve_runtime("cuda").torch_device == "cuda:3"
    assert runtime.resolve_runtime("cuda").precision == "bf16"
    assert runtime.Runtime("cpu").torch_device == "cpu"


def test_batches_are_rounded_to_a_multiple_of_32_on_a_gpu_only():
    from moodpipe.models.training import pad_multiple
    assert pad_multiple(runtime.Runtime("cuda", "bf16")) == 32  # tensor cores want multiples of 32
    assert pad_multiple(runtime.Runtime("cpu", "bf16")) is None  # on a CPU the rounding is only waste
    assert pad_multiple(runtime.Runtime("mps", "fp32")) is None
