"""What a saved model folder says about itself, read without loading the model (no torch import)."""

from __future__ import annotations

import json
from pathlib import Path

from moodpipe.files import InputError


def label_names(model_dir: Path) -> list[str]:
    """The model's labels in output order, from its config.json (`id2label`).

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "config.json").write_text('{"id2label": {"1": "positive", "0": "negative"}}')
    >>> label_names(folder)
    ['negative', 'positive']
    """
    config = Path(model_dir) / "config.json"
    try:
        id2label = json.loads(config.read_text(encoding="utf-8"))["id2label"]
    except (OSError, ValueError, KeyError) as e:
        raise InputError(f"{config} cannot be read as a model config with id2label ({e.__class__.__name__}); "
                         "retrain the model that wrote it") from None
    return [str(id2label[k]) for k in sorted(id2label, key=int)]
