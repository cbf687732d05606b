"""Padding waste in the training batches: how many of the tokens each stage's Trainer computes are padding,
under random batches, under length-grouped batches (ours), and with the batch length rounded up to a multiple
of 8 or 32 (32 was ours on every device before; now only on a GPU). Tokenization only: no model runs. And one
waste of scoring: the chunks that repeat one already read (a song listed twice, a chorus packed alike).

    python bench/padding_waste.py --data-dir data

Each stage's training texts, tokenizer, max length and batch size are the full run's. Length grouping is
simulated as the Hugging Face sampler does it: megabatches of 50 batches, sorted by length inside.
Prints one row per stage and setup: pad share and the tokens computed per epoch, and the ratio of the
tokens with rounding to 32 over those without (the most a CPU training step can gain: its time grows
with the tokens, bench/train_speed.py measures steps). Then the scoring stage's chunks of the lyrics CSV (AI-Hub
model's tokenizer and max length): how many, how many distinct, and the share of tokens in repeats, the most
that reading each distinct chunk once could save.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moodpipe.data.aihub import prepare_aihub  # noqa: E402
from moodpipe.data.goemotions import read_goemotions  # noqa: E402
from moodpipe.data.kote import kote_present, read_kote  # noqa: E402
from moodpipe.data.reviews import load_reviews, split_reviews  # noqa: E402
from moodpipe.files import read_csv_checked  # noqa: E402
from moodpipe.models.emotion_finetune import TRAIN_DEFAULTS  # noqa: E402
from moodpipe.models.emotion_predictor import chunk_texts  # noqa: E402
from moodpipe.models.song_vectors import lyric_halves  # noqa: E402
from moodpipe.models.weights import resolve_model  # noqa: E402
from moodpipe.paths import CORPUS_DIR, GOEMOTIONS_DIR, REVIEWS, find_lyrics, resolve_data_dir  # noqa: E402
from moodpipe.stages.sentiment import SentimentConfig  # noqa: E402

MEGABATCH = 50  # transformers' LengthGroupedSampler: batches per sorted megabatch


def batch_tokens(lengths: np.ndarray, batch: int, grouped: bool, multiple: int | None, seed: int = 0) -> int:
    """Tokens computed for one epoch: each batch padded to its longest text (rounded up to `multiple`)."""
    order = np.random.default_rng(seed).permutation(len(lengths))
    shuffled = lengths[order]
    if grouped:
        step = batch * MEGABATCH
        shuffled = np.concatenate([np.sort(shuffled[i:i + step])[::-1] for i in range(0, len(shuffled), step)])
    total = 0
    for i in range(0, len(shuffled), batch):
        longest = int(shuffled[i:i + batch].max())
        if multiple:
            longest = -(-longest // multiple) * multiple
        total += longest * len(shuffled[i:i + batch])
    return total


def stage_texts(data_dir: Path) -> dict[str, tuple[str, str, list[str], int, int]]:
    """Each stage whose data is here: (model, language, training texts, max length, batch size)."""
    found = {}
    if (data_dir / REVIEWS).is_file():
        train = split_reviews(load_reviews(data_dir / REVIEWS, None, None, None)[0], seed=42)["train"]
        cfg = SentimentConfig().train
        found["sentiment"] = ("auto", "en", train.text.tolist(), cfg.max_length, cfg.batch_size)
    if (data_dir / CORPUS_DIR).exists():
        units = prepare_aihub(data_dir / CORPUS_DIR, "dialogue", True, 42, None, None, None, write=False)[0]
        cfg = TRAIN_DEFAULTS["aihub"]
        found["emotion (AI-Hub)"] = ("auto", "ko", units["train"].text.tolist(), cfg.max_length, cfg.batch_size)
    if (data_dir / GOEMOTIONS_DIR).exists():
        cfg = TRAIN_DEFAULTS["goemotions"]
        texts = read_goemotions(data_dir)[0]["train"].text.tolist()
        found["goemotions"] = ("auto", "en", texts, cfg.max_length, cfg.batch_size)
    if kote_present(data_dir):
        cfg = TRAIN_DEFAULTS["kote"]
        found["emotion (KOTE)"] = ("auto", "ko", read_kote(data_dir, 42)[0]["train"].text.tolist(), cfg.max_length,
                                   cfg.batch_size)
    return found


def repeated_chunks(tokenizer, lyrics: list[str], max_length: int) -> tuple[int, int, float]:
    """The scoring stage's chunks of these lyrics: (chunks, distinct chunks, share of their tokens in repeats)."""
    parts = [(units, sep) for a, b, sep in map(lyric_halves, lyrics) for units in (a, b)]
    chunks, _, tokens = chunk_texts(tokenizer, parts, max_length)
    seen, repeated = set(), 0
    for chunk, n in zip(chunks, tokens, strict=True):
        repeated += n if chunk in seen else 0
        seen.add(chunk)
    return len(chunks), len(seen), repeated / max(sum(tokens), 1)


def print_repeated_chunks(data_dir: Path) -> None:
    from transformers import AutoTokenizer
    path = find_lyrics(data_dir)
    if not path.is_file():
        return
    lyrics = read_csv_checked(path, "pass --data-dir").lyrics.fillna("").astype(str)
    lyrics = lyrics[lyrics.str.strip() != ""].tolist()
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("auto", "ko").path)
    n, distinct, share = repeated_chunks(tokenizer, lyrics, TRAIN_DEFAULTS["aihub"].max_length)
    print(f"\nscoring {path.name}: {len(lyrics)} songs, {n:,} chunks, {distinct:,} distinct; "
          f"{share:.2%} of their tokens repeat a chunk already read")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", help="input folder (default: $DATA_DIR, else data/)")
    a = p.parse_args()
    from transformers import AutoTokenizer
    print("| stage | texts | setup | pad share | tokens per epoch |\n|---|---|---|---|---|")
    for stage, (model, language, texts, max_length, batch) in stage_texts(resolve_data_dir(a.data_dir)).items():
        tokenizer = AutoTokenizer.from_pretrained(resolve_model(model, language).path)
        lengths = np.array([len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]])
        setups = {"random batches": (False, None), "length-grouped (ours)": (True, None),
                  "length-grouped, multiple of 8": (True, 8), "length-grouped, multiple of 32": (True, 32)}
        tokens = {name: batch_tokens(lengths, batch, *setup) for name, setup in setups.items()}
        for name, n in tokens.items():
            print(f"| {stage} | {len(texts)} | {name} | {1 - lengths.sum() / n:.2f} | {n:,} |")
        ratio = tokens["length-grouped, multiple of 32"] / tokens["length-grouped (ours)"]
        print(f"| {stage} | | multiple of 32 / ours | | {ratio:.2f}x |")
    print_repeated_chunks(resolve_data_dir(a.data_dir))


if __name__ == "__main__":
    main()
