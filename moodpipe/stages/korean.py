"""Which corpus the Korean emotion model of a run comes from: AI-Hub's 감성 대화 말뭉치 when its files are in
<data-dir>/emotion_corpus/ (the default), else KOTE, the public corpus (moodpipe.data.kote). main.py's emotion,
mood and score stages and the data check all ask here, so one run never mixes the two. With both corpora in the
data directory, the emotion stage trains KOTE's model too, as an extra row in the report; songs are scored with
AI-Hub's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from moodpipe import paths
from moodpipe.data.aihub import corpus_files
from moodpipe.data.kote import kote_present
from moodpipe.files import InputError


def dataset(data_dir: str | Path) -> str:
    """aihub when its corpus is in the data directory, else kote."""
    try:
        corpus_files(Path(data_dir) / paths.CORPUS_DIR)
        return "aihub"
    except InputError:
        return "kote"


def datasets(data_dir: str | Path) -> list[str]:
    """The Korean models the emotion stage trains: dataset()'s, then KOTE's as an extra when it is there too."""
    return ["aihub", "kote"] if dataset(data_dir) == "aihub" and kote_present(Path(data_dir)) else [dataset(data_dir)]


def inputs(data_dir: str | Path) -> list[Path]:
    """The AI-Hub corpus files when there are any, and KOTE's splits when it is trained."""
    aihub = corpus_files(Path(data_dir) / paths.CORPUS_DIR) if dataset(data_dir) == "aihub" else []
    return aihub + ([Path(data_dir) / name for name in paths.KOTE_FILES] if "kote" in datasets(data_dir) else [])


def train_all(cfg, train_one: Callable[[object, str], dict]) -> dict:
    """The emotion stage: train_one(cfg, dataset) for each of datasets(); the first one's facts, and the extra's."""
    first, *extra = datasets(cfg.ctx.data_dir)
    return {**train_one(cfg, first), **({"also": {d: train_one(cfg, d) for d in extra}} if extra else {})}


def model_dir(data_dir: str | Path, out: str | Path) -> Path:
    """The folder of the Korean model a run trains and scores songs with."""
    layout = paths.Layout(Path(out))
    return layout.emotion_model if dataset(data_dir) == "aihub" else layout.kote_model


def produced(data_dir: str | Path, out: str | Path, splits: tuple[str, ...]) -> list[Path]:
    """What the emotion stage leaves: the model folder, and for AI-Hub the splits exactly as used."""
    layout = paths.Layout(Path(out))
    aihub = dataset(data_dir) == "aihub"
    extra = [layout.kote_model] if len(datasets(data_dir)) > 1 else []
    return [model_dir(data_dir, out), *extra, *([layout.emotion_split(s) for s in splits] if aihub else [])]


def announce(data_dir: str | Path, stages: list[str]) -> None:
    """The one line a run on KOTE prints, saying where AI-Hub's files would go."""
    if dataset(data_dir) == "kote" and {"data", "emotion", "score"} & set(stages):
        print(f"Korean emotion: no AI-Hub corpus in {Path(data_dir) / paths.CORPUS_DIR}/, so KOTE (public, "
              "44 emotions) is used; put AI-Hub's 감성 대화 말뭉치 files there to use it instead")
