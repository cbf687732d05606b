"""Every input and output name, defined once.

Inputs live in the data directory (`--data-dir`, else $DATA_DIR, else data/); outputs under one output
root (`--out`, default the working directory):

    data/processed/          the splits exactly as used
    saved_model/<task>/      model + tokenizer, metrics.json, README.md (model card), trainer_log.json, ...
    results/                 song vectors, recommendations, run.json, REPORT.md
    sample_graphs/           every figure

    >>> Layout(Path("run")).emotion_model
    PosixPath('run/saved_model/emotion')
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# ----------------------------------------------------------------------------- inputs (in the data directory)

REVIEWS = "reviews/spotify_googleplay_10k.csv"
CORPUS_DIR = "emotion_corpus"  # the AI-Hub corpus files (xlsx or json), whatever their names
GOEMOTIONS_DIR = "goemotions"
SONG_MOODS_DIR = "song_moods"  # songs people labelled with a mood (song_id, lyrics, mood): choose the default, evaluate
GOEMOTIONS_FILES = ["goemotions/original/train.tsv", "goemotions/original/dev.tsv", "goemotions/original/test.tsv",
                    "goemotions/original/labels.txt", "goemotions/ekman_mapping.json"]
LYRICS_FILES = ["lyrics/melon_songs.csv", "lyrics/melon_songs_2000_2023.csv"]  # the crawler writes the first
KOTE_DIR = "kote"  # KOTE, the public Korean corpus (moodpipe.data.kote): used when the AI-Hub corpus is absent
KOTE_TRAIN, KOTE_VAL, KOTE_TEST, KOTE_LABELS = (f"{KOTE_DIR}/{n}" for n in ("train.tsv", "val.tsv", "test.tsv",
                                                                            "labels.txt"))
KOTE_FILES = [KOTE_VAL, KOTE_TEST]  # what the KOTE stage needs; train.tsv is used when present

HOW_TO_GET_REVIEWS = ("download it with `python main.py --stages data` when online, or pass --reviews PATH "
                      "(a CSV with a text column and a 1-5 star column)")
HOW_TO_GET_CORPUS = ("register at aihub.or.kr, download the data set '감성 대화 말뭉치' and put its xlsx or json "
                     f"files in <data-dir>/{CORPUS_DIR}/ (or pass --corpus PATH)")
HOW_TO_GET_GOEMOTIONS = ("download data/original/{train,dev,test}.tsv and labels.txt from "
                         "github.com/monologg/GoEmotions-pytorch and ekman_mapping.json from "
                         f"google-research/goemotions into <data-dir>/{GOEMOTIONS_DIR}/ "
                         "(`python main.py --stages data` does it when online)")
HOW_TO_GET_KOTE = ("download {train,val,test}.tsv from github.com/searle-j/KOTE into "
                   f"<data-dir>/{KOTE_DIR}/ (`python main.py --stages data` does it when online)")
HOW_TO_GET_LYRICS = "crawl them with `python crawl_melon.py`, or pass a lyrics CSV (song_id, lyrics) with --lyrics"

# The command that rebuilds each saved output, named in the error for a damaged one.
REBUILD_SENTIMENT = "python mobilebert_project.py"
REBUILD_EMOTION = "python lyrics_emotion.py train"
REBUILD_GOEMOTIONS = "python lyrics_emotion.py train --dataset goemotions"
REBUILD_KOTE = "python lyrics_emotion.py train --dataset kote"
REBUILD_SONG_VECTORS = "python lyrics_emotion.py score --halves"
REBUILD_RECOMMENDATIONS = "python recommend.py --all"


def resolve_data_dir(cli_value: str | None) -> Path:
    """--data-dir, else $DATA_DIR, else data/ (relative to the working directory)."""
    return Path(cli_value or os.environ.get("DATA_DIR") or "data")


def find_lyrics(data_dir: Path) -> Path:
    """The first lyrics CSV present in the data directory, else where the crawler writes one."""
    data_dir = Path(data_dir)
    return next((data_dir / f for f in LYRICS_FILES if (data_dir / f).is_file()), data_dir / LYRICS_FILES[0])


def model_cache_dir() -> Path:
    """Where converted bundled models live: $PIPELINE_MODEL_CACHE, else ~/.cache/lyrics-pipeline."""
    return Path(os.environ.get("PIPELINE_MODEL_CACHE") or Path.home() / ".cache" / "lyrics-pipeline")


# ----------------------------------------------------------------------------- outputs (under the output root)

METRICS = "metrics.json"
MODEL_CARD = "README.md"
WEIGHTS = "model.safetensors"
TRAINER_LOG = "trainer_log.json"
BASE_MODEL = "base_model.json"
TEST_PREDICTIONS = "test_predictions.csv"
LABEL_SIMILARITY = "label_similarity.csv"
BLEND = "blend.json"  # the emotion predictor's model weight against its TF-IDF part
TFIDF_MODEL = "tfidf.joblib"  # that TF-IDF part (absent when the model alone won on validation)
HEAD_COMPARISON = "head_comparison.json"
HEAD_COMPARISON_MD = "head_comparison.md"
THRESHOLDS = "thresholds.json"
ONNX_MODEL = "model.onnx"  # the sentiment model for ONNX Runtime (predict_sample.py's fast start)
REPRESENTATION_FILE = "representation.json"
SONG_VECTORS = "song_emotions.csv"  # results/: one emotion vector per song
EMBEDDINGS_SUFFIX = ".embeddings.npz"  # beside a song-vector CSV: its songs' (and halves') embeddings


def embeddings_path(vectors_csv: Path) -> Path:
    """results/song_emotions.csv -> results/song_emotions.embeddings.npz"""
    return Path(vectors_csv).with_suffix(EMBEDDINGS_SUFFIX)
SCORING_SUMMARY = "song_emotions.json"  # beside the vectors: which lyrics file, how many songs, which skipped
RUN_LOCK = ".run.lock"  # in the output root: held by the command writing there (moodpipe.context)
GRAPHS_DIR = "sample_graphs"  # committed figures, redrawn by every run


def _under(*parts: str, doc: str = "") -> property:
    """A Layout property: the path of `parts` under the output root."""
    return property(lambda self: Path(self.root).joinpath(*parts), doc=doc)


@dataclass(frozen=True)
class Layout:
    """Where each stage writes, under one output root. Every command resolves its saved models and results
    through it, so `--out X` means the same everywhere."""
    root: Path

    processed = _under("data", "processed")
    sentiment_model = _under("saved_model", "sentiment")
    emotion_model = _under("saved_model", "emotion")
    goemotions_model = _under("saved_model", "goemotions")
    kote_model = _under("saved_model", "kote")
    results = _under("results")
    song_vectors = _under("results", SONG_VECTORS)
    song_halves = _under("results", "song_halves.csv")
    scoring_summary = _under("results", SCORING_SUMMARY)
    chosen_representation = _under("results", REPRESENTATION_FILE,
                                   doc="The representation the recommend stage chose: every ranking uses it.")
    representation_eval = _under("results", "representation_eval.json")
    heatmap = _under("results", "heatmap_songs.csv")
    recommend_config = _under("results", "recommend_config.json")
    explorer = _under("results", "explorer.html", doc="The self-contained explorer page.")
    run_json = _under("results", "run.json")
    report = _under("results", "REPORT.md")
    stage_records = _under("results", "stages", doc="What each finished stage produced (moodpipe.stages.records).")
    graphs = _under(GRAPHS_DIR)

    @property
    def korean_model(self) -> Path:
        """The Korean emotion model songs are scored with: AI-Hub's when one is trained here, else KOTE's (the
        public corpus), which main.py trains when the AI-Hub corpus is absent."""
        return self.emotion_model if (self.emotion_model / "config.json").is_file() else self.kote_model

    def sentiment_split(self, name: str) -> Path:
        return self.processed / f"{name}_data.csv"

    def emotion_split(self, name: str) -> Path:
        return self.processed / f"emotion_{name}.csv"

    def query_recommendations(self, fmt: str) -> Path:
        """A single query's table (--song/--text/--emotion with --format): never a catalogue output."""
        return self.results / f"query.{fmt}"

    def retrieval_eval(self, fmt: str) -> Path:
        """recommend.py --evaluate: labelled retrieval scores of every representation (json, md)."""
        return self.results / f"retrieval_eval.{fmt}"

    def recommendations(self, fmt: str) -> Path:
        return self.results / f"recommendations.{fmt}"

    def stage_stamp(self, stage: str) -> Path:
        return self.stage_records / f"{stage}.json"

    def rebuild_command(self, path: Path) -> str:
        """The command that rebuilds a saved output under this root, for the error that names a damaged one.

        >>> Layout(Path("run")).rebuild_command(Path("run/saved_model/emotion/metrics.json"))
        'python lyrics_emotion.py train --out run'
        """
        path, out = Path(path), "" if Path(self.root) == Path(".") else f" --out {self.root}"
        owners = [(self.sentiment_model, REBUILD_SENTIMENT), (self.emotion_model, REBUILD_EMOTION),
                  (self.goemotions_model, REBUILD_GOEMOTIONS), (self.kote_model, REBUILD_KOTE)]
        command = next((c for folder, c in owners if folder in path.parents), None)
        if command is None and path.parent == self.processed:
            command = REBUILD_EMOTION if path.name.startswith("emotion_") else REBUILD_SENTIMENT
        if command is None and path.name.startswith(("song_emotions", "song_halves")):
            command = REBUILD_SONG_VECTORS
        return (command or REBUILD_RECOMMENDATIONS) + out
