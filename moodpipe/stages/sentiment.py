"""The review-sentiment stage: reviews -> split -> baselines -> fine-tuned encoder -> test metrics -> saved
model folder with its model card. `run_sentiment` reads as those steps, in order.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd

from moodpipe import paths
from moodpipe.context import RunContext
from moodpipe.contract import BEST_VAL_MACRO_F1, MAJORITY, TFIDF_WORDS
from moodpipe.data.reviews import LABELS, load_reviews, sample_rows, split_reviews
from moodpipe.files import atomic_folder, loading, write_csv_atomic, write_text_atomic
from moodpipe.logs import quiet_transformers
from moodpipe.models.inference import predict_logits, softmax
from moodpipe.models.metrics import accuracy_macro_f1, classification_metrics, majority_baseline, tfidf_baseline
from moodpipe.models.saved_folder import model_load_errors
from moodpipe.models.sentiment_predictor import export_onnx
from moodpipe.models.training import (
    TrainConfig,
    class_weights_for,
    library_versions,
    save_model_folder,
    tokenize_dataset,
    train_classifier,
)
from moodpipe.models.weights import ResolvedModel, resolve_model
from moodpipe.report.documents import sentiment_model_card
from moodpipe.runtime import Runtime, is_main_process, set_seed


@dataclass(frozen=True)
class SentimentConfig:
    """The task's settings; the output root, data directory, device and seed come from the RunContext."""
    reviews: str = paths.REVIEWS  # relative to the data directory unless it exists as given
    text_col: str | None = None
    rating_col: str | None = None
    label_col: str | None = None
    model: str = "auto"
    max_rows: int | None = None  # a stratified sample of the de-duplicated rows (quick runs)
    # The full run's settings; what they reach is recorded in saved_model/sentiment/metrics.json by each run.
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=5, learning_rate=1e-4))


# main.py --quick: the bundled English model on 1,000 reviews, one short epoch (a minute on 2 CPU cores).
QUICK = replace(SentimentConfig(), model="bundled:minilm-l6", max_rows=1000,
                train=replace(SentimentConfig().train, epochs=1, max_length=64))


def reviews_path(cfg: SentimentConfig, data_dir: Path) -> Path:
    path = Path(cfg.reviews)
    if not path.is_absolute() and not path.exists():
        path = data_dir / cfg.reviews
    return path


def load_base_model(resolved: ResolvedModel):
    """The tokenizer and a 2-class model from --model, loaded before anything is written: a folder that is not
    a model is one error, and the previous splits and model stay as they were."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    quiet_transformers()
    rebuild = "pass --model a model folder, a hub id or bundled:minilm-l6"
    with loading(Path(resolved.path), rebuild, (*model_load_errors(), TypeError)):
        tokenizer = AutoTokenizer.from_pretrained(resolved.path)
        model = AutoModelForSequenceClassification.from_pretrained(
            resolved.path, num_labels=2, id2label=dict(enumerate(LABELS)),
            label2id={n: i for i, n in enumerate(LABELS)})
    return model, tokenizer


def fine_tune(splits: dict[str, pd.DataFrame], base, cfg: TrainConfig, work_dir: Path, runtime: Runtime, seed: int):
    model, tokenizer = base
    data = {name: tokenize_dataset(tokenizer, part.text.tolist(), part.label.tolist(), cfg.max_length)
            for name, part in splits.items()}
    weights = class_weights_for(splits["train"].label, len(LABELS)) if cfg.class_weights else None
    trainer = train_classifier(model, tokenizer, data["train"], data["val"], cfg, work_dir, accuracy_macro_f1,
                               runtime=runtime, seed=seed, class_weights=weights)
    return trainer, tokenizer


def save_outputs(layout: paths.Layout, trainer, tokenizer, splits, metrics: dict, test_probs) -> Path:
    """The model folder, built beside the old one and swapped in whole: weights, card, predictions and the
    ONNX export (stamped with the weights' hash) are always of one run."""
    with atomic_folder(layout.sentiment_model) as folder:
        save_model_folder(folder, trainer.model, tokenizer, metrics, trainer.state.log_history)
        test = splits["test"]
        preds = test.assign(pred=test_probs.argmax(1), prob_positive=test_probs[:, 1].round(5))
        write_csv_atomic(folder / paths.TEST_PREDICTIONS, preds)
        write_text_atomic(folder / paths.MODEL_CARD, sentiment_model_card(metrics))
        export_onnx(folder)  # predict_sample.py's fast start on a CPU
    return layout.sentiment_model


def run_sentiment(ctx: RunContext, cfg: SentimentConfig) -> dict:
    """The whole stage: read, split, baselines, fine-tune, evaluate, save. Returns metrics."""
    runtime, layout = ctx.runtime, ctx.layout
    set_seed(ctx.seed)

    # data: every process builds the same split from the random seed; the main process writes it at the end
    data_path = reviews_path(cfg, ctx.data_dir)
    # a file the user named gets no download hint: its path is what is wrong
    how_to_get = paths.HOW_TO_GET_REVIEWS if cfg.reviews == paths.REVIEWS else "check the path given to --reviews"
    df, counts = load_reviews(data_path, cfg.text_col, cfg.rating_col, cfg.label_col, how_to_get)
    df = sample_rows(df, cfg.max_rows, ctx.seed)
    splits = split_reviews(df, ctx.seed)
    resolved = resolve_model(cfg.model, "en")
    base = load_base_model(resolved)  # before anything is written: a bad --model leaves every output as it was

    # baselines on the same split
    train, test = splits["train"], splits["test"]
    baselines = {MAJORITY: majority_baseline(train.label, test.label, LABELS),
                 TFIDF_WORDS: tfidf_baseline(train.text, train.label, test.text, test.label, LABELS)}

    # fine-tune
    work_dir = layout.sentiment_model.parent / ".checkpoints-sentiment"
    start = time.time()
    trainer, tokenizer = fine_tune(splits, base, cfg.train, work_dir, runtime, ctx.seed)
    train_seconds = time.time() - start

    # evaluate once, on the whole test set
    probs = softmax(predict_logits(trainer.model, tokenizer, test.text.tolist(), max_length=cfg.train.max_length,
                                   precision=runtime.precision))
    metrics = {
        "task": "review sentiment (negative/positive)",
        "test": classification_metrics(test.label, probs.argmax(1), LABELS),
        "baselines": baselines,
        "base_model": resolved.as_dict(),
        "data": {"file": str(data_path), "counts": counts, "label_ratio_positive": float(df.label.mean()),
                 "split_sizes": {k: len(v) for k, v in splits.items()}},
        "train_seconds": train_seconds,
        "epochs_run": trainer.state.epoch,
        BEST_VAL_MACRO_F1: trainer.state.best_metric,
        "bf16": runtime.precision == "bf16",
        "runtime": runtime.facts(),
        "config": asdict(cfg), "context": ctx.settings(),
        "versions": library_versions(),
    }

    # save
    if is_main_process():  # written last, so the splits on disk are always those of the saved model
        for name, part in splits.items():
            write_csv_atomic(layout.sentiment_split(name), part)
        save_outputs(layout, trainer, tokenizer, splits, metrics, probs)
        shutil.rmtree(work_dir, ignore_errors=True)
    return metrics
