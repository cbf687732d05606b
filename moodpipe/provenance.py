"""Provenance: what every results file says about the run that made it (the command, the code's commit, the
machine, the libraries), so that a figure can always be traced to its run.
"""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

from moodpipe.paths import GRAPHS_DIR
from moodpipe.runtime import cpuinfo, cuda_available


def provenance(argv: list[str] | None = None) -> dict:
    """What a results file says about the run that made it: the command, the code's commit and the machine."""
    argv = sys.argv if argv is None else argv
    return {"command": "python " + " ".join(shlex.quote(a) for a in argv), "commit": code_commit(),
            "machine": machine_facts()}


def code_commit() -> str:
    """The checkout's commit, marked `+changes` when tracked files (the redrawn figures aside) differ from it;
    `unknown` outside a git checkout."""
    here = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        # the figures are committed and every run redraws them: that is output, not a change to the code
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                f":(exclude){GRAPHS_DIR}"], cwd=here, capture_output=True, text=True, timeout=10,
                               check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+changes" if dirty else "")


def machine_facts() -> dict:
    """CPU cores and model, GPU (if any) and the platform, for the header of a results file."""
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo().splitlines() if line.startswith("model name")),
               platform.processor() or "unknown")
    facts = {"cpu_cores": os.cpu_count(), "cpu": cpu, "platform": platform.platform(), "gpu": None}
    if cuda_available():
        import torch
        facts["gpu"] = f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    return facts


def provenance_lines(facts: dict, versions: dict | None = None, runtime: dict | None = None) -> list[str]:
    """The header of every results file: the command that made it, the commit, the machine, the libraries, and
    (given the run's runtime facts) what a bit-for-bit re-run needs besides them."""
    machine = facts.get("machine", {})
    lines = [f"- command: `{facts.get('command', '?')}`", f"- commit: `{facts.get('commit', '?')}`",
             f"- machine: {machine.get('cpu_cores', '?')} CPU cores ({machine.get('cpu', '?')}), "
             f"GPU: {machine.get('gpu') or 'none'}; {machine.get('platform', '')}"]
    if versions:
        lines.append("- libraries: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    if runtime and "torch_threads" in runtime:
        lines.append(f"- to reproduce bit for bit: the same seed, libraries and device ({runtime['device']}, "
                     f"{runtime['precision']}), {runtime['torch_threads']} torch threads, deterministic algorithms "
                     f"{'on' if runtime['deterministic_algorithms'] else 'off'}"
                     f"{' (not needed on a CPU)' if runtime['device'] == 'cpu' else ''}")
    return lines + [""]
