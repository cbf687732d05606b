"""The run context: what every command shares and every stage needs, apart from its own task settings.

    out        the output root (data/processed, saved_model, results, sample_graphs under it)
    data_dir   the input folder (--data-dir, else $DATA_DIR, else data/)
    runtime    where it trains and predicts: device and precision (moodpipe.runtime)
    seed       splits, initialisation, sampling

The options are declared here once (add_run_options) and resolved here once per command (run_context): a script
builds one RunContext from its arguments and hands it to every stage it calls. Task configs (SentimentConfig,
EmotionTrainConfig, ...) keep only the task's own settings.

    >>> ctx = RunContext(out=Path("run"), data_dir=Path("data"))
    >>> ctx.layout.results
    PosixPath('run/results')
    >>> ctx.settings()
    {'data_dir': 'data', 'seed': 42, 'device': 'cpu', 'precision': 'fp32'}
"""

from __future__ import annotations

import argparse
import fcntl
import os
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from moodpipe.cli import non_negative_int
from moodpipe.files import InputError, cannot_write
from moodpipe.paths import RUN_LOCK, Layout, resolve_data_dir
from moodpipe.runtime import CPU, DEVICES, PRECISION_OPTIONS, SEED, Runtime, is_main_process, resolve_runtime


@dataclass(frozen=True)
class RunContext:
    out: Path = Path(".")
    data_dir: Path = Path("data")
    runtime: Runtime = field(default=CPU)
    seed: int = SEED

    @property
    def layout(self) -> Layout:
        return Layout(self.out)

    def hold(self) -> AbstractContextManager[None]:
        """`with ctx.hold():` around everything a command writes under the output root (output_root_lock)."""
        return output_root_lock(self.out)

    def settings(self) -> dict:
        """What changes a stage's results (the output root does not): part of every stage record and metrics.json."""
        return {"data_dir": str(self.data_dir), "seed": self.seed, "device": self.runtime.device,
                "precision": self.runtime.precision}


def add_run_options(parser: argparse.ArgumentParser, out: str | None = "output root: data/processed, saved_model, "
                    "results and sample_graphs go under it (default: .)", data: bool = True, device: bool = True,
                    seed: bool = True) -> None:
    """The shared options, declared once: --out (with this command's help; None: no --out), --data-dir,
    --device and --precision, --seed."""
    if out:
        parser.add_argument("--out", default=".", help=out)
    if data:
        parser.add_argument("--data-dir", help="input folder (default: $DATA_DIR, else data/)")
    if device:
        parser.add_argument("--device", default="auto", choices=DEVICES,
                            help="where to train and predict (auto: CUDA when available, else MPS, else CPU)")
        parser.add_argument("--precision", default="auto", choices=PRECISION_OPTIONS,
                            help="auto: bf16 autocast where the device runs it natively (CUDA with bf16, CPUs with "
                            "AVX-512 BF16 or AMX), else fp16 on a GPU, fp32 on a CPU")
    if seed:
        parser.add_argument("--seed", type=non_negative_int, default=SEED,
                            help=f"seed for splits, initialisation and sampling (default: {SEED})")


def run_context(args: argparse.Namespace) -> RunContext:
    """The one RunContext of a command, from the options add_run_options declared (absent ones keep defaults).
    The device is resolved here, once: a device that is not there is an InputError before any work."""
    device, precision = getattr(args, "device", "cpu"), getattr(args, "precision", "fp32")
    return RunContext(out=Path(getattr(args, "out", None) or "."),
                      data_dir=resolve_data_dir(getattr(args, "data_dir", None)),
                      runtime=resolve_runtime(device, precision), seed=getattr(args, "seed", SEED))


# ----------------------------------------------------------------------------- one run per output root

_held: dict[str, int] = {}  # output roots this process holds -> the lock file's descriptor


@contextmanager
def output_root_lock(out: Path, create: bool = True) -> Iterator[None]:
    """Hold the output root while a command writes under it. A second command on the same root (another process)
    stops at once with an error naming the holder, instead of the two mixing their files or one removing the
    other's live checkpoints as leftovers. The kernel lets go when the holder ends, even on kill -9, so a crashed
    run never leaves it locked. Re-entrant within a process (main.py holds it around the stages' own holds);
    under torchrun only the main process, the one that writes, holds it. create=False: a root that is not there
    is left for the command to report (nothing to hold)."""
    key = str(Path(out).resolve())
    if key in _held or not is_main_process() or not (create or Path(out).is_dir()):
        yield
        return
    _held[key] = _acquire(Path(out) / RUN_LOCK, Path(out))
    try:
        yield
    finally:
        os.close(_held.pop(key))


def _acquire(lock: Path, out: Path) -> int:
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise cannot_write(lock, e) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 1000, 0).decode("utf-8", "replace").strip() or "a process that has not said who"
        os.close(fd)
        raise InputError(f"--out {out} is in use by another run ({holder}); wait for it to finish, or pass another "
                         "--out") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()}, `{' '.join(sys.argv)}`, since {time.strftime('%H:%M:%S')}".encode(), 0)
    return fd
