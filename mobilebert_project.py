"""Review sentiment: fine-tune MobileBERT (or the bundled offline encoder) on Spotify app reviews.

    python mobilebert_project.py                      # data from --data-dir / $DATA_DIR / data/
    python mobilebert_project.py --data-dir data --model bundled:minilm-l6
    python mobilebert_project.py --device cuda        # on a GPU (bf16 where it supports it, else fp16; --precision)
    torchrun --nproc_per_node=2 mobilebert_project.py # one process per GPU (DDP); one writes the outputs

Stars become labels (1-2 negative, 4-5 positive, 3 dropped), exact duplicate texts are removed
before a stratified 80/10/10 split (so no text is on two sides), and the model is trained with
the Hugging Face Trainer. Outputs (under --out, default the repository root):
    data/processed/{train,val,test}_data.csv     the split exactly as used
    saved_model/sentiment/                       model, tokenizer, metrics.json, model card,
                                                 trainer_log.json, test_predictions.csv
"""

from __future__ import annotations

from moodpipe.cli import (
    config_from_args,
    new_parser,
    non_negative_int,
    positive_float,
    positive_int,
    run_cli,
)
from moodpipe.context import RunContext, add_run_options, run_context
from moodpipe.contract import ACCURACY, MACRO_F1, TFIDF_WORDS
from moodpipe.data.reviews import RATING_COLUMNS, TEXT_COLUMNS
from moodpipe.models.training import TrainConfig
from moodpipe.runtime import is_main_process
from moodpipe.stages.sentiment import SentimentConfig, run_sentiment


def parse_args(argv: list[str] | None = None) -> tuple[RunContext, SentimentConfig]:
    d = SentimentConfig()
    t = d.train
    p = new_parser(__doc__)
    add_run_options(p, out="output root for data/processed and saved_model (default: .)")
    p.add_argument("--reviews", default=d.reviews, help="reviews CSV, relative to --data-dir or a path "
                   f"(default: {d.reviews})")
    p.add_argument("--text-col", help=f"text column (default: first of {', '.join(TEXT_COLUMNS)})")
    p.add_argument("--rating-col", help=f"1-5 star column (default: first of {', '.join(RATING_COLUMNS)})")
    p.add_argument("--label-col", help="an already-labelled 0/1 column to use instead of stars")
    p.add_argument("--model", default=d.model, help="auto | hub id | local folder | bundled:minilm-l6 "
                   "(auto: google/mobilebert-uncased when reachable, else bundled:minilm-l6)")
    p.add_argument("--max-rows", type=positive_int, help="use a stratified sample of this many reviews (quick runs)")
    p.add_argument("--epochs", type=positive_float, default=t.epochs, help=f"maximum epochs (default: {t.epochs})")
    p.add_argument("--batch-size", type=positive_int, default=t.batch_size,
                   help=f"per device (default: {t.batch_size})")
    p.add_argument("--lr", dest="learning_rate", type=positive_float, default=t.learning_rate,
                   help=f"learning rate (default: {t.learning_rate})")
    p.add_argument("--max-length", type=positive_int, default=t.max_length,
                   help=f"tokens per review (default: {t.max_length})")
    p.add_argument("--patience", type=non_negative_int, default=t.patience, help="early-stopping patience in epochs")
    p.add_argument("--max-steps", type=positive_int, default=t.max_steps, help="cap on optimizer steps (tests)")
    p.add_argument("--class-weights", action="store_true", help="weight the loss by inverse class frequency")
    args = p.parse_args(argv)
    return run_context(args), config_from_args(SentimentConfig, args, train=config_from_args(TrainConfig, args))


def print_summary(metrics: dict, ctx: RunContext) -> None:
    t, b = metrics["test"], metrics["baselines"][TFIDF_WORDS]
    print(f"sentiment: test accuracy {t[ACCURACY]:.3f} macro-F1 {t[MACRO_F1]:.3f} "
          f"(TF-IDF {b[ACCURACY]:.3f} / {b[MACRO_F1]:.3f}); saved to {ctx.layout.sentiment_model} "
          f"on {metrics['runtime']['device']} ({metrics['runtime']['precision']})")


def main(argv: list[str] | None = None) -> dict:
    ctx, cfg = parse_args(argv)
    with ctx.hold():  # one run per output root
        metrics = run_sentiment(ctx, cfg)  # read -> split -> baselines -> fine-tune -> evaluate -> save
    if is_main_process():
        print_summary(metrics, ctx)
    return metrics


if __name__ == "__main__":
    run_cli(main)
