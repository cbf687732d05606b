"""Fixtures shared by the test files: tiny tokenizers and models built from configs, so tests
need no network and no downloaded weights."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the stage scripts live at the top level

WORDS = ("the a app is i it this love great good best music songs playlist works fine awesome nice "
         "bad crash crashes keeps ads terrible worst slow broken hate bug buggy update annoying not "
         "very so really too many always never again").split()


def write_wordpiece_tokenizer(folder: Path, words: list[str] = WORDS) -> Path:
    """A BERT WordPiece tokenizer over a handful of words, saved like a real one."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    save_bert_tokenizer(folder, vocab, lowercase=True)
    return folder


def save_bert_tokenizer(folder: Path, vocab: list[str], lowercase: bool) -> None:
    """Passed as a dict: transformers 5 ignores vocab_file=, leaving a tokenizer that knows only the
    special tokens and turns every text into [UNK]."""
    from transformers import BertTokenizerFast
    tokenizer = BertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)}, do_lower_case=lowercase)
    assert tokenizer.vocab_size == len(vocab)
    tokenizer.save_pretrained(folder)


def write_char_bert(folder: Path, texts: list[str]) -> Path:
    """A random 2-layer BERT (hidden 32) whose WordPiece vocabulary is the characters of texts."""
    import torch
    from transformers import BertConfig, BertModel
    folder.mkdir(parents=True, exist_ok=True)
    chars = sorted({ch for t in texts for ch in t} - {" ", "\n"})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *[f"##{c}" for c in chars]]
    save_bert_tokenizer(folder, vocab, lowercase=False)  # lower-casing would NFD-split Hangul into jamo
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=128)).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_mobilebert(tmp_path_factory) -> Path:
    """A randomly initialised 2-layer MobileBERT with a tiny vocabulary, saved as a model folder."""
    from transformers import MobileBertConfig, MobileBertModel
    folder = write_wordpiece_tokenizer(tmp_path_factory.mktemp("tiny_mobilebert"))
    config = MobileBertConfig(vocab_size=len(WORDS) + 5, hidden_size=32, embedding_size=16, num_hidden_layers=2,
                              num_attention_heads=2, intermediate_size=32, intra_bottleneck_size=16,
                              true_hidden_size=16, num_feedforward_networks=1, max_position_embeddings=64)
    MobileBertModel(config).save_pretrained(folder)
    return folder


POSITIVE = ["love this app", "great music", "best playlist app", "works fine", "awesome songs", "nice app",
            "good music", "i love the playlist", "really great app", "this app is the best"]
NEGATIVE = ["app keeps crashing", "too many ads", "terrible update", "worst app", "so slow", "broken again",
            "i hate the ads", "buggy update", "really annoying ads", "it crashes always"]


MAJORS = {"슬픔": ["슬픔", "눈물이나는", "외로운"], "기쁨": ["기쁨", "신이난", "감사하는"],
          "분노": ["분노", "짜증내는", "가난한/불우한"]}  # a sub label with a '/' in it, as in the real codebook
COLUMNS = [f"emo:{m}/{s}" for m, subs in MAJORS.items() for s in subs]


def write_song_vectors(folder: Path, titles: list[str], artists: list[str], probs=None,
                       release_dates: list[str] | None = None) -> Path:
    """<folder>/results/song_emotions.csv like lyrics_emotion.py score writes: metadata, emo: probability
    columns and their major: sums (random Dirichlet rows unless probs is given)."""
    import numpy as np
    n = len(titles)
    probs = np.random.default_rng(0).dirichlet(np.full(len(COLUMNS), 0.5), size=n) if probs is None else probs
    df = pd.DataFrame({"song_id": np.arange(1000, 1000 + n), "song_name": titles, "artist": artists,
                       "album": "앨범", "release_date": release_dates or [f"{2000 + i}.01.01" for i in range(n)],
                       "genre": "발라드"})
    for j, c in enumerate(COLUMNS):
        df[c] = probs[:, j]
    for m in MAJORS:
        df[f"major:{m}"] = df[[c for c in COLUMNS if c.startswith(f"emo:{m}/")]].sum(axis=1)
    path = folder / "results" / "song_emotions.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
    return path


def write_reviews(path, n_copies: int = 4, extra: list[dict] | None = None) -> pd.DataFrame:
    """Unique texts (a number appended) with 5/4 or 1/2 stars, plus a few 3-star and duplicate rows."""
    rows = []
    for k in range(n_copies):
        rows += [{"content": f"{t} {k}", "score": 5 - (k % 2)} for t in POSITIVE]
        rows += [{"content": f"{t} {k}", "score": 1 + (k % 2)} for t in NEGATIVE]
    rows += [{"content": "it is fine", "score": 3}, {"content": "love this app 0", "score": 5}, {"content": "  ",
                                                                                                 "score": 1}]
    df = pd.DataFrame(rows + (extra or []))
    df.to_csv(path, index=False)
    return df
