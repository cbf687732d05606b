"""Ask the trained sentiment model about any sentence.

    python predict_sample.py "This app keeps crashing"
    python predict_sample.py "Love the playlists" "Too many ads" --json
    python predict_sample.py --file reviews.txt          # one sentence per line; - reads stdin

The model (default saved_model/sentiment, made by mobilebert_project.py) is loaded once and the
sentences are predicted in length-sorted batches, under bf16 autocast where the device runs it
natively (bench/predict_speed.py measures the speed-up and the agreement with plain fp32).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from moodpipe.cli import new_parser, positive_int, run_cli
from moodpipe.context import add_run_options, run_context
from moodpipe.files import InputError
from moodpipe.models.sentiment_predictor import DEFAULT_MAX_LENGTH, ENGINES, load_predictor, predict_sentences
from moodpipe.paths import Layout

DEFAULT_MODEL = str(Layout(Path(".")).sentiment_model)


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
        except IsADirectoryError:
            raise InputError(f"--file {args.file} is a folder: give a text file, one sentence per line") from None
        except OSError as e:
            raise InputError(f"--file {args.file} cannot be read: {e.strerror or e}") from None
        except UnicodeDecodeError:
            raise InputError(f"--file {args.file} is not UTF-8 text: re-save it as UTF-8") from None
        sentences += [line.strip() for line in lines.splitlines() if line.strip()]
    if not sentences:
        raise InputError("nothing to predict: pass sentences as arguments or --file FILE (one per line)")
    return sentences


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = new_parser(__doc__)
    p.add_argument("sentences", nargs="*", help="sentences to classify")
    p.add_argument("--file", help="a UTF-8 text file with one sentence per line (- for stdin)")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"trained model folder (default: {DEFAULT_MODEL})")
    p.add_argument("--json", action="store_true", help="print one JSON list instead of a table")
    add_run_options(p, out=None, data=False, seed=False)
    p.add_argument("--runtime", default="auto", choices=ENGINES, help="auto: ONNX Runtime (fp32) on a CPU when the "
                   "model folder has model.onnx and --precision is auto or fp32 (no torch at start-up: about 1 s to a "
                   "first answer), else PyTorch at --precision")
    p.add_argument("--batch-size", type=positive_int,
                   help="sentences per forward pass (default: 64 on a CPU, 256 on a GPU)")
    p.add_argument("--max-length", type=positive_int, help=f"tokens per sentence, up to the model's own limit "
                   f"(default: {DEFAULT_MAX_LENGTH}, or the model's limit when lower)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    sentences = read_sentences(args)
    predictor = load_predictor(args.model, run_context(args).runtime, args.max_length, args.runtime, args.precision)
    results = predict_sentences(predictor, sentences, args.batch_size)
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
    else:
        for r in results:
            print(f"{r['label']:<9} {r['probability']:.3f}  {r['text']}")
    return results


if __name__ == "__main__":
    run_cli(main)
