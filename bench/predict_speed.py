"""Prediction throughput: predict_sample.py's path vs a plain transformers pipeline, same saved model.

    python bench/predict_speed.py --data-dir ../shared/data [--model saved_model/sentiment] [--n 800]

Batch: the first --n test reviews (data/processed/test_data.csv, else the raw reviews) classified
in one call by each side; the pipeline is timed at its default (one at a time) and at batch 32.
Single: --single sentences, one call each. Also prints how closely our answers match the plain
fp32 pipeline (label agreement and the largest probability difference), because our path uses
bf16 autocast where the CPU supports it.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moodpipe.paths import REVIEWS, resolve_data_dir  # noqa: E402
from moodpipe.predictor import load_predictor, predict_sentences  # noqa: E402
from moodpipe.reviews import load_reviews  # noqa: E402


def review_texts(processed: Path, data_dir: str | None, n: int) -> list[str]:
    if processed.is_file():
        return pd.read_csv(processed).text.astype(str).tolist()[:n]
    df, _ = load_reviews(resolve_data_dir(data_dir) / REVIEWS, None, None, None)
    return df.text.tolist()[-n:]


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def result_probs(results: list[dict], labels: list[str]) -> np.ndarray:
    return np.array([[r["probabilities"][name] for name in labels] for r in results])


def pipeline_probs(outputs: list[list[dict]], labels: list[str]) -> np.ndarray:
    return np.array([[next(d["score"] for d in row if d["label"] == name) for name in labels] for row in outputs])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="saved_model/sentiment", help="saved model folder")
    p.add_argument("--data-dir", help="input folder (default: $DATA_DIR, else data/)")
    p.add_argument("--test-csv", default="data/processed/test_data.csv", help="texts to classify")
    p.add_argument("--n", type=int, default=800, help="sentences in the batch test (default: 800)")
    p.add_argument("--single", type=int, default=50, help="sentences in the one-at-a-time test (default: 50)")
    a = p.parse_args()
    import torch
    from transformers import pipeline

    torch.set_num_threads(torch.get_num_threads())
    texts = review_texts(Path(a.test_csv), a.data_dir, a.n)
    ours = load_predictor(a.model, device="cpu")
    plain = pipeline("text-classification", model=a.model, device="cpu", truncation=True, max_length=128)
    labels = ours.labels
    predict_sentences(ours, texts[:64])  # warm-up, both sides
    plain(texts[:8], top_k=None)

    t_ours, ours_out = timed(predict_sentences, ours, texts)
    t_plain1, plain_out = timed(plain, texts, top_k=None)
    t_plain32, _ = timed(plain, texts, top_k=None, batch_size=32)
    singles = texts[: a.single]
    t_ours_single, _ = timed(lambda: [predict_sentences(ours, [t]) for t in singles])
    t_plain_single, _ = timed(lambda: [plain(t, top_k=None) for t in singles])

    ours_probs = result_probs(ours_out, labels)
    ref = pipeline_probs(plain_out, labels)
    agree = float((ours_probs.argmax(1) == ref.argmax(1)).mean())
    # The road not taken: dynamic int8 on the same path (faster, but is it the same model?).
    fp32 = load_predictor(a.model, precision="fp32", device="cpu")
    int8 = replace(fp32, model=torch.ao.quantization.quantize_dynamic(fp32.model, {torch.nn.Linear}, dtype=torch.qint8))
    predict_sentences(int8, texts[:64])
    t_int8, int8_out = timed(predict_sentences, int8, texts)
    int8_probs = result_probs(int8_out, labels)
    print(f"model: {a.model}; our path: length-sorted batches of 64, bf16={ours.bf16}")
    print(f"batch of {len(texts)}: ours {len(texts) / t_ours:7.1f}/s | pipeline default {len(texts) / t_plain1:7.1f}/s"
          f" | pipeline batch 32 {len(texts) / t_plain32:7.1f}/s")
    print(f"  speed-up vs pipeline default: {t_plain1 / t_ours:.2f}x; vs pipeline batch 32: {t_plain32 / t_ours:.2f}x")
    print(f"single sentence ({len(singles)} calls): ours {1000 * t_ours_single / len(singles):.1f} ms | pipeline "
          f"{1000 * t_plain_single / len(singles):.1f} ms | speed-up {t_plain_single / t_ours_single:.2f}x")
    print(f"agreement with the fp32 pipeline: labels {agree:.4f}; max |prob diff| "
          f"{np.abs(ours_probs - ref).max():.4f}; mean {np.abs(ours_probs - ref).mean():.4f}")
    print(f"(not used) dynamic int8: {len(texts) / t_int8:7.1f}/s; labels agree with fp32 "
          f"{(int8_probs.argmax(1) == ref.argmax(1)).mean():.4f}; max |prob diff| {np.abs(int8_probs - ref).max():.4f}")


if __name__ == "__main__":
    main()
