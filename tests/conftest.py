"""Fixtures shared by the test files: tiny tokenizers and models built from configs, so tests
need no network and no downloaded weights."""

from __future__ import annotations

import json
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


def write_tiny_mobilebert(folder: Path) -> Path:
    """A randomly initialised 2-layer MobileBERT with a tiny vocabulary, saved as a model folder."""
    from transformers import MobileBertConfig, MobileBertModel
    write_wordpiece_tokenizer(folder)
    config = MobileBertConfig(vocab_size=len(WORDS) + 5, hidden_size=32, embedding_size=16, num_hidden_layers=2,
                              num_attention_heads=2, intermediate_size=32, intra_bottleneck_size=16,
                              true_hidden_size=16, num_feedforward_networks=1, max_position_embeddings=64)
    MobileBertModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_mobilebert(tmp_path_factory) -> Path:
    return write_tiny_mobilebert(tmp_path_factory.mktemp("tiny_mobilebert"))


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory, tiny_mobilebert):
    """One main.py --quick run with tiny models (a MobileBERT for reviews, a character-level BERT for the rest):
    (output root, argv, run). Shared by the tests that read its outputs (test_main) and those that copy, damage or
    interrupt them (test_bad_inputs, test_resume); a test that changes them in place puts them back."""
    from test_lyrics_emotion import corpus_rows
    from test_main import write_data_dir, write_lyrics

    import main as pipeline
    root = tmp_path_factory.mktemp("pipeline")
    data = write_data_dir(root / "data")
    texts = [r[k] for r in corpus_rows() for k in ("사람문장1", "사람문장2", "사람문장3")]
    encoder = write_char_bert(root / "encoder", texts)
    argv = ["--quick", "--offline", "--data-dir", str(data), "--out", str(root / "out"), "--lyrics",
            str(write_lyrics(root / "songs.csv")), "--sentiment-model", str(tiny_mobilebert),
            "--emotion-model", str(encoder), "--english-model", str(encoder)]
    run = pipeline.main(argv)
    return root / "out", argv, run


def write_tiny_roberta(folder: Path, texts: list[str]) -> Path:
    """A random 2-layer RoBERTa (hidden 32) with a byte-level BPE vocabulary learned from texts."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizerFast
    folder.mkdir(parents=True, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=400, min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], show_progress=False)
    vocab = json.loads(bpe.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in vocab["merges"]]
    tokenizer = RobertaTokenizerFast(vocab=vocab["vocab"], merges=merges, model_max_length=512)
    tokenizer.save_pretrained(folder)
    bpe.save_model(str(folder))  # vocab.json and merges.txt beside tokenizer.json, as in roberta-base
    torch.manual_seed(0)
    RobertaModel(RobertaConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                               intermediate_size=64, max_position_embeddings=514, pad_token_id=1, bos_token_id=0,
                               eos_token_id=2)).save_pretrained(folder)
    return folder


def in_mobilebert_uncased_layout(folder: Path) -> Path:
    """google/mobilebert-uncased's layout: pytorch_model.bin (no safetensors) and vocab.txt alone (no tokenizer.json
    or tokenizer_config.json; AutoTokenizer builds the uncased tokenizer from config.json's model type)."""
    import torch
    from safetensors.torch import load_file
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    for name in ("model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        (folder / name).unlink()
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    return folder


# Files the seed repositories also hold that no stage loads: a download must leave them on the hub.
NOT_FOR_PYTORCH = {"tf_model.h5": b"TF weights", "flax_model.msgpack": b"Flax weights", "rust_model.ot": b"Rust"}


@pytest.fixture(scope="session")
def hub_repos(tmp_path_factory) -> dict[str, tuple[Path, dict[str, bytes]]]:
    """Tiny models (hidden 32, 2 layers) in the layouts of the three seed repositories: repo id ->
    (folder, extra files to serve). klue/bert-base has both weight formats; only one may be fetched."""
    from test_lyrics_emotion import LYRICS, corpus_rows  # the Korean texts the tests train and score on
    root = tmp_path_factory.mktemp("hub_repos")
    korean = [r[k] for r in corpus_rows() for k in ("사람문장1", "사람문장2", "사람문장3")] + LYRICS
    english = POSITIVE + NEGATIVE + [f"so {w} {i}" for w in ("angry", "happy") for i in range(24)]
    mobilebert = in_mobilebert_uncased_layout(write_tiny_mobilebert(root / "mobilebert"))
    return {
        "google/mobilebert-uncased": (mobilebert, NOT_FOR_PYTORCH),
        "klue/bert-base": (write_char_bert(root / "klue", korean), {"pytorch_model.bin": b"not fetched"}),
        "roberta-base": (write_tiny_roberta(root / "roberta", english), NOT_FOR_PYTORCH),
    }


@pytest.fixture
def hub(hub_repos, tmp_path, monkeypatch):
    """The hub stand-in serving hub_repos, with HF_ENDPOINT pointing at it, HF_HUB_OFFLINE unset and an
    empty Hugging Face cache under tmp_path. Stopped (if a test has not stopped it) at the end."""
    import huggingface_hub.constants as hf_constants
    from hub_standin import HubStandin
    server = HubStandin()
    for repo_id, (folder, extra) in hub_repos.items():
        server.add_repo(repo_id, folder, extra)
    server.start()
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    # huggingface_hub reads these once, at import: set them too, so that the stand-in's models can never
    # land in the real cache (where `auto` would later take them for the real ones)
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf-home" / "hub"))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    yield server
    server.stop()


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


@pytest.fixture(scope="session")
def app_root(tmp_path_factory) -> Path:
    """An output root with a tiny saved emotion model and 40 songs scored by it (tests/app_fixtures.py); the
    tests read it and never write into it."""
    from app_fixtures import write_app_root
    return write_app_root(tmp_path_factory.mktemp("app_root"))


def set_viewport(driver, width: int, height: int, mobile: bool) -> None:
    """Emulate a screen in headless Chromium: 1400x1000 desktop, or a 390x844 phone (mobile viewport rules)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                                                                  "deviceScaleFactor": 1, "mobile": mobile})


def horizontal_overflow(driver) -> int:
    """How many CSS pixels the page is wider than the screen (0: no horizontal scroll)."""
    return driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
