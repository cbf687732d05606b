"""Ask the trained sentiment model about any sentence.

    python predict_sample.py "This app keeps crashing"
    python predict_sample.py "Love the playlists" "Too many ads" --json
    python predict_sample.py --file reviews.txt          # one sentence per line; - reads stdin

The model (default saved_model/sentiment, made by mobilebert_project.py) is loaded once and the
sentences are predicted in length-sorted batches, under bf16 autocast when the CPU supports it
(bench/predict_speed.py measures the speed-up and the agreement with plain fp32).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common import InputError, run_cli
from models import predict_logits, use_bf16

DEFAULT_MODEL = "saved_model/sentiment"


@dataclass
class Predictor:
    model: object
    tokenizer: object
    labels: list[str]
    bf16: bool
    max_length: int


def load_predictor(model_dir: str | Path = DEFAULT_MODEL, precision: str = "auto", max_length: int = 128) -> Predictor:
    """Load a saved classifier once; precision auto|bf16|fp32 (auto: bf16 when the CPU does it natively)."""
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise InputError(f"no trained model in {model_dir}: run `python mobilebert_project.py` first "
                         "(or pass --model FOLDER)")
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()  # a weight-loading bar would drown a one-line answer
    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    bf16 = use_bf16({"bf16": "yes", "fp32": "no"}.get(precision, precision))
    return Predictor(model.eval(), tokenizer, labels, bf16, max_length)


def predict_sentences(predictor: Predictor, sentences: list[str], batch_size: int = 64) -> list[dict]:
    """[{text, label, probability, probabilities}] in the order given."""
    logits = predict_logits(predictor.model, predictor.tokenizer, sentences, batch_size=batch_size,
                            max_length=predictor.max_length, bf16=predictor.bf16, progress=len(sentences) > 1000)
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    return [{"text": text, "label": predictor.labels[int(p.argmax())], "probability": round(float(p.max()), 4),
             "probabilities": {name: round(float(v), 4) for name, v in zip(predictor.labels, p, strict=True)}}
            for text, p in zip(sentences, probs, strict=True)]


def read_sentences(args: argparse.Namespace) -> list[str]:
    """Sentences from the arguments and --file; blank lines in a file are skipped, blank arguments refused."""
    sentences = []
    for i, text in enumerate(args.sentences, 1):
        if not text.strip():
            raise InputError(f"sentence {i} is empty: give some text, e.g. python predict_sample.py \"Great app\"")
        sentences.append(text.strip())
    if args.file:
        try:
            lines = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError(f"--file {args.file}: no such file") from None
        except UnicodeDecodeError:
            raise InputError(f"--file {args.file} is not UTF-8 text: re-save it as UTF-8") from None
        sentences += [line.strip() for line in lines.splitlines() if line.strip()]
    if not sentences:
        raise InputError("nothing to predict: pass sentences as arguments or --file FILE (one per line)")
    return sentences


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sentences", nargs="*", help="sentences to classify")
    p.add_argument("--file", help="a UTF-8 text file with one sentence per line (- for stdin)")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"trained model folder (default: {DEFAULT_MODEL})")
    p.add_argument("--json", action="store_true", help="print one JSON list instead of a table")
    p.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"],
                   help="auto: bf16 autocast when the CPU supports it natively, else fp32")
    p.add_argument("--batch-size", type=int, default=64, help="sentences per forward pass (default: 64)")
    p.add_argument("--max-length", type=int, default=128, help="tokens per sentence (default: 128)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    sentences = read_sentences(args)
    predictor = load_predictor(args.model, args.precision, args.max_length)
    results = predict_sentences(predictor, sentences, args.batch_size)
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
    else:
        for r in results:
            print(f"{r['label']:<9} {r['probability']:.3f}  {r['text']}")
    return results


if __name__ == "__main__":
    run_cli(main)
