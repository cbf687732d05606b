"""Fine-tuning one emotion head: the encoder plus a head from moodpipe.models.heads, optionally with frozen word
embeddings, LoRA adapters (peft) or QLoRA (a 4-bit NF4 encoder through bitsandbytes, CUDA only). The AI-Hub
and GoEmotions stages both train through fine_tune_head.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from moodpipe.context import RunContext
from moodpipe.contract import BEST_VAL_MACRO_F1
from moodpipe.files import InputError
from moodpipe.models.heads import build_emotion_model, freeze_word_embeddings, merge_used_rows
from moodpipe.models.metrics import accuracy_macro_f1
from moodpipe.models.training import TrainConfig, class_weights_for, train_classifier
from moodpipe.runtime import Runtime, set_seed

log = logging.getLogger("pipeline")

DATASETS = ("aihub", "goemotions", "kote")
UNITS = ("dialogue", "sentence")
# Each dataset's training defaults: the full run uses them, and saved_model/<task>/metrics.json records what
# they reached (hyper_parameters beside the test figures). The head gets its own, higher learning rate (see
# training.parameter_groups); GoEmotions' comments are short. GoEmotions, the English baseline, trains 2 epochs
# so that main.py at its defaults fits 120 minutes on 2 CPU cores (4 took 1,778 s alone).
TRAIN_DEFAULTS = {
    "aihub": TrainConfig(epochs=4, batch_size=16, learning_rate=1e-4, head_learning_rate=1e-3, patience=2,
                         max_length=128),
    "goemotions": TrainConfig(epochs=2, batch_size=32, learning_rate=1e-4, head_learning_rate=3e-3, patience=2,
                              max_length=64),
    # KOTE trains on 4,500 rows offline (val less a dev slice; moodpipe.data.kote), comments of ~58 characters,
    # 44 sigmoid outputs from scratch (a fast head); 2 epochs, so that a CPU shared with other work finishes it
    # within the hour (docs/kote.md records the time it took).
    "kote": TrainConfig(epochs=2, batch_size=32, learning_rate=1e-4, head_learning_rate=3e-3, patience=2,
                        max_length=64),
}


@dataclass(frozen=True)
class EmotionTrainConfig:
    dataset: str = "aihub"  # aihub | goemotions | kote
    head: str | None = None  # plain | arch1 | arch2; None: arch2 for aihub, plain for goemotions
    compare: bool = False
    unit: str = "dialogue"  # dialogue | sentence
    add_sentences: bool = True  # unit dialogue: also train on each human sentence alone (val/test stay dialogues)
    model: str = "auto"
    corpus: str | None = None  # a corpus file or folder; default <data-dir>/emotion_corpus
    max_train_rows: int | None = None
    max_eval_rows: int | None = None
    only_labels: tuple[str, ...] = ()  # train and test on these labels' dialogues only (quick runs)
    freeze_embeddings: str = "auto"  # auto | yes | no | used
    dropout: float = 0.1
    feature_norm: bool = False  # batch-normalise the head's pooled vector (main.py --quick turns it on)
    similarity_credit: float = 0.5  # S[y][p] for a wrong sub label within the right major class
    lora: bool = False
    qlora: bool = False
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.1
    train: TrainConfig = field(default_factory=lambda: TRAIN_DEFAULTS["aihub"])


# ----------------------------------------------------------------------------- one head

def fine_tune_head(ctx: RunContext, cfg: EmotionTrainConfig, resolved, head: str, tokenizer, data: dict,
                   label_names: list[str], multi_label: bool = False, compute_metrics=accuracy_macro_f1) -> tuple:
    """Build encoder + head, optionally freeze / LoRA, train; returns (trainer, model, facts)."""
    runtime = ctx.runtime
    set_seed(ctx.seed)
    model = build_emotion_model(resolved.path, head, label_names, multi_label=multi_label,
                                train_max_length=cfg.train.max_length, dropout=cfg.dropout,
                                feature_norm=cfg.feature_norm,
                                **quantization_kwargs(cfg, runtime))
    train_ids = ({i for ids in data["train"]["input_ids"] for i in ids} if cfg.freeze_embeddings == "used"
                 else None)
    frozen = freeze_word_embeddings(model, cfg.freeze_embeddings, train_ids)
    if cfg.lora or cfg.qlora:
        model, frozen["lora"] = add_lora(model, cfg)
    weights = (class_weights_for(data["train_labels"], len(label_names))
               if cfg.train.class_weights and not multi_label else None)
    ctx.out.mkdir(parents=True, exist_ok=True)
    work_dir = Path(tempfile.mkdtemp(prefix=f".checkpoints-{head}-", dir=ctx.out))
    start = time.time()
    try:
        trainer = train_classifier(model, tokenizer, data["train"], data["val"], cfg.train, work_dir,
                                   compute_metrics, runtime=runtime, seed=ctx.seed, class_weights=weights)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    model = unwrap_adapters(trainer.model, cfg)
    merge_used_rows(model)
    facts = {"head": head, "train_seconds": round(time.time() - start, 1), "epochs_run": trainer.state.epoch,
             "steps": trainer.state.global_step, BEST_VAL_MACRO_F1: trainer.state.best_metric,
             "frozen": frozen, "trainer_log": trainer.state.log_history}
    log.info("head %s: best validation macro-F1 %s after %.1f epochs, %.0f s", head, trainer.state.best_metric,
             trainer.state.epoch, facts["train_seconds"])
    return trainer, model, facts


def add_lora(model, cfg: EmotionTrainConfig):
    """Wrap with peft LoRA on the encoder's attention projections (any encoder); the head trains fully."""
    import torch
    from peft import LoraConfig, get_peft_model
    if cfg.qlora:  # norms in fp32, inputs that carry gradients, gradient checkpointing: on the 4-bit encoder
        from peft import prepare_model_for_kbit_training
        model.encoder = prepare_model_for_kbit_training(model.encoder)
    targets = lora_targets(model.config.encoder["model_type"])
    if targets is None:  # unknown architecture: every linear layer inside the encoder
        targets = sorted({n.rsplit(".", 1)[-1] for n, m in model.encoder.named_modules()
                          if isinstance(m, torch.nn.Linear)})
    head_modules = [n for n in ("classifier", "conv", "conv_norm", "mix") if hasattr(model, n)]
    head_modules += ["norm"] if model.config.feature_norm else []
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=list(targets), modules_to_save=head_modules)
    model = get_peft_model(model, lora)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return model, {"r": cfg.lora_r, "alpha": cfg.lora_alpha, "dropout": cfg.lora_dropout,
                   "target_modules": list(targets), "trainable_params": trainable}


def lora_targets(model_type: str) -> list[str] | None:
    """peft's default LoRA target modules for an architecture. peft keeps the table in an internal module,
    so it is read defensively: when it moves, the caller falls back to every linear layer."""
    try:
        from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as targets
    except ImportError:
        return None
    return targets.get(model_type)


def unwrap_adapters(model, cfg: EmotionTrainConfig):
    """A plain EmotionClassifier: LoRA merged into the weights, and a QLoRA encoder dequantized, so the saved
    folder loads anywhere without peft or bitsandbytes."""
    if not (cfg.lora or cfg.qlora):
        return model
    model = model.merge_and_unload()
    if cfg.qlora:
        dequantized = model.encoder.dequantize()
        model.encoder = dequantized if dequantized is not None else model.encoder
        model.is_loaded_in_4bit = False
        model.config.encoder.pop("quantization_config", None)
        model.float()
    return model


def check_qlora(cfg: EmotionTrainConfig, device: str) -> None:
    if not cfg.qlora:
        return
    if device != "cuda":
        raise InputError("--qlora needs a CUDA GPU with bitsandbytes (4-bit weights); none is in use here: "
                         "use --lora, which trains the same adapters on full-precision weights")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise InputError("--qlora needs bitsandbytes: pip install -r requirements-gpu.txt") from None


def quantization_kwargs(cfg: EmotionTrainConfig, runtime: Runtime) -> dict:
    """--qlora: load the encoder's weights in 4 bits (NF4) with bf16 compute, on this process's GPU."""
    if not cfg.qlora:
        return {}
    import torch
    from transformers import BitsAndBytesConfig
    return {"quantization_config": BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                      bnb_4bit_compute_dtype=torch.bfloat16),
            "device_map": {"": runtime.local_rank}}


def check_config(cfg: EmotionTrainConfig, runtime: Runtime) -> None:
    """Refuse bad settings before any work."""
    if cfg.dataset not in DATASETS:
        raise InputError(f"--dataset must be one of {', '.join(DATASETS)}, not {cfg.dataset!r}")
    if cfg.unit not in UNITS:
        raise InputError(f"--unit must be dialogue or sentence, not {cfg.unit!r}")
    check_qlora(cfg, runtime.device)
