"""What a saved model folder says about itself, read without loading the model (no torch import)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from moodpipe.files import DAMAGED_FILE_ERRORS, InputError, loading


def label_names(model_dir: Path, rebuild: str = "the command that trained it") -> list[str]:
    """The model's labels in output order, from its config.json (`id2label`).

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "config.json").write_text('{"id2label": {"1": "positive", "0": "negative"}}')
    >>> label_names(folder)
    ['negative', 'positive']
    """
    config = Path(model_dir) / "config.json"
    with loading(config, rebuild, (*DAMAGED_FILE_ERRORS, TypeError, AttributeError)):
        id2label = {str(k): str(v) for k, v in json.loads(config.read_text(encoding="utf-8"))["id2label"].items()}
    by_id = {int(k): v for k, v in id2label.items() if k.strip().isdigit()}
    if len(by_id) != len(id2label) or sorted(by_id) != list(range(len(by_id))) or len(by_id) < 2:
        raise InputError(f"{config}: id2label must number two or more labels 0, 1, ... (got keys "
                         f"{', '.join(list(id2label)[:5]) or 'none'}); rebuild it with `{rebuild}`")
    return [by_id[i] for i in range(len(by_id))]


OFFSET_POSITIONS = ("roberta", "xlm-roberta", "camembert")  # position ids start after the padding index


def position_limit(model_dir: Path, rebuild: str = "the command that trained it") -> int | None:
    """The most tokens the saved model can take (its position embeddings), None when config.json does not say.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "config.json").write_text('{"model_type": "roberta", "max_position_embeddings": 514}')
    >>> position_limit(folder)
    512
    """
    config_file = Path(model_dir) / "config.json"
    with loading(config_file, rebuild):
        config = json.loads(config_file.read_text(encoding="utf-8"))
    limit = config.get("max_position_embeddings") if isinstance(config, dict) else None
    if not isinstance(limit, int) or isinstance(limit, bool):
        return None
    if config.get("model_type") in OFFSET_POSITIONS:
        limit -= int(config.get("pad_token_id") or 1) + 1
    return limit


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


# ----------------------------------------------------------------------------- files derived from the weights
# A file computed from a model's weights (model.onnx, blend.json, thresholds.json) carries the weights' hash;
# read beside other weights (a folder half replaced by hand, an export killed before it finished), it is an error.

WEIGHTS_HASH = "weights_sha256"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_CHUNK = 1 << 22


def weights_digest(folder: Path) -> str:
    """The SHA-256 of a saved folder's weights file ('' when it has none)."""
    found = next((Path(folder) / n for n in WEIGHT_FILES if (Path(folder) / n).is_file()), None)
    if found is None:
        return ""
    digest = hashlib.sha256()
    with open(found, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_derived(derived: Path, recorded: object, folder: Path, rebuild: str) -> None:
    """Raise an InputError unless `recorded` (the hash a derived file carries) is the hash of folder's weights."""
    if recorded != weights_digest(folder):
        state = "carries no weights hash" if not recorded else "was made from other weights"
        raise InputError(f"{derived} {state} (not {folder}'s current weights), so its answers cannot be trusted; "
                         f"rebuild the model with `{rebuild}`")
