"""Training throughput: our setup vs the seed's and vs ours before, same model, same reviews, one run.

    python bench/train_speed.py --data-dir data [--model bundled:minilm-l6] [--steps 40]

Ours (moodpipe.training.train_classifier): length-grouped batches, each padded to its longest review (rounded
to a multiple of 32 on a GPU only), bf16 autocast when the CPU supports it. Ours before: the same, rounded to a
multiple of 32 on the CPU too. The seed's: random batches padded to 128 tokens, fp32.
Both run the Hugging Face Trainer for the same number of optimizer steps at the same batch size;
the first steps are warm-up and both pay it. Prints examples/s of each and the ratio.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moodpipe.data.reviews import LABELS, load_reviews, split_reviews  # noqa: E402
from moodpipe.models import training  # noqa: E402
from moodpipe.models.training import TrainConfig, tokenize_dataset, train_classifier  # noqa: E402
from moodpipe.models.weights import resolve_model  # noqa: E402
from moodpipe.paths import REVIEWS, resolve_data_dir  # noqa: E402
from moodpipe.runtime import precision_for, resolve_runtime, set_seed  # noqa: E402

_pad_multiple = training.pad_multiple


def load_model(path: str):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(LABELS))
    return model, tokenizer


def time_ours(path: str, texts: list[str], labels: list[int], steps: int, batch: int, work: Path,
              multiple: int | None = None) -> float:
    """Our setup; multiple=32 rounds every batch's length up as we did on the CPU before (bench/padding_waste.py)."""
    training.pad_multiple = lambda runtime: multiple if multiple else _pad_multiple(runtime)
    set_seed(0)
    model, tokenizer = load_model(path)
    data = tokenize_dataset(tokenizer, texts, labels, 128)
    cfg = TrainConfig(batch_size=batch, max_steps=steps)
    start = time.perf_counter()
    train_classifier(model, tokenizer, data, data.select(range(batch)), cfg, work / "ours", compute_metrics=None,
                     runtime=resolve_runtime("cpu"), seed=0, metric="loss")
    return steps * batch / (time.perf_counter() - start)


def time_seed_setup(path: str, texts: list[str], labels: list[int], steps: int, batch: int, work: Path) -> float:
    """The seed's way: every review padded to 128 tokens, random batches, fp32."""
    import torch
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments, default_data_collator
    set_seed(0)
    model, tokenizer = load_model(path)
    enc = tokenizer(texts, truncation=True, max_length=128, padding="max_length")
    data = Dataset.from_dict({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
                              "labels": labels})
    args = TrainingArguments(output_dir=str(work / "seed"), max_steps=steps, per_device_train_batch_size=batch,
                             learning_rate=5e-5, save_strategy="no", report_to="none", bf16=False,
                             use_cpu=not torch.cuda.is_available(), seed=0, logging_steps=steps)
    start = time.perf_counter()
    Trainer(model=model, args=args, train_dataset=data, data_collator=default_data_collator).train()
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", help="input folder (default: $DATA_DIR, else data/)")
    p.add_argument("--model", default="auto", help="model for both setups (default: auto)")
    p.add_argument("--steps", type=int, default=40, help="optimizer steps per setup (default: 40)")
    p.add_argument("--batch-size", type=int, default=32, help="default: 32")
    a = p.parse_args()
    df, _ = load_reviews(resolve_data_dir(a.data_dir) / REVIEWS, None, None, None)
    train = split_reviews(df, seed=42)["train"]
    texts, labels = train.text.tolist(), train.label.tolist()
    resolved = resolve_model(a.model, "en")
    with tempfile.TemporaryDirectory() as tmp:
        seed_rate = time_seed_setup(resolved.path, texts, labels, a.steps, a.batch_size, Path(tmp))
        before_rate = time_ours(resolved.path, texts, labels, a.steps, a.batch_size, Path(tmp), multiple=32)
        ours_rate = time_ours(resolved.path, texts, labels, a.steps, a.batch_size, Path(tmp))
    print(f"model: {resolved.name}; {a.steps} steps x batch {a.batch_size} on {len(texts)} training reviews")
    print(f"seed setup (pad to 128, random batches, fp32): {seed_rate:6.1f} examples/s")
    print(f"our setup (length-grouped, dynamic padding, precision={precision_for('cpu')}): {ours_rate:6.1f} examples/s")
    print(f"ours before (the same, rounded to a multiple of 32): {before_rate:6.1f} examples/s")
    print(f"speed-up: {ours_rate / seed_rate:.2f}x over the seed's, {ours_rate / before_rate:.2f}x over ours before")


if __name__ == "__main__":
    main()
