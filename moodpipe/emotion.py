"""The emotion stage: the Korean classifier on the AI-Hub corpus (60 labels; `compare` trains plain, arch1
and arch2 on one split and keeps the best on validation), or the English GoEmotions baseline.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd

from moodpipe import paths
from moodpipe.aihub import prepare_aihub
from moodpipe.device import device_facts, is_main_process, precision_for
from moodpipe.files import write_csv_atomic, write_json_atomic, write_text_atomic
from moodpipe.finetune import EmotionTrainConfig, check_config, fine_tune_head
from moodpipe.goemotions import train_goemotions
from moodpipe.heads import HEADS, label_similarity
from moodpipe.metrics import (
    accuracy_macro_f1,
    comparison_row,
    emotion_baselines,
    emotion_test_metrics,
    major_classes,
)
from moodpipe.models import resolve_model
from moodpipe.predict import predict_logits, softmax
from moodpipe.report import comparison_markdown, emotion_model_card
from moodpipe.training import library_versions, save_model_folder, set_seed, tokenize_dataset

log = logging.getLogger("pipeline")

# ----------------------------------------------------------------------------- AI-Hub

def tokenized_splits(tokenizer, units: dict[str, pd.DataFrame], max_length: int) -> dict:
    data = {name: tokenize_dataset(tokenizer, part.text.tolist(), part.label_id.tolist(), max_length)
            for name, part in units.items()}
    data["train_labels"] = units["train"].label_id
    return data


def train_aihub(cfg: EmotionTrainConfig, device: str) -> dict:
    """Split, baselines, one or three heads, the best on validation saved with its metrics."""
    from transformers import AutoTokenizer
    layout = paths.Layout(Path(cfg.out))
    corpus = Path(cfg.corpus) if cfg.corpus else paths.resolve_data_dir(cfg.data_dir) / paths.CORPUS_DIR
    units, label_names, report = prepare_aihub(corpus, cfg.unit, cfg.add_sentences, cfg.train.seed,
                                               cfg.max_train_rows, cfg.max_eval_rows, layout,
                                               write=is_main_process(), only_labels=cfg.only_labels)
    baselines = emotion_baselines(units, label_names)
    resolved = resolve_model(cfg.model, "ko")
    tokenizer = AutoTokenizer.from_pretrained(resolved.path)
    data = tokenized_splits(tokenizer, units, cfg.train.max_length)
    heads = list(HEADS) if cfg.compare else [cfg.head or "arch2"]
    precision = precision_for(device, cfg.train.bf16)
    results, models, probs_of = {}, {}, {}
    parts = ("val", "test") if len(heads) > 1 else ("test",)  # validation probabilities feed only the ensemble
    for head in heads:
        trainer, models[head], facts = fine_tune_head(cfg, resolved, head, tokenizer, data, label_names, device)
        probs_of[head] = {part: softmax(predict_logits(models[head], tokenizer, units[part].text.tolist(),
                                                       max_length=cfg.train.max_length, precision=precision))
                          for part in parts}
        facts["test"] = emotion_test_metrics(units["test"].label_id, probs_of[head]["test"], label_names,
                                             cfg.similarity_credit)
        results[head] = facts
    head = max(results, key=lambda h: results[h]["best_val_macro_f1"] or 0)  # the first on a tie
    metrics = emotion_metrics(cfg, resolved, report, baselines, results, head, label_names, device, precision)
    if len(heads) > 1:
        metrics["comparison"]["ensemble"] = comparison_row(head_ensemble(results, probs_of, units, label_names,
                                                                         cfg.similarity_credit))
    save_emotion_model(cfg, models[head], tokenizer, metrics, units["test"], probs_of[head]["test"], label_names,
                       results)
    return metrics


def emotion_metrics(cfg, resolved, report, baselines, results, head, label_names, device, precision) -> dict:
    chosen = results[head]
    return {
        "task": "AI-Hub emotional dialogue, 60 (major, sub) labels and 6 major classes",
        "head": head, "head_selection": "best validation macro-F1" if len(results) > 1 else "as requested",
        "base_model": resolved.as_dict(), "data": report, "labels": label_names,
        "test": chosen["test"], "baselines": baselines,
        "train_seconds": chosen["train_seconds"], "epochs_run": chosen["epochs_run"],
        "best_val_macro_f1": chosen["best_val_macro_f1"], "frozen": chosen["frozen"],
        "bf16": precision == "bf16", "runtime": device_facts(device, precision),
        "label_similarity": {"file": paths.LABEL_SIMILARITY,
                             "method": "cosine of the classes' rows in the final linear layer's weight"},
        "hyper_parameters": {**asdict(cfg.train), "head": head, "dropout": cfg.dropout, "unit": cfg.unit,
                             "freeze_embeddings": cfg.freeze_embeddings},
        "comparison": {h: comparison_row(r) for h, r in results.items()} if len(results) > 1 else None,
        "config": asdict(cfg), "versions": library_versions(),
    }


def head_ensemble(results: dict, probs_of: dict, units: dict, label_names: list[str], credit: float) -> dict:
    """The mean of the heads' probabilities, scored like one head. Reported only: saving it would mean
    keeping every head's encoder, so the saved model stays the single best head."""
    mean = {part: np.mean([p[part] for p in probs_of.values()], axis=0) for part in ("val", "test")}
    runs = list(results.values())
    return {"best_val_macro_f1": accuracy_macro_f1((mean["val"], units["val"].label_id))["macro_f1"],
            "test": emotion_test_metrics(units["test"].label_id, mean["test"], label_names, credit),
            "train_seconds": sum(r["train_seconds"] for r in runs),
            "epochs_run": float(np.mean([r["epochs_run"] for r in runs])),
            "frozen": {"trainable_params": sum(r["frozen"]["trainable_params"] for r in runs)}}


def save_emotion_model(cfg, model, tokenizer, metrics, test_units, probs, label_names, results) -> Path:
    model_dir = paths.Layout(Path(cfg.out)).emotion_model
    if not is_main_process():
        return model_dir
    save_model_folder(model_dir, model, tokenizer, metrics, results[metrics["head"]]["trainer_log"])
    sim = pd.DataFrame(label_similarity(model).round(4), index=label_names, columns=label_names)
    write_csv_atomic(model_dir / paths.LABEL_SIMILARITY, sim.reset_index(names="label"))
    majors, major_of = major_classes(label_names)
    pred = probs.argmax(1)
    write_csv_atomic(model_dir / paths.TEST_PREDICTIONS, test_units.assign(
        pred=[label_names[i] for i in pred], prob=probs.max(1).round(5),
        pred_major=[majors[major_of[i]] for i in pred], correct=pred == test_units.label_id.to_numpy()))
    if metrics["comparison"]:
        write_json_atomic(model_dir / paths.HEAD_COMPARISON, {"chosen": metrics["head"], "selection":
                          metrics["head_selection"], "heads": metrics["comparison"]})
        write_text_atomic(model_dir / paths.HEAD_COMPARISON_MD, comparison_markdown(metrics["comparison"],
                                                                                     metrics["head"]))
        for h, r in results.items():
            write_json_atomic(model_dir / f"trainer_log_{h}.json", r["trainer_log"])
    write_text_atomic(model_dir / paths.MODEL_CARD, emotion_model_card(metrics))
    return model_dir


# ----------------------------------------------------------------------------- the stage

def train_emotion(cfg: EmotionTrainConfig) -> dict:
    """The training stage main.py calls: AI-Hub (default) or GoEmotions. Returns metrics."""
    device = check_config(cfg)
    set_seed(cfg.train.seed)
    if cfg.dataset == "goemotions":
        return train_goemotions(replace(cfg, train=replace(cfg.train, class_weights=False)), device)
    return train_aihub(cfg, device)
