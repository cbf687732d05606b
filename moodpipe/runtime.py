"""The runtime: where a command trains and predicts, resolved once per command into a `Runtime` value (device,
precision, this process's local rank) that is passed down; and the process facts under torchrun.

`--device auto` means CUDA when available, else Apple's MPS, else the CPU. Mixed precision follows the
device: `--precision auto` means bf16 where the device runs it natively (CUDA with bf16 support; CPUs with
AVX-512 BF16 or AMX), else fp16 on CUDA, else fp32; `bf16`, `fp16` (CUDA only) and `fp32` force one. Commands
build their Runtime through moodpipe.context, which declares the options.

    >>> precision_for("cpu", "fp32")
    'fp32'
    >>> autocast_settings("cuda", "fp16")
    ('cuda', 'float16', True)
"""

from __future__ import annotations

import atexit
import os
import platform
import random
from dataclasses import dataclass
from pathlib import Path

from moodpipe.files import InputError

SEED = 42  # every command's default seed (splits, initialisation, sampling)

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("bf16", "fp16", "fp32")
PRECISION_OPTIONS = ("auto", *PRECISIONS)  # --precision
# Examples per inference batch. 64 keeps 2 CPU cores busy without paying for padding; a GPU sits idle
# below a few hundred sequences per batch.
INFERENCE_BATCH = {"cpu": 64, "mps": 128, "cuda": 256}


@dataclass(frozen=True)
class Runtime:
    """Where a command runs: the device type, the precision the policy picks there, and this process's GPU
    under torchrun. Resolved once (resolve_runtime) and passed to everything that trains or predicts."""
    device: str = "cpu"  # cpu | cuda | mps
    precision: str = "fp32"  # bf16 | fp16 | fp32
    local_rank: int = 0

    @property
    def torch_device(self) -> str:
        """The torch device of this process: its own GPU under torchrun (cuda:LOCAL_RANK), else the device."""
        return f"cuda:{self.local_rank}" if self.device == "cuda" else self.device

    def facts(self) -> dict:
        """What ran where, for metrics.json, model cards and run.json."""
        return device_facts(self.device, self.precision)


CPU = Runtime()  # fp32 on the CPU: what library callers get when they name no runtime


def resolve_runtime(device: str = "auto", precision: str = "auto") -> Runtime:
    """The Runtime for a --device and --precision value; refuses a device that is not there, or more processes per
    node than GPUs. Called once per command, by moodpipe.context.run_context.

    >>> resolve_runtime("cpu", "fp32")
    Runtime(device='cpu', precision='fp32', local_rank=0)
    """
    resolved = resolve_device(device)
    check_launch(resolved)
    if resolved == "cuda":  # cuBLAS reads it when it starts (the first matmul): deterministic workspaces
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return Runtime(resolved, precision_for(resolved, precision), int(os.environ.get("LOCAL_RANK", "0")))


def set_seed(seed: int = SEED) -> None:
    """Seed Python, NumPy and torch (every training and sampling step starts here)."""
    random.seed(seed)
    import numpy as np
    import torch
    np.random.seed(seed)
    torch.manual_seed(seed)
    if cuda_available():  # the CPU kernels used here give the same bits at a fixed thread count; CUDA's
        torch.backends.cudnn.benchmark = False  # atomics and autotuned kernels do not unless asked (warn where an
        torch.use_deterministic_algorithms(True, warn_only=True)  # op has no deterministic form, never fail)


def cuda_available() -> bool:
    import torch
    return torch.cuda.is_available()


def mps_available() -> bool:
    import torch
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_device(name: str = "auto") -> str:
    """'cpu', 'cuda' or 'mps' for a --device value; a device that is not there is an InputError."""
    if name not in DEVICES:
        raise InputError(f"--device must be one of {', '.join(DEVICES)}, not {name!r}")
    if name == "auto":
        if not gpu_possible():  # decided without importing torch, most of a CPU command's cold start
            return "cpu"
        return "cuda" if cuda_available() else "mps" if mps_available() else "cpu"
    if name == "cuda" and not cuda_available():
        raise InputError("--device cuda: no CUDA GPU is visible to torch here (check nvidia-smi and that torch "
                         "is a CUDA build; docs/gpu.md says how); use --device cpu")
    if name == "mps" and not mps_available():
        raise InputError("--device mps: Apple's MPS backend is not available here; use --device cpu")
    return name


def gpu_possible() -> bool:
    """False only where no GPU can be there: no NVIDIA driver, no CUDA_VISIBLE_DEVICES, not Apple silicon."""
    apple_silicon = platform.system() == "Darwin" and platform.machine() == "arm64"
    return apple_silicon or Path("/proc/driver/nvidia/version").exists() or "CUDA_VISIBLE_DEVICES" in os.environ


def cpu_has_bf16() -> bool:
    """True when this CPU runs bf16 matmuls natively (AVX-512 BF16 / AMX); elsewhere bf16 is slower."""
    flags = cpuinfo()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def device_has_bf16(device: str) -> bool:
    if device == "cuda":
        import torch
        return torch.cuda.is_bf16_supported()
    return device == "cpu" and cpu_has_bf16()


def precision_for(device: str, precision: str = "auto") -> str:
    """bf16 | fp16 | fp32 for a device type and a --precision setting (auto | bf16 | fp16 | fp32).

    >>> precision_for("cpu", "fp16")
    Traceback (most recent call last):
    moodpipe.files.InputError: --precision fp16 needs a CUDA GPU (here: cpu); use bf16 or fp32
    """
    if precision not in PRECISION_OPTIONS:
        raise InputError(f"--precision must be one of {', '.join(PRECISION_OPTIONS)}, not {precision!r}")
    if precision == "fp16" and device != "cuda":
        raise InputError(f"--precision fp16 needs a CUDA GPU (here: {device}); use bf16 or fp32")
    if precision != "auto":
        return precision
    if device_has_bf16(device):
        return "bf16"
    return "fp16" if device == "cuda" else "fp32"


def autocast_settings(device_type: str, precision: str) -> tuple[str, str, bool]:
    """(device_type, dtype name, enabled) for torch.autocast; fp32 means no autocast."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    dtype = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}[precision]
    return device_type, dtype, precision != "fp32"


def autocast(device_type: str, precision: str):
    """The torch.autocast context for a device type and precision (none at all for fp32)."""
    import contextlib

    import torch
    device_type, dtype, enabled = autocast_settings(device_type, precision)
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=getattr(torch, dtype))


def model_device(model) -> str:
    """The device type the model's weights sit on ('cpu', 'cuda', 'mps', 'meta')."""
    return next(model.parameters()).device.type


def to_model_device(batch: dict, model) -> dict:
    """Move every tensor of a batch to the device of the model's weights."""
    device = next(model.parameters()).device
    return {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}


def inference_batch_size(device: str, requested: int | None = None) -> int:
    return requested or INFERENCE_BATCH.get(device, 64)


def device_facts(device: str, precision: str) -> dict:
    """What ran where, for metrics.json, model cards and run.json, with what a bit-for-bit re-run needs besides
    the seed and the library versions: torch's thread count (a CPU reduction splits its work by thread) and
    whether deterministic algorithms were on (set_seed turns them on where CUDA is)."""
    import torch
    facts = {"device": device, "precision": precision, "torch_threads": torch.get_num_threads(),
             "deterministic_algorithms": torch.are_deterministic_algorithms_enabled()}
    if device == "cuda":
        facts["gpu"] = torch.cuda.get_device_name(0)
        facts["gpus_visible"] = torch.cuda.device_count()
    return facts


# ----------------------------------------------------------------------------- several processes (torchrun)

def process_rank() -> int:
    """This process's rank under torchrun / accelerate launch (0 when run alone)."""
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Only the main process writes splits, models, metrics and figures."""
    return process_rank() == 0


def check_launch(device: str) -> None:
    """More processes per node than GPUs would put two processes on one GPU: refuse with what to do."""
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    if device == "cuda" and local > 1:
        import torch
        if local > torch.cuda.device_count():
            raise InputError(f"{local} processes per node but {torch.cuda.device_count()} GPU(s): launch with "
                             f"torchrun --nproc_per_node={torch.cuda.device_count()}")


def gather_from_processes(obj: object) -> list:
    """Every process's obj, in rank order (one process: [obj]). Starts a gloo process group when needed:
    it works on CPUs and GPUs alike and only carries these few Python objects."""
    if world_size() == 1:
        return [obj]
    import torch.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group("gloo")
        # Left to interpreter shutdown, gloo's threads can abort the process ("terminate called without an
        # active exception"): close the group first, as torch asks.
        atexit.register(dist.destroy_process_group)
    gathered: list = [None] * world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
