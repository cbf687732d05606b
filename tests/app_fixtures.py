"""An output root the app and the page can run on, made in seconds: a tiny untrained emotion model (a random
2-layer BERT, hidden 32, with an emotion head over the fixture's 9 labels) saved like lyrics_emotion.py saves
one, and a catalogue of songs scored by that very model (probabilities and `features`), so a text query lands
in the same space as the songs, as in a real run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from conftest import COLUMNS, write_char_bert, write_song_vectors

SONG_WORDS = ["눈물", "비", "이별", "그리워", "사랑", "봄날", "햇살", "웃음", "화가 나", "짜증", "혼자", "밤",
              "기뻐", "신나", "고마워", "외로워", "춤", "바다", "꽃", "바람"]
TEXTS = ["비 오는 날 헤어진 연인이 그리워", "I feel so happy today", "혼자 있는 밤이 외로워"]


def song_lyrics(n: int) -> list[str]:
    """n short 'lyrics', each three lines of fixture words (seeded)."""
    rng = np.random.default_rng(3)
    return ["\n".join(" ".join(rng.choice(SONG_WORDS, 3)) for _ in range(3)) for _ in range(n)]


def write_emotion_model(folder: Path) -> Path:
    """An EmotionClassifier over COLUMNS' labels, untrained (random but fixed), with its tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig

    from moodpipe.models.heads import EmotionClassifier, EmotionHeadConfig
    encoder = write_char_bert(folder.parent / "encoder", SONG_WORDS + TEXTS)
    labels = [c.removeprefix("emo:") for c in COLUMNS]
    config = EmotionHeadConfig(encoder=BertConfig.from_pretrained(encoder).to_dict(), head="plain",
                               num_labels=len(labels), id2label=dict(enumerate(labels)),
                               label2id={k: i for i, k in enumerate(labels)}, train_max_length=64)
    torch.manual_seed(1)
    EmotionClassifier(config).eval().save_pretrained(folder)
    AutoTokenizer.from_pretrained(encoder).save_pretrained(folder)
    return folder


def write_app_root(root: Path, n_songs: int = 40) -> Path:
    """root/saved_model/emotion (the model), root/results/song_emotions.csv and its .embeddings.npz (every
    song scored by that model), artists shared by a few songs each, years 2000.., one song without a year."""
    from moodpipe.models.emotion_predictor import score_texts
    from moodpipe.runtime import resolve_runtime
    model = write_emotion_model(root / "saved_model" / "emotion")
    scored = score_texts(str(model), song_lyrics(n_songs), resolve_runtime("cpu", "fp32"), embeddings=("features",))
    titles = [f"노래 {i}" if i % 3 else f"Song {i}" for i in range(n_songs)]
    artists = [f"가수{i % 6}" for i in range(n_songs)]
    dates = ["" if i == 5 else f"{2000 + i % 20}.03.01" for i in range(n_songs)]
    path = write_song_vectors(root, titles, artists, probs=scored["probs"], release_dates=dates)
    ids = np.array([str(1000 + i) for i in range(n_songs)])
    np.savez(path.with_suffix(".embeddings.npz"), song_id=ids, features=scored["features"])
    (root / "results" / "representation.json").write_text(json.dumps({"representation": "features"}))
    return root
