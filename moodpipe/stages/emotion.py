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
from moodpipe.context import RunContext
from moodpipe.contract import BEST_VAL_MACRO_F1, MACRO_F1
from moodpipe.data.aihub import ONE_PER_MAJOR, prepare_aihub
from moodpipe.files import atomic_folder, loading, write_csv_atomic, write_json_atomic, write_text_atomic
from moodpipe.models.emotion_finetune import DATASETS, TRAIN_DEFAULTS, EmotionTrainConfig, check_config, fine_tune_head
from moodpipe.models.emotion_predictor import score_texts
from moodpipe.models.heads import HEADS, label_similarity
from moodpipe.models.inference import predict_logits, softmax
from moodpipe.models.metrics import (
    accuracy_macro_f1,
    comparison_row,
    emotion_baselines,
    emotion_test_metrics,
    major_classes,
    paired_bootstrap_accuracy,
)
from moodpipe.models.saved_folder import model_load_errors
from moodpipe.models.tfidf import choose_weight, save_blend, tfidf_probabilities
from moodpipe.models.training import library_versions, save_model_folder, tokenize_dataset
from moodpipe.models.weights import resolve_model
from moodpipe.provenance import provenance, provenance_lines
from moodpipe.report.documents import comparison_markdown, emotion_model_card
from moodpipe.runtime import is_main_process, set_seed
from moodpipe.stages.goemotions import train_goemotions
from moodpipe.stages.kote import train_kote

log = logging.getLogger("pipeline")

# Each dataset's settings for a full run, and main.py --quick's beside them: the bundled models on slices that
# train in about a minute on 2 CPU cores. The Korean quick run trains one head on batch-normalised features,
# on the dialogues of one label per major class.
FULL_EMOTION = {d: EmotionTrainConfig(dataset=d, train=TRAIN_DEFAULTS[d]) for d in DATASETS}
# KOTE's 44 sigmoid outputs start from multilingual-e5's near-parallel pooled vectors: batch-normalising them lets
# a fresh head separate the labels within its 2 epochs (docs/kote.md: test macro-F1 0.467 with, 0.291 without).
FULL_EMOTION["kote"] = replace(FULL_EMOTION["kote"], feature_norm=True)
QUICK_EMOTION = {
    "aihub": replace(FULL_EMOTION["aihub"], model="bundled:multilingual-e5-small", only_labels=(ONE_PER_MAJOR,),
                     add_sentences=False, feature_norm=True, max_train_rows=240,
                     train=replace(TRAIN_DEFAULTS["aihub"], epochs=2, max_length=64)),
    # KOTE (the Korean corpus anyone can get): a few hundred comments, batch-normalised features.
    "kote": replace(FULL_EMOTION["kote"], model="bundled:multilingual-e5-small", feature_norm=True, max_train_rows=400,
                    max_eval_rows=200, train=replace(TRAIN_DEFAULTS["kote"], epochs=2, max_length=64)),
    "goemotions": replace(FULL_EMOTION["goemotions"], model="bundled:minilm-l6", max_train_rows=300,
                          max_eval_rows=75, train=replace(TRAIN_DEFAULTS["goemotions"], epochs=1, max_length=64,
                                                          batch_size=16)),
}

# ----------------------------------------------------------------------------- AI-Hub

def tokenized_splits(tokenizer, units: dict[str, pd.DataFrame], max_length: int) -> dict:
    data = {name: tokenize_dataset(tokenizer, part.text.tolist(), part.label_id.tolist(), max_length)
            for name, part in units.items()}
    data["train_labels"] = units["train"].label_id
    return data


def train_aihub(ctx: RunContext, cfg: EmotionTrainConfig) -> dict:
    """Split, baselines, one or three heads, the best on validation blended with TF-IDF when validation says
    so, saved as one predictor whose test metrics are measured by loading it back."""
    from transformers import AutoTokenizer
    layout, runtime = ctx.layout, ctx.runtime
    corpus = Path(cfg.corpus) if cfg.corpus else ctx.data_dir / paths.CORPUS_DIR
    resolved = resolve_model(cfg.model, "ko")
    with loading(Path(resolved.path), "pass --model a model folder, a hub id or bundled:multilingual-e5-small",
                 (*model_load_errors(), TypeError)):  # nothing is written until the inputs have loaded
        tokenizer = AutoTokenizer.from_pretrained(resolved.path)
    units, label_names, report = prepare_aihub(corpus, cfg.unit, cfg.add_sentences, ctx.seed,
                                               cfg.max_train_rows, cfg.max_eval_rows, layout,
                                               write=False, only_labels=cfg.only_labels)
    baselines, tfidf = emotion_baselines(units, label_names)
    data = tokenized_splits(tokenizer, units, cfg.train.max_length)
    results, models, probs_of = {}, {}, {}
    for head in list(HEADS) if cfg.compare else [cfg.head or "arch2"]:
        trainer, models[head], results[head] = fine_tune_head(ctx, cfg, resolved, head, tokenizer, data,
                                                              label_names)
        probs_of[head] = {part: softmax(predict_logits(models[head], tokenizer, units[part].text.tolist(),
                                                       max_length=cfg.train.max_length,
                                                       precision=runtime.precision))
                          for part in ("val", "test")}
        results[head]["test"] = emotion_test_metrics(units["test"].label_id, probs_of[head]["test"], label_names,
                                                     cfg.similarity_credit)
    head = max(results, key=lambda h: results[h][BEST_VAL_MACRO_F1] or 0)  # the first on a tie
    add_bootstrap(results, probs_of, units["test"].label_id.to_numpy(), reference="plain")
    weight, val_curve = choose_blend(tfidf, units, label_names, probs_of[head])
    metrics = emotion_metrics(ctx, cfg, resolved, report, baselines, results, head, label_names)
    metrics["blend"] = {"model_weight": weight, "tfidf_weight": round(1 - weight, 2), "used": weight < 1,
                        "val_macro_f1": val_curve[weight], "model_alone_val_macro_f1": val_curve[1.0]}
    if len(results) > 1:
        metrics["comparison"]["ensemble"] = comparison_row(head_ensemble(results, probs_of, units, label_names,
                                                                         cfg.similarity_credit))
    if not is_main_process():
        return metrics
    for name, part in units.items():  # written last, so the splits on disk are always those of the saved model
        write_csv_atomic(layout.emotion_split(name), part)
    with atomic_folder(layout.emotion_model) as folder:  # built beside the old folder, swapped in whole
        save_emotion_model(folder, models[head], tokenizer, metrics, results, (tfidf, weight, val_curve))
        # the saved predictor, loaded back through the one loader songs and queries use
        test_probs = score_texts(folder, units["test"].text.tolist(), runtime, max_length=cfg.train.max_length)
        finish_emotion_model(folder, cfg, metrics, results, units, test_probs, probs_of)
    return metrics


def add_bootstrap(results: dict, probs_of: dict, y_test: np.ndarray, reference: str) -> None:
    """Each head's 95% test-accuracy interval, and its difference from the reference head (paired)."""
    ref = probs_of.get(reference, next(iter(probs_of.values())))["test"].argmax(1) == y_test
    for head, probs in probs_of.items():
        results[head]["bootstrap"] = paired_bootstrap_accuracy(probs["test"].argmax(1) == y_test, ref)


def choose_blend(tfidf, units: dict, label_names: list[str], head_probs: dict) -> tuple[float, dict]:
    """The model's share against the baseline's TF-IDF pipeline, chosen on validation macro-F1.
    Returns (weight, validation macro-F1 by weight)."""
    val_probs = tfidf_probabilities(tfidf, units["val"].text.tolist(), len(label_names))
    weight, curve = choose_weight(head_probs["val"], val_probs, units["val"].label_id.to_numpy())
    log.info("blend: model weight %.2f chosen on validation (macro-F1 %.4f; the model alone %.4f)", weight,
             curve[weight], curve[1.0])
    return weight, curve


def emotion_metrics(ctx: RunContext, cfg, resolved, report, baselines, results, head, label_names) -> dict:
    chosen, runtime = results[head], ctx.runtime
    return {
        "task": "AI-Hub emotional dialogue, 60 (major, sub) labels and 6 major classes",
        "head": head, "head_selection": "best validation macro-F1" if len(results) > 1 else "as requested",
        "base_model": resolved.as_dict(), "data": report, "labels": label_names,
        "test": chosen["test"], "baselines": baselines,
        "train_seconds": chosen["train_seconds"], "epochs_run": chosen["epochs_run"],
        BEST_VAL_MACRO_F1: chosen[BEST_VAL_MACRO_F1], "frozen": chosen["frozen"],
        "bf16": runtime.precision == "bf16", "runtime": runtime.facts(),
        "label_similarity": {"file": paths.LABEL_SIMILARITY,
                             "method": "cosine of the classes' rows in the final linear layer's weight"},
        "hyper_parameters": {**asdict(cfg.train), "seed": ctx.seed, "head": head, "dropout": cfg.dropout,
                             "unit": cfg.unit, "freeze_embeddings": cfg.freeze_embeddings},
        "comparison": {h: comparison_row(r) for h, r in results.items()} if len(results) > 1 else None,
        "config": asdict(cfg), "context": ctx.settings(), "versions": library_versions(),
        "provenance": provenance(),
    }


def head_ensemble(results: dict, probs_of: dict, units: dict, label_names: list[str], credit: float) -> dict:
    """The mean of the heads' probabilities, scored like one head. Reported only: saving it would mean
    keeping every head's encoder, so the saved model stays the single best head."""
    mean = {part: np.mean([p[part] for p in probs_of.values()], axis=0) for part in ("val", "test")}
    runs = list(results.values())
    return {BEST_VAL_MACRO_F1: accuracy_macro_f1((mean["val"], units["val"].label_id))[MACRO_F1],
            "test": emotion_test_metrics(units["test"].label_id, mean["test"], label_names, credit),
            "train_seconds": sum(r["train_seconds"] for r in runs),
            "epochs_run": float(np.mean([r["epochs_run"] for r in runs])),
            "frozen": {"trainable_params": sum(r["frozen"]["trainable_params"] for r in runs)}}


def save_emotion_model(model_dir: Path, model, tokenizer, metrics, results, blend_parts) -> Path:
    """The predictor's files: weights, tokenizer, blend weight and TF-IDF part, label similarity, logs."""
    save_model_folder(model_dir, model, tokenizer, metrics, results[metrics["head"]]["trainer_log"])
    save_blend(model_dir, *blend_parts)
    label_names = metrics["labels"]
    sim = pd.DataFrame(label_similarity(model).round(4), index=label_names, columns=label_names)
    write_csv_atomic(model_dir / paths.LABEL_SIMILARITY, sim.reset_index(names="label"))
    if len(results) > 1:
        for h, r in results.items():
            write_json_atomic(model_dir / f"trainer_log_{h}.json", r["trainer_log"])
    return model_dir


def finish_emotion_model(model_dir: Path, cfg, metrics, results, units, test_probs, probs_of) -> None:
    """Test metrics of the saved predictor (as loaded back), its predictions, comparison and model card."""
    y_test, label_names = units["test"].label_id.to_numpy(), metrics["labels"]
    metrics["test"] = emotion_test_metrics(y_test, test_probs, label_names, cfg.similarity_credit)
    metrics["model_alone_test"] = results[metrics["head"]]["test"]
    if metrics["comparison"] and metrics["blend"]["used"]:
        plain_correct = probs_of["plain"]["test"].argmax(1) == y_test
        metrics["comparison"]["blend"] = comparison_row({
            **results[metrics["head"]], "test": metrics["test"], BEST_VAL_MACRO_F1: metrics["blend"]["val_macro_f1"],
            "bootstrap": paired_bootstrap_accuracy(test_probs.argmax(1) == y_test, plain_correct)})
    write_json_atomic(model_dir / paths.METRICS, metrics)
    majors, major_of = major_classes(label_names)
    pred = test_probs.argmax(1)
    write_csv_atomic(model_dir / paths.TEST_PREDICTIONS, units["test"].assign(
        pred=[label_names[i] for i in pred], prob=test_probs.max(1).round(5),
        pred_major=[majors[major_of[i]] for i in pred], correct=pred == y_test))
    if metrics["comparison"]:
        write_json_atomic(model_dir / paths.HEAD_COMPARISON, {"chosen": metrics["head"], "selection":
                          metrics["head_selection"], "blend": metrics["blend"], "heads": metrics["comparison"]})
        write_text_atomic(model_dir / paths.HEAD_COMPARISON_MD, "\n".join([
            "# Emotion heads compared on one split", "", *provenance_lines(metrics["provenance"], metrics["versions"]),
            comparison_markdown(metrics["comparison"], metrics["head"])]))
    write_text_atomic(model_dir / paths.MODEL_CARD, emotion_model_card(metrics))


# ----------------------------------------------------------------------------- the stage

def train_emotion(ctx: RunContext, cfg: EmotionTrainConfig) -> dict:
    """The training stage main.py calls: AI-Hub (default), GoEmotions or KOTE. Returns metrics."""
    check_config(cfg, ctx.runtime)
    set_seed(ctx.seed)
    if cfg.dataset == "goemotions":
        return train_goemotions(ctx, replace(cfg, train=replace(cfg.train, class_weights=False)))
    if cfg.dataset == "kote":
        return train_kote(ctx, replace(cfg, train=replace(cfg.train, class_weights=False)))
    return train_aihub(ctx, cfg)
