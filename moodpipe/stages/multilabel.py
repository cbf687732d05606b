"""What the multi-label emotion stages share (GoEmotions, English; KOTE, Korean): fine-tune a sigmoid + BCE head,
tune one threshold per label on the dev split, predict the test split with them, and save the folder (model,
thresholds, test predictions, model card) like the other trained models.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from moodpipe import paths
from moodpipe.context import RunContext
from moodpipe.files import atomic_folder, write_csv_atomic, write_json_atomic, write_text_atomic
from moodpipe.models.emotion_finetune import EmotionTrainConfig, fine_tune_head
from moodpipe.models.inference import predict_logits, sigmoid
from moodpipe.models.metrics import multilabel_macro_f1, tune_thresholds
from moodpipe.models.saved_folder import WEIGHTS_HASH, weights_digest
from moodpipe.models.training import save_model_folder, tokenize_dataset
from moodpipe.runtime import is_main_process

SPLITS = {"train": "train", "val": "dev"}  # the trainer's split names -> ours
THRESHOLD_SELECTION = "per label, the dev-set F1 maximum over 0.02..0.98 in steps of 0.02"


@dataclass
class MultilabelFit:
    """A fine-tuned multi-label model and what it gave on dev and test."""
    model: object
    tokenizer: object
    head: str
    facts: dict  # fine_tune_head's: train_seconds, epochs_run, best_val_macro_f1, frozen, trainer_log
    probs: dict[str, np.ndarray]  # dev, test: sigmoid probabilities
    y: dict[str, np.ndarray]  # dev, test: 0/1 labels
    thresholds: np.ndarray  # per label, tuned on dev
    pred: np.ndarray  # test predictions at those thresholds


def label_matrix(part: pd.DataFrame) -> np.ndarray:
    """A split's `y` column (one 0/1 vector per row) as an (n, labels) int matrix."""
    return np.stack(part.y.to_numpy()).astype(int)


def fine_tune_multilabel(ctx: RunContext, cfg: EmotionTrainConfig, resolved, parts: dict[str, pd.DataFrame],
                         names: list[str], compute_metrics=multilabel_macro_f1) -> MultilabelFit:
    """Train on parts['train'] (early stopping on parts['dev'] by compute_metrics' macro_f1, default at 0.5),
    tune thresholds on dev, predict test."""
    from transformers import AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(resolved.path)
    data = {ours: tokenize_dataset(tokenizer, parts[theirs].text.tolist(), [y.tolist() for y in parts[theirs].y],
                                   cfg.train.max_length) for ours, theirs in SPLITS.items()}
    data["train_labels"] = None
    head = cfg.head or "plain"
    _, model, facts = fine_tune_head(ctx, cfg, resolved, head, tokenizer, data, names, multi_label=True,
                                     compute_metrics=compute_metrics)
    probs = {s: sigmoid(predict_logits(model, tokenizer, parts[s].text.tolist(), max_length=cfg.train.max_length,
                                       precision=ctx.runtime.precision)) for s in ("dev", "test")}
    y = {s: label_matrix(parts[s]) for s in ("dev", "test")}
    thresholds = tune_thresholds(probs["dev"], y["dev"])
    return MultilabelFit(model, tokenizer, head, facts, probs, y, thresholds,
                         (probs["test"] >= thresholds).astype(int))


def label_lists(rows: np.ndarray, names: list[str]) -> list[str]:
    return [",".join(names[j] for j in np.flatnonzero(r)) for r in rows]


def save_multilabel(model_dir: Path, fit: MultilabelFit, metrics: dict, test: pd.DataFrame, names: list[str],
                    card: str) -> Path:
    """The folder: model + tokenizer, metrics.json, thresholds.json (tied to the weights' hash),
    test_predictions.csv, README.md; built beside the old folder and swapped in whole."""
    if not is_main_process():
        return model_dir
    with atomic_folder(model_dir) as folder:
        save_model_folder(folder, fit.model, fit.tokenizer, metrics, fit.facts["trainer_log"])
        write_json_atomic(folder / paths.THRESHOLDS, {WEIGHTS_HASH: weights_digest(folder),
                                                      "thresholds": metrics["thresholds"]})
        write_csv_atomic(folder / paths.TEST_PREDICTIONS, pd.DataFrame(
            {"comment_id": test.comment_id, "text": test.text, "labels": label_lists(label_matrix(test), names),
             "predicted": label_lists(fit.pred, names)}))
        write_text_atomic(folder / paths.MODEL_CARD, card)
    return model_dir
