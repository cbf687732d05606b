"""What a saved model folder says about itself, read without loading the model (no torch import)."""

from __future__ import annotations

import json
from pathlib import Path

from moodpipe.files import DAMAGED_FILE_ERRORS, loading


def label_names(model_dir: Path, rebuild: str = "the command that trained it") -> list[str]:
    """The model's labels in output order, from its config.json (`id2label`).

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "config.json").write_text('{"id2label": {"1": "positive", "0": "negative"}}')
    >>> label_names(folder)
    ['negative', 'positive']
    """
    config = Path(model_dir) / "config.json"
    with loading(config, rebuild):
        id2label = json.loads(config.read_text(encoding="utf-8"))["id2label"]
    return [str(id2label[k]) for k in sorted(id2label, key=int)]


def model_load_errors() -> tuple[type[BaseException], ...]:
    """What loading a folder with a truncated or malformed file raises: the generic ones (bad JSON, short reads)
    and those of the weight formats (safetensors headers, pickled TF-IDF parts)."""
    import pickle
    import zlib

    from safetensors import SafetensorError
    return (*DAMAGED_FILE_ERRORS, SafetensorError, pickle.UnpicklingError, zlib.error)


def damaged_file_in(folder: Path) -> Path | None:
    """The first file of a saved folder that is visibly broken (empty, JSON that does not parse, a safetensors
    file whose header does not cover it), so the error can name it; None when none is. Only run after a load
    failed: the happy path pays nothing for it."""
    if not folder.is_dir():
        return None
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        if path.stat().st_size == 0:
            return path
        try:
            if path.suffix == ".json":
                json.loads(path.read_text(encoding="utf-8"))
            elif path.suffix == ".safetensors":
                from safetensors import safe_open
                with safe_open(str(path), "np"):
                    pass
            elif path.suffix == ".joblib":
                import joblib
                joblib.load(path)
        except Exception:  # noqa: BLE001 (any failure to read it is what we are looking for)
            return path
    return None
