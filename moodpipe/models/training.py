"""Fine-tuning through the Hugging Face Trainer, the same way for every stage: dynamic padding,
length-grouped batches, mixed precision by the device policy, early stopping on validation macro-F1,
optional class weights, the head at its own learning rate. The Trainer also runs unchanged under
`torchrun` / `accelerate launch` (DDP), which is how users scale past one GPU.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from moodpipe import paths
from moodpipe.contract import MACRO_F1
from moodpipe.files import write_json_atomic
from moodpipe.runtime import CPU, SEED, Runtime, is_main_process

log = logging.getLogger("pipeline")


@dataclass(frozen=True)
class TrainConfig:
    epochs: float = 3.0
    batch_size: int = 32
    learning_rate: float = 5e-5
    head_learning_rate: float | None = None  # None: the head trains at learning_rate like the encoder
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    patience: int = 2  # epochs without a better validation macro-F1 before stopping
    max_length: int = 128
    class_weights: bool = False
    max_steps: int = -1  # > 0 caps training (tests, --quick)


def library_versions() -> dict[str, str]:
    import sklearn
    import torch
    import transformers
    return {"python": sys.version.split()[0], "torch": torch.__version__,
            "transformers": transformers.__version__, "scikit-learn": sklearn.__version__,
            "pandas": pd.__version__, "numpy": np.__version__}


def class_weights_for(label_ids: pd.Series, n_classes: int) -> list[float]:
    """Inverse-frequency weights, mean 1: rare classes count more in the loss.

    >>> class_weights_for(pd.Series([0, 0, 0, 1]), 2)
    [0.6666666666666666, 2.0]
    """
    counts = pd.Series(label_ids).value_counts().reindex(range(n_classes), fill_value=0).to_numpy(dtype=float)
    return (counts.sum() / (n_classes * np.maximum(counts, 1))).tolist()


def tokenize_dataset(tokenizer, texts: list[str], labels: list | None, max_length: int):
    """A datasets.Dataset of input_ids/attention_mask (+labels, +length for length grouping)."""
    from datasets import Dataset
    enc = tokenizer(list(texts), truncation=True, max_length=max_length)
    columns = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
               "length": [len(ids) for ids in enc["input_ids"]]}
    if labels is not None:
        columns["labels"] = list(labels)
    return Dataset.from_dict(columns)


def training_arguments(cfg: TrainConfig, n_train: int, work_dir: Path, runtime: Runtime, metric: str, seed: int):
    """TrainingArguments for one device: use_cpu pins the CPU even where a GPU is visible."""
    from transformers import TrainingArguments
    steps_per_epoch = max(1, -(-n_train // cfg.batch_size))
    precision = runtime.precision
    return TrainingArguments(
        output_dir=str(work_dir), num_train_epochs=cfg.epochs, max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size, per_device_eval_batch_size=cfg.batch_size * 2,
        learning_rate=cfg.learning_rate, weight_decay=cfg.weight_decay,
        warmup_steps=int(cfg.warmup_ratio * steps_per_epoch * cfg.epochs),
        eval_strategy="epoch", save_strategy="epoch", logging_strategy="steps",
        logging_steps=max(1, steps_per_epoch // 10), load_best_model_at_end=True,
        metric_for_best_model=metric, greater_is_better=True, save_total_limit=2, save_only_model=True,
        **length_grouping(), bf16=precision == "bf16", fp16=precision == "fp16",
        use_cpu=runtime.device == "cpu", seed=seed, report_to="none", dataloader_num_workers=0,
    ), steps_per_epoch, precision


def length_grouping() -> dict:
    """Batches of similar lengths (bench/train_speed.py measures the gain over random batches). transformers renamed
    the option: `train_sampling_strategy="group_by_length"` since 5.x minor releases, `group_by_length=True`
    before; both are public TrainingArguments fields, so ask the dataclass which one it has."""
    import dataclasses

    from transformers import TrainingArguments
    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    return {"train_sampling_strategy": "group_by_length"} if "train_sampling_strategy" in names else {
        "group_by_length": True}


def pad_multiple(runtime: Runtime) -> int | None:
    """Batches padded to their longest text, rounded up to a multiple of 32 on a GPU only. There, multiples of
    32 keep half-precision matmuls on the tensor cores; a CPU has no such path, and the rounding is pure waste
    on short texts (bench/padding_waste.py: 31% of AI-Hub's training tokens, 44% of GoEmotions')."""
    return 32 if runtime.device == "cuda" else None


def weighted_loss(class_weights: list[float]):
    """A compute_loss_func for the Trainer: cross-entropy weighted per class."""
    import torch
    weights = torch.tensor(class_weights, dtype=torch.float32)

    def loss_func(outputs, labels, num_items_in_batch=None):
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        return torch.nn.functional.cross_entropy(logits.float(), labels, weight=weights.to(logits.device))

    return loss_func


def train_classifier(model, tokenizer, train_ds, val_ds, cfg: TrainConfig, work_dir: Path, compute_metrics,
                     runtime: Runtime = CPU, seed: int = SEED, class_weights=None, metric: str = MACRO_F1):
    """Fine-tune with the Hugging Face Trainer and return it, with the best epoch's weights loaded."""
    import torch
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback, Trainer

    args, steps_per_epoch, precision = training_arguments(cfg, len(train_ds), work_dir, runtime, metric, seed)
    optimizer = None
    if cfg.head_learning_rate is not None:
        optimizer = torch.optim.AdamW(parameter_groups(model, cfg), lr=cfg.learning_rate)
    trainer = Trainer(
        model=model, args=args, train_dataset=train_ds, eval_dataset=val_ds, processing_class=tokenizer,
        optimizers=(optimizer, None),
        data_collator=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_multiple(runtime)),
        compute_metrics=compute_metrics, compute_loss_func=weighted_loss(class_weights) if class_weights else None,
        callbacks=[EarlyStoppingCallback(early_stopping_patience=cfg.patience)],
    )
    log.info("training: %d examples, %d steps/epoch, up to %s epochs, device %s, precision %s", len(train_ds),
             steps_per_epoch, cfg.epochs, runtime.device, precision)
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


def save_model_folder(model_dir: Path, model, tokenizer, metrics: dict, log_history: list) -> Path:
    """What every trained folder holds: weights, tokenizer, metrics.json, the base model it was tuned
    from (base_model.json, read back by resolve_model for a local folder) and the trainer's log.
    Only the main process writes (under torchrun every process trains the same model)."""
    if not is_main_process():
        return model_dir
    model.save_pretrained(str(model_dir))
    tokenizer.save_pretrained(str(model_dir))
    write_json_atomic(model_dir / paths.BASE_MODEL, metrics["base_model"])
    write_json_atomic(model_dir / paths.METRICS, metrics)
    write_json_atomic(model_dir / paths.TRAINER_LOG, log_history)
    return model_dir
