"""Review sentiment: fine-tune MobileBERT (or the bundled offline encoder) on Spotify app reviews.

    python mobilebert_project.py                      # data from --data-dir / $DATA_DIR / data/
    python mobilebert_project.py --data-dir ../shared/data --model bundled:minilm-l6

Stars become labels (1-2 negative, 4-5 positive, 3 dropped), exact duplicate texts are removed
before a stratified 80/10/10 split (so no text is on two sides), and the model is trained with
the Hugging Face Trainer. Outputs (under --out, default the repository root):
    data/processed/{train,val,test}_data.csv     the split exactly as used
    saved_model/sentiment/                       model, tokenizer, metrics.json, model card,
                                                 trainer_log.json, test_predictions.csv
"""

from __future__ import annotations

import argparse
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from common import (
    InputError,
    classification_metrics,
    library_versions,
    majority_baseline,
    read_csv_checked,
    resolve_data_dir,
    run_cli,
    set_seed,
    tfidf_baseline,
    write_csv_atomic,
    write_text_atomic,
)
from models import (
    TrainConfig,
    predict_logits,
    resolve_model,
    save_model_folder,
    tokenize_dataset,
    train_classifier,
    use_bf16,
)

LABELS = ["negative", "positive"]
TEXT_COLUMNS = ["content", "Review", "review", "text", "Text"]  # Google Play scrape, Kaggle export, generic
RATING_COLUMNS = ["score", "Rating", "rating", "stars", "Score"]
DEFAULT_REVIEWS = "reviews/spotify_googleplay_10k.csv"
HOW_TO_GET = ("download it with `python main.py --stages data` when online, or pass --reviews PATH "
              "(a CSV with a text column and a 1-5 star column)")


@dataclass
class SentimentConfig:
    data_dir: str | None = None
    reviews: str = DEFAULT_REVIEWS  # relative to data_dir unless absolute
    text_col: str | None = None
    rating_col: str | None = None
    label_col: str | None = None
    model: str = "auto"
    out: str = "."
    max_rows: int | None = None  # a stratified sample of the de-duplicated rows (quick runs)
    # The measured best on ../shared/data (README): 5 epochs at 1e-4 beat 4 at 5e-5.
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=5, learning_rate=1e-4))


# ----------------------------------------------------------------------------- data

def pick_column(df: pd.DataFrame, wanted: str | None, candidates: list[str], what: str, path: Path) -> str:
    if wanted:
        if wanted not in df.columns:
            raise InputError(f"{path} has no {what} column {wanted!r} (columns: {', '.join(map(str, df.columns))})")
        return wanted
    for name in candidates:
        if name in df.columns:
            return name
    raise InputError(f"{path} has no {what} column (looked for {', '.join(candidates)}; columns: "
                     f"{', '.join(map(str, df.columns))}); name it with --{what}-col")


def stars_to_labels(stars: pd.Series, path: Path, column: str) -> pd.Series:
    """1-2 -> 0 (negative), 4-5 -> 1 (positive), 3 -> NA (dropped).

    >>> stars_to_labels(pd.Series([1, 3, 5]), Path("x.csv"), "score").tolist()
    [0, <NA>, 1]
    """
    numeric = pd.to_numeric(stars, errors="coerce")
    bad = stars.notna() & numeric.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"{path}: column {column!r} must hold star ratings 1-5, but row {row + 2} holds "
                         f"{stars.iloc[row]!r}; fix the file or pick another column with --rating-col")
    out_of_range = numeric.notna() & ~numeric.isin([1, 2, 3, 4, 5])
    if out_of_range.any():
        raise InputError(f"{path}: column {column!r} has ratings outside 1-5 (e.g. {numeric[out_of_range].iloc[0]})")
    return numeric.map({1: 0, 2: 0, 4: 1, 5: 1}).astype("Int64")


def load_reviews(path: Path, text_col: str | None, rating_col: str | None, label_col: str | None) -> tuple[
        pd.DataFrame, dict]:
    """Read the reviews CSV into (text, label) rows; return them with counts of what was dropped."""
    raw = read_csv_checked(path, HOW_TO_GET)
    text = pick_column(raw, text_col, TEXT_COLUMNS, "text", path)
    if label_col:
        labels = pd.to_numeric(raw[pick_column(raw, label_col, [], "label", path)], errors="coerce")
        if not labels.dropna().isin([0, 1]).all():
            raise InputError(f"{path}: --label-col {label_col!r} must hold 0 (negative) or 1 (positive)")
        labels = labels.astype("Int64")
    else:
        rating = pick_column(raw, rating_col, RATING_COLUMNS, "rating", path)
        labels = stars_to_labels(raw[rating], path, rating)
    df = pd.DataFrame({"text": raw[text].astype("string").str.strip(), "label": labels})
    counts = {"rows_read": len(df), "empty_text": int((df.text.isna() | (df.text == "")).sum())}
    df = df[df.text.notna() & (df.text != "")]
    counts["neutral_or_missing_rating"] = int(df.label.isna().sum())
    df = df[df.label.notna()]
    before = len(df)
    df = df.drop_duplicates("text")  # keep the first: exact repeats would leak across splits
    counts["duplicate_texts"] = before - len(df)
    counts["rows_used"] = len(df)
    if len(df) < 10 or df.label.nunique() < 2:
        raise InputError(f"{path}: after cleaning only {len(df)} usable reviews "
                         f"({df.label.nunique()} classes); need both positive and negative reviews")
    return df.assign(label=df.label.astype(int)).reset_index(drop=True), counts


def split_reviews(df: pd.DataFrame, seed: int) -> dict[str, pd.DataFrame]:
    """Stratified 80/10/10 split. Texts are unique, so no text can land on two sides."""
    from sklearn.model_selection import train_test_split
    train, rest = train_test_split(df, test_size=0.2, stratify=df.label, random_state=seed)
    val, test = train_test_split(rest, test_size=0.5, stratify=rest.label, random_state=seed)
    return {"train": train.reset_index(drop=True), "val": val.reset_index(drop=True),
            "test": test.reset_index(drop=True)}


def sample_rows(df: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    if not n or n >= len(df):
        return df
    from sklearn.model_selection import train_test_split
    keep, _ = train_test_split(df, train_size=n, stratify=df.label, random_state=seed)
    return keep.reset_index(drop=True)


# ----------------------------------------------------------------------------- training

def macro_f1_metrics(eval_pred) -> dict:
    from sklearn.metrics import accuracy_score, f1_score
    logits, labels = eval_pred
    pred = np.asarray(logits).argmax(-1)
    return {"accuracy": accuracy_score(labels, pred), "macro_f1": f1_score(labels, pred, average="macro")}


def class_weights_for(labels: pd.Series) -> list[float]:
    """Inverse-frequency weights, mean 1: rare classes count more in the loss."""
    counts = labels.value_counts().reindex(range(len(LABELS)), fill_value=0).to_numpy(dtype=float)
    weights = counts.sum() / (len(counts) * np.maximum(counts, 1))
    return weights.tolist()


def fine_tune(splits: dict[str, pd.DataFrame], resolved, cfg: TrainConfig, work_dir: Path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(resolved.path)
    model = AutoModelForSequenceClassification.from_pretrained(
        resolved.path, num_labels=2, id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)})
    data = {name: tokenize_dataset(tokenizer, part.text.tolist(), part.label.tolist(), cfg.max_length)
            for name, part in splits.items()}
    weights = class_weights_for(splits["train"].label) if cfg.class_weights else None
    trainer = train_classifier(model, tokenizer, data["train"], data["val"], cfg, work_dir, macro_f1_metrics,
                               class_weights=weights)
    return trainer, tokenizer


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


# ----------------------------------------------------------------------------- outputs

def model_card(metrics: dict) -> str:
    test, tfidf, major = metrics["test"], metrics["baselines"]["tfidf_logreg"], metrics["baselines"]["majority"]
    cm = test["confusion_matrix"]
    hp = metrics["config"]["train"]
    return f"""# Review sentiment classifier

Fine-tuned from **{metrics['base_model']['name']}** (source: {metrics['base_model']['source']};
substituted for the seed's MobileBERT: {metrics['base_model']['substituted']} - {metrics['base_model']['reason']}).

Data: `{metrics['data']['file']}`: {metrics['data']['counts']['rows_read']} rows read,
{metrics['data']['counts']['rows_used']} used after dropping 3-star/empty rows and
{metrics['data']['counts']['duplicate_texts']} duplicate texts; split train/val/test =
{metrics['data']['split_sizes']['train']}/{metrics['data']['split_sizes']['val']}/{metrics['data']['split_sizes']['test']}
(seed {hp['seed']}). Labels: 1-2 stars negative, 4-5 positive.

Hyper-parameters: epochs {hp['epochs']} (early stopping, patience {hp['patience']}), batch {hp['batch_size']},
learning rate {hp['learning_rate']}, max length {hp['max_length']}, bf16 {metrics['bf16']},
class weights {hp['class_weights']}. Training took {metrics['train_seconds']:.0f} s.

| test set | accuracy | macro-F1 |
|---|---|---|
| this model | {test['accuracy']:.3f} | {test['macro_f1']:.3f} |
| TF-IDF word 1-2 grams + logistic regression | {tfidf['accuracy']:.3f} | {tfidf['macro_f1']:.3f} |
| majority class | {major['accuracy']:.3f} | {major['macro_f1']:.3f} |

Confusion matrix (rows true, columns predicted; negative, positive): {cm}
"""


def save_outputs(cfg: SentimentConfig, trainer, tokenizer, splits, metrics: dict, test_probs: np.ndarray) -> Path:
    model_dir = save_model_folder(Path(cfg.out) / "saved_model" / "sentiment", trainer.model, tokenizer, metrics,
                                  trainer.state.log_history)
    test = splits["test"]
    preds = test.assign(pred=test_probs.argmax(1), prob_positive=test_probs[:, 1].round(5))
    write_csv_atomic(model_dir / "test_predictions.csv", preds)
    write_text_atomic(model_dir / "README.md", model_card(metrics))
    return model_dir


def run_sentiment(cfg: SentimentConfig) -> dict:
    """The whole stage: read, split, baselines, fine-tune, evaluate, save. Returns metrics."""
    set_seed(cfg.train.seed)
    data_path = Path(cfg.reviews)
    if not data_path.is_absolute() and not data_path.exists():
        data_path = resolve_data_dir(cfg.data_dir) / cfg.reviews
    df, counts = load_reviews(data_path, cfg.text_col, cfg.rating_col, cfg.label_col)
    df = sample_rows(df, cfg.max_rows, cfg.train.seed)
    splits = split_reviews(df, cfg.train.seed)
    for name, part in splits.items():
        write_csv_atomic(Path(cfg.out) / "data" / "processed" / f"{name}_data.csv", part)

    train, test = splits["train"], splits["test"]
    baselines = {"majority": majority_baseline(train.label, test.label, LABELS),
                 "tfidf_logreg": tfidf_baseline(train.text, train.label, test.text, test.label, LABELS)}

    resolved = resolve_model(cfg.model, "en")
    work_dir = Path(cfg.out) / "saved_model" / ".checkpoints-sentiment"
    start = time.time()
    trainer, tokenizer = fine_tune(splits, resolved, cfg.train, work_dir)
    train_seconds = time.time() - start
    logits = predict_logits(trainer.model, tokenizer, test.text.tolist(), max_length=cfg.train.max_length,
                            bf16=use_bf16(cfg.train.bf16))
    probs = softmax(logits)
    metrics = {
        "task": "review sentiment (negative/positive)",
        "test": classification_metrics(test.label, probs.argmax(1), LABELS),
        "baselines": baselines,
        "base_model": resolved.as_dict(),
        "data": {"file": str(data_path), "counts": counts, "label_ratio_positive": float(df.label.mean()),
                 "split_sizes": {k: len(v) for k, v in splits.items()}},
        "train_seconds": train_seconds,
        "epochs_run": trainer.state.epoch,
        "best_val_macro_f1": trainer.state.best_metric,
        "bf16": use_bf16(cfg.train.bf16),
        "config": asdict(cfg),
        "versions": library_versions(),
    }
    model_dir = save_outputs(cfg, trainer, tokenizer, splits, metrics, probs)
    shutil.rmtree(work_dir, ignore_errors=True)
    t, b = metrics["test"], baselines["tfidf_logreg"]
    print(f"sentiment: test accuracy {t['accuracy']:.3f} macro-F1 {t['macro_f1']:.3f} "
          f"(TF-IDF {b['accuracy']:.3f} / {b['macro_f1']:.3f}); saved to {model_dir}")
    return metrics


# ----------------------------------------------------------------------------- command line

def parse_args(argv: list[str] | None = None) -> SentimentConfig:
    d = SentimentConfig()
    t = d.train
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", help="input folder (default: $DATA_DIR, else data/)")
    p.add_argument("--reviews", default=d.reviews, help="reviews CSV, relative to --data-dir or a path "
                   f"(default: {d.reviews})")
    p.add_argument("--text-col", help=f"text column (default: first of {', '.join(TEXT_COLUMNS)})")
    p.add_argument("--rating-col", help=f"1-5 star column (default: first of {', '.join(RATING_COLUMNS)})")
    p.add_argument("--label-col", help="an already-labelled 0/1 column to use instead of stars")
    p.add_argument("--model", default=d.model, help="auto | hub id | local folder | bundled:minilm-l6 "
                   "(auto: google/mobilebert-uncased when reachable, else bundled:minilm-l6)")
    p.add_argument("--out", default=d.out, help="output root for data/processed and saved_model (default: .)")
    p.add_argument("--max-rows", type=int, help="use a stratified sample of this many reviews (quick runs)")
    p.add_argument("--epochs", type=float, default=t.epochs, help=f"maximum epochs (default: {t.epochs})")
    p.add_argument("--batch-size", type=int, default=t.batch_size, help=f"default: {t.batch_size}")
    p.add_argument("--lr", type=float, default=t.learning_rate, help=f"learning rate (default: {t.learning_rate})")
    p.add_argument("--max-length", type=int, default=t.max_length, help=f"tokens per review (default: {t.max_length})")
    p.add_argument("--patience", type=int, default=t.patience, help="early-stopping patience in epochs")
    p.add_argument("--max-steps", type=int, default=t.max_steps, help="cap on optimizer steps (tests)")
    p.add_argument("--bf16", default=t.bf16, choices=["auto", "yes", "no"], help="bf16 autocast (auto: when "
                   "the CPU supports it natively)")
    p.add_argument("--class-weights", action="store_true", help="weight the loss by inverse class frequency")
    p.add_argument("--seed", type=int, default=t.seed, help=f"split and training seed (default: {t.seed})")
    a = p.parse_args(argv)
    train = TrainConfig(epochs=a.epochs, batch_size=a.batch_size, learning_rate=a.lr, max_length=a.max_length,
                        patience=a.patience, max_steps=a.max_steps, bf16=a.bf16, class_weights=a.class_weights,
                        seed=a.seed)
    return SentimentConfig(data_dir=a.data_dir, reviews=a.reviews, text_col=a.text_col, rating_col=a.rating_col,
                           label_col=a.label_col, model=a.model, out=a.out, max_rows=a.max_rows, train=train)


def main(argv: list[str] | None = None) -> dict:
    return run_sentiment(parse_args(argv))


if __name__ == "__main__":
    run_cli(main)
