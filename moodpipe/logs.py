"""Logging for every command: our lines with their time, the libraries' own reports only when they are errors.
A root module, so that the models that load transformers can quiet it without importing the command line.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable


def setup_logging(level: int = logging.INFO) -> None:
    """Our log lines with their time; the libraries' own reports only when they are errors. Loading a
    pretrained encoder under a new classification head makes transformers print a table of the head's
    weights as MISSING, which is exactly what fine-tuning expects; our own lines say which model was loaded."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # read when transformers is first imported
    if "transformers" in sys.modules:  # the command imported it already (its models load at import)
        quiet_transformers()
    if not logging.getLogger().handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")


def quiet_transformers() -> None:
    """transformers' reports at error level, and its own bars off: one "Loading weights" bar per model loaded and
    one "Writing model shards" bar per model saved would bury our log lines. The Trainer's bar (plain tqdm) and hub
    downloads (huggingface_hub's bars) stay. Called where a command first needs transformers, so commands that never
    load a model (predict_sample.py through ONNX Runtime) do not pay for importing it."""
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    if hasattr(hf_logging, "set_tqdm_hook"):  # transformers >= 5.1
        hf_logging.set_tqdm_hook(_without_bar)


def _without_bar(factory: Callable, args: tuple, kwargs: dict):
    return factory(*args, **{**kwargs, "disable": True})
