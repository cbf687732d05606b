"""predict_sample.py's speed: cold start (one sentence, end to end) and warm throughput, for ONNX Runtime
and PyTorch, against a plain transformers pipeline on the same saved model.

    python bench/predict_speed.py --data-dir data [--model saved_model/sentiment] [--n 800]

Batch: the first --n test reviews (data/processed/test_data.csv, else the raw reviews) classified
in one call by each side; the pipeline is timed at its default (one at a time) and at batch 32.
Single: --single sentences, one call each. Also prints how closely our answers match the plain
fp32 pipeline (label agreement and the largest probability difference): PyTorch uses bf16 autocast
where the CPU supports it, ONNX Runtime runs fp32.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from moodpipe.data.reviews import load_reviews  # noqa: E402
from moodpipe.models.sentiment_predictor import load_predictor, predict_sentences  # noqa: E402
from moodpipe.paths import REVIEWS, resolve_data_dir  # noqa: E402
from moodpipe.runtime import resolve_runtime  # noqa: E402


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


def cold_start(model: str, runtime: str, repeats: int = 3) -> float:
    """Seconds for `python predict_sample.py "one sentence"` end to end, as a user sees it (best of repeats)."""
    command = [sys.executable, str(ROOT / "predict_sample.py"), "This app keeps crashing", "--model", model,
               "--runtime", runtime]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="saved_model/sentiment", help="saved model folder")
    p.add_argument("--data-dir", help="input folder (default: $DATA_DIR, else data/)")
    p.add_argument("--test-csv", default="data/processed/test_data.csv", help="texts to classify")
    p.add_argument("--n", type=int, default=800, help="sentences in the batch test (default: 800)")
    p.add_argument("--single", type=int, default=50, help="sentences in the one-at-a-time test (default: 50)")
    a = p.parse_args()
    cold = {runtime: cold_start(a.model, runtime) for runtime in ("onnx", "torch")}
    import torch
    from transformers import pipeline

    texts = review_texts(Path(a.test_csv), a.data_dir, a.n)
    ours = load_predictor(a.model, resolve_runtime("cpu"), engine="torch")  # bf16 where this CPU runs it
    onnx = load_predictor(a.model, engine="onnx")
    plain = pipeline("text-classification", model=a.model, device="cpu", truncation=True, max_length=128)
    labels = ours.labels
    for warm_up in (ours, onnx):
        predict_sentences(warm_up, texts[:64])
    plain(texts[:8], top_k=None)

    t_ours, ours_out = timed(predict_sentences, ours, texts)
    t_onnx, onnx_out = timed(predict_sentences, onnx, texts)
    t_plain1, plain_out = timed(plain, texts, top_k=None)
    t_plain32, _ = timed(plain, texts, top_k=None, batch_size=32)
    singles = texts[: a.single]
    t_ours_single, _ = timed(lambda: [predict_sentences(ours, [t]) for t in singles])
    t_onnx_single, _ = timed(lambda: [predict_sentences(onnx, [t]) for t in singles])
    t_plain_single, _ = timed(lambda: [plain(t, top_k=None) for t in singles])

    ref = pipeline_probs(plain_out, labels)
    ours_probs, onnx_probs = result_probs(ours_out, labels), result_probs(onnx_out, labels)
    # The road not taken: dynamic int8 on the same path (faster, but is it the same model?).
    fp32 = load_predictor(a.model, resolve_runtime("cpu", "fp32"), engine="torch")
    int8 = replace(fp32, model=torch.ao.quantization.quantize_dynamic(fp32.model, {torch.nn.Linear}, dtype=torch.qint8))
    predict_sentences(int8, texts[:64])
    t_int8, int8_out = timed(predict_sentences, int8, texts)
    int8_probs = result_probs(int8_out, labels)

    print(f"model: {a.model}")
    print(f"cold start, `predict_sample.py \"one sentence\"` end to end: ONNX Runtime {cold['onnx']:.2f} s | "
          f"PyTorch {cold['torch']:.2f} s | {cold['torch'] / cold['onnx']:.2f}x")
    print(f"warm, batch of {len(texts)}: ONNX {len(texts) / t_onnx:7.1f}/s | PyTorch ({ours.precision}) "
          f"{len(texts) / t_ours:7.1f}/s | pipeline default {len(texts) / t_plain1:7.1f}/s | pipeline batch 32 "
          f"{len(texts) / t_plain32:7.1f}/s")
    print(f"  vs pipeline default: ONNX {t_plain1 / t_onnx:.2f}x, PyTorch {t_plain1 / t_ours:.2f}x")
    print(f"warm, single sentence ({len(singles)} calls): ONNX {1000 * t_onnx_single / len(singles):.1f} ms | "
          f"PyTorch {1000 * t_ours_single / len(singles):.1f} ms | "
          f"pipeline {1000 * t_plain_single / len(singles):.1f} ms")
    for name, probs in (("ONNX", onnx_probs), (f"PyTorch {ours.precision}", ours_probs),
                        ("(not used) dynamic int8", int8_probs)):
        print(f"agreement of {name} with the fp32 pipeline: labels {(probs.argmax(1) == ref.argmax(1)).mean():.4f}; "
              f"max |prob diff| {np.abs(probs - ref).max():.4f}; mean {np.abs(probs - ref).mean():.4f}")
    print(f"(not used) dynamic int8 speed: {len(texts) / t_int8:7.1f}/s")


if __name__ == "__main__":
    main()
