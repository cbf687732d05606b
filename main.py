"""Run the whole pipeline in order, skipping every stage whose outputs are fresh.

    python main.py                                   # all stages, data from $DATA_DIR or data/
    python main.py --quick --out /tmp/quick          # small slices, bundled models, a few minutes
    python main.py --stages sentiment,graphs --force
    python main.py --lyrics my_songs.csv             # skip the crawl, use these lyrics

Stages: data (check inputs; download the public ones when online) -> crawl -> sentiment ->
emotion -> goemotions -> score (song emotion vectors) -> recommend -> graphs. A stage is skipped
when its outputs are newer than its inputs and it last ran with the same settings (`--force`
reruns). A stage that fails stops the run with its own message; finished stages keep their outputs.
Every run writes results/run.json and results/REPORT.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from common import InputError, library_versions, resolve_data_dir, run_cli, write_json_atomic, write_text_atomic

log = logging.getLogger("pipeline")
STAGES = ["data", "crawl", "sentiment", "emotion", "goemotions", "score", "recommend", "graphs"]
LYRICS_CANDIDATES = ["lyrics/melon_songs.csv", "lyrics/melon_songs_2000_2023.csv"]
REVIEWS = "reviews/spotify_googleplay_10k.csv"
CORPUS_DIR = "emotion_corpus"  # the released xlsx or json files, whatever their names
CODEBOOK = "emotion_corpus/emotion_label_map_E10_E69.csv"
GOEMOTIONS = ["goemotions/original/train.tsv", "goemotions/original/dev.tsv", "goemotions/original/test.tsv",
              "goemotions/original/labels.txt", "goemotions/ekman_mapping.json"]


@dataclass
class RunConfig:
    data_dir: str
    out: str = "."
    stages: list[str] = field(default_factory=lambda: list(STAGES))
    force: bool = False
    quick: bool = False
    seed: int = 42
    lyrics: str | None = None
    sentiment_model: str = "auto"
    emotion_model: str = "auto"
    english_model: str = "auto"
    compare_heads: bool = True
    offline: bool = False  # never try downloads


# ----------------------------------------------------------------------------- stage settings

def quick_model(chosen: str, bundled: str) -> str:
    """--quick never waits for a hub: `auto` means the bundled model; an explicit choice is kept."""
    return bundled if chosen == "auto" else chosen


def sentiment_config(cfg: RunConfig):
    """The sentiment stage's own defaults (its measured best), or small slices for --quick."""
    from mobilebert_project import SentimentConfig
    base = SentimentConfig(data_dir=cfg.data_dir, model=cfg.sentiment_model, out=cfg.out)
    if not cfg.quick:
        return replace(base, train=replace(base.train, seed=cfg.seed))
    return replace(base, model=quick_model(cfg.sentiment_model, "bundled:minilm-l6"), max_rows=1500,
                   train=replace(base.train, epochs=1, max_length=64, seed=cfg.seed))


def emotion_config(cfg: RunConfig, dataset: str):
    from lyrics_emotion import TRAIN_DEFAULTS, EmotionConfig
    korean = dataset == "aihub"
    base = EmotionConfig(dataset=dataset, compare=cfg.compare_heads and korean, data_dir=cfg.data_dir, out=cfg.out,
                         model=cfg.emotion_model if korean else cfg.english_model)
    if not cfg.quick:
        return replace(base, train=replace(TRAIN_DEFAULTS[dataset], seed=cfg.seed))
    bundled = "bundled:multilingual-e5-small" if korean else "bundled:minilm-l6"
    return replace(base, model=quick_model(base.model, bundled), max_train_rows=400, max_eval_rows=100,
                   train=replace(TRAIN_DEFAULTS[dataset], epochs=1, max_length=64, batch_size=16, seed=cfg.seed))


def score_config(cfg: RunConfig):
    from lyrics_emotion import EmotionConfig
    return EmotionConfig(data_dir=cfg.data_dir, out=cfg.out, lyrics=str(lyrics_path(cfg)), halves=True,
                         model_dir=str(Path(cfg.out) / "saved_model" / "emotion"),
                         max_songs=200 if cfg.quick else None)


def lyrics_path(cfg: RunConfig) -> Path:
    """--lyrics, else the first lyrics CSV found in the data directory, else where the crawler writes."""
    if cfg.lyrics:
        return Path(cfg.lyrics)
    data = Path(cfg.data_dir)
    return next((data / c for c in LYRICS_CANDIDATES if (data / c).is_file()), data / LYRICS_CANDIDATES[0])


# ----------------------------------------------------------------------------- the stages

GITHUB = "https://raw.githubusercontent.com"
GOEMOTIONS_REPO = f"{GITHUB}/monologg/GoEmotions-pytorch/b75f9d3a8b76bc1060687925b04ca98a1b8ea66b/data"
# Public sources and the SHA-256 of each file as downloaded (../shared/data/README.md).
DOWNLOADS = {
    REVIEWS: (f"{GITHUB}/kieutrinhtran/spotify_sentiment_analysis/3d040893f67800652e5d0043be58b5ad4c99567f/"
              "data-test/spotify_reviews_ggplay_20250514_165549.csv",
              "647370f858187ff29848f6b221c6c36d86152270050d8352a588a11cf3a81fb0"),
    "goemotions/original/train.tsv": (f"{GOEMOTIONS_REPO}/original/train.tsv",
                                      "1c254a142be5c00e80d819b9ae1bbd36d94b2eeb8f4b1271846508d57e57d9c5"),
    "goemotions/original/dev.tsv": (f"{GOEMOTIONS_REPO}/original/dev.tsv",
                                    "575489c079c9de1097062a01738f998590d6b7ead66dd1c9fd1d2ba01fd8bc62"),
    "goemotions/original/test.tsv": (f"{GOEMOTIONS_REPO}/original/test.tsv",
                                     "0587b2dd8b27b97352adbfc3fb083d46005c8946657fdc2b1ca8b1cc7f1f8be4"),
    "goemotions/original/labels.txt": (f"{GOEMOTIONS_REPO}/original/labels.txt",
                                       "45c3ef86782d2a4d7fedcd6d8c111aa0d0e94720689bd164fac94fefb4495a89"),
    "goemotions/ekman_mapping.json": (f"{GITHUB}/google-research/google-research/master/goemotions/data/"
                                      "ekman_mapping.json",
                                      "d6b1fea382917c1685c42e1324a0344106be9390f52a3850ce032656d103a328"),
}
HOW_TO_GET = {
    CORPUS_DIR: "AI-Hub corpus: register at aihub.or.kr, download '감성 대화 말뭉치' and put its xlsx (or json) "
                "files in <data-dir>/emotion_corpus/",
    CODEBOOK: "the E10-E69 codebook (e_code, major_label, sub_label_codebook, ...) belongs in "
              "<data-dir>/emotion_corpus/",
}


def download(url: str, sha256: str, dest: Path, timeout: float = 30) -> None:
    """Stream url to dest with a progress bar; keep it only if its SHA-256 matches."""
    import tempfile

    import requests
    from tqdm.auto import tqdm
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with requests.get(url, stream=True, timeout=timeout) as reply:
        reply.raise_for_status()
        total = int(reply.headers.get("content-length") or 0) or None
        with tempfile.NamedTemporaryFile(dir=dest.parent, prefix=f".{dest.name}.", delete=False) as tmp, \
                tqdm(total=total, unit="B", unit_scale=True, desc=dest.name) as bar:
            for chunk in reply.iter_content(1 << 16):
                tmp.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
    if digest.hexdigest() != sha256:
        Path(tmp.name).unlink()
        raise InputError(f"{url} downloaded, but its SHA-256 is {digest.hexdigest()}, not {sha256}: not used")
    Path(tmp.name).replace(dest)


def missing_inputs(data_dir: Path, needed: list[str]) -> list[str]:
    """The needed inputs that are not there; the corpus counts as there when its folder has a corpus file."""
    from lyrics_emotion import corpus_files
    missing = []
    for name in needed:
        if name == CORPUS_DIR:
            try:
                corpus_files(data_dir / CORPUS_DIR)
            except InputError:
                missing.append(name)
        elif not (data_dir / name).is_file():
            missing.append(name)
    return missing


def ensure_inputs(data_dir: Path, needed: list[str], allow_download: bool = True) -> dict:
    """Download the missing public inputs; stop at once, listing every missing input and how to get it."""
    import requests
    missing = missing_inputs(data_dir, needed)
    downloaded, problems = [], []
    for name in missing:
        if name in DOWNLOADS and allow_download and not problems:
            try:
                download(*DOWNLOADS[name], data_dir / name)
                downloaded.append(name)
                continue
            except requests.RequestException as e:
                problems.append(f"{name}: download failed ({type(e).__name__}); fetch {DOWNLOADS[name][0]}")
                continue
        how = f"download {DOWNLOADS[name][0]}" if name in DOWNLOADS else HOW_TO_GET.get(name, "see README.md")
        problems.append(f"{name}: {how}")
    if problems:
        raise InputError(f"missing inputs in {data_dir} (set --data-dir or DATA_DIR):\n  - " + "\n  - ".join(problems))
    return {"inputs": needed, "downloaded": downloaded}


def needed_inputs(cfg: RunConfig) -> list[str]:
    per_stage = {"sentiment": [REVIEWS], "emotion": [CORPUS_DIR, CODEBOOK], "goemotions": GOEMOTIONS}
    return [name for stage in cfg.stages for name in per_stage.get(stage, [])]


def run_data(cfg: RunConfig) -> dict:
    return ensure_inputs(Path(cfg.data_dir), needed_inputs(cfg), allow_download=not cfg.offline)


def corpus_inputs(cfg: RunConfig) -> list[Path]:
    from lyrics_emotion import corpus_files
    try:
        return [*corpus_files(Path(cfg.data_dir) / CORPUS_DIR), Path(cfg.data_dir) / CODEBOOK]
    except InputError:
        return []


def run_crawl(cfg: RunConfig) -> dict:
    from crawl_melon import CrawlConfig, crawl
    return crawl(CrawlConfig(data_dir=Path(cfg.data_dir), out=lyrics_path(cfg),
                             years=(2000, 2001) if cfg.quick else (1991, 2014)))


def run_sentiment(cfg: RunConfig) -> dict:
    import mobilebert_project
    m = mobilebert_project.run_sentiment(sentiment_config(cfg))
    return {"test_accuracy": m["test"]["accuracy"], "test_macro_f1": m["test"]["macro_f1"],
            "base_model": m["base_model"]["name"], "substituted": m["base_model"]["substituted"]}


def run_emotion(cfg: RunConfig, dataset: str = "aihub") -> dict:
    import lyrics_emotion
    metrics = lyrics_emotion.train_emotion(emotion_config(cfg, dataset))
    base = metrics.get("base_model", {})
    return {"base_model": base.get("name"), "substituted": base.get("substituted")}


def run_score(cfg: RunConfig) -> dict:
    import lyrics_emotion
    return {"song_emotions": str(lyrics_emotion.score_songs(score_config(cfg)))}


def run_recommend(cfg: RunConfig) -> dict:
    """Pick the representation by the half-split recall@10, then the seed's tables for every song."""
    import recommend
    results = Path(cfg.out) / "results"
    evaluation = recommend.evaluate_halves(results / "song_halves.csv", Path(cfg.out))
    best = evaluation["best"]
    result = recommend.recommend(recommend.RecommendConfig(out=cfg.out, all_songs=True, representation=best,
                                                           format="csv", seed=cfg.seed))
    # The report shows the seed's tables; markdown of the same result, without recomputing it.
    write_text_atomic(results / "recommendations.md", "\n".join(recommend.markdown_tables(result)) + "\n")
    return {"representation": best, "recall_at_10": evaluation["recall_at_10"], "outputs": result["outputs"]}


def figure_names() -> list[str]:
    from generate_graphs import FIGURES
    return [f[0] for f in FIGURES]


def run_graphs(cfg: RunConfig) -> dict:
    from generate_graphs import generate_graphs
    return {"figures": [str(p) for p in generate_graphs(Path(cfg.out))]}


@dataclass
class Stage:
    name: str
    run: Callable[[RunConfig], dict]
    inputs: Callable[[RunConfig], list[Path]]
    outputs: Callable[[RunConfig], list[Path]]
    settings: Callable[[RunConfig], object] = lambda cfg: {}


def _out(cfg: RunConfig, *parts: str) -> Path:
    return Path(cfg.out).joinpath(*parts)


def _data(cfg: RunConfig, *names: str) -> list[Path]:
    return [Path(cfg.data_dir) / n for n in names]


PIPELINE = [
    Stage("data", run_data, lambda c: [], lambda c: [], lambda c: c.stages),
    Stage("crawl", run_crawl, lambda c: [], lambda c: [lyrics_path(c)]),
    Stage("sentiment", run_sentiment, lambda c: _data(c, REVIEWS),
          lambda c: [_out(c, "saved_model", "sentiment", f) for f in ("metrics.json", "model.safetensors")],
          lambda c: asdict(sentiment_config(c))),
    Stage("emotion", run_emotion, corpus_inputs,
          lambda c: [_out(c, "saved_model", "emotion", f) for f in ("metrics.json", "model.safetensors")],
          lambda c: asdict(emotion_config(c, "aihub"))),
    Stage("goemotions", lambda c: run_emotion(c, "goemotions"), lambda c: _data(c, *GOEMOTIONS),
          lambda c: [_out(c, "saved_model", "goemotions", "metrics.json")],
          lambda c: asdict(emotion_config(c, "goemotions"))),
    Stage("score", run_score, lambda c: [lyrics_path(c), _out(c, "saved_model", "emotion", "model.safetensors")],
          lambda c: [_out(c, "results", "song_emotions.csv"), _out(c, "results", "song_halves.csv")],
          lambda c: asdict(score_config(c))),
    Stage("recommend", run_recommend, lambda c: [_out(c, "results", "song_emotions.csv"),
                                                 _out(c, "results", "song_halves.csv")],
          lambda c: [_out(c, "results", f) for f in ("recommendations.csv", "recommendations.md",
                                                     "heatmap_songs.csv", "representation_eval.json")],
          lambda c: {"seed": c.seed}),
    Stage("graphs", run_graphs, lambda c: [p for s in PIPELINE if s.name not in ("data", "crawl", "graphs")
                                           for p in s.outputs(c)],
          lambda c: [_out(c, "sample_graphs", name) for name in figure_names()]),
]


# ----------------------------------------------------------------------------- freshness

def fingerprint(settings: object) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def stamp_path(cfg: RunConfig, stage: str) -> Path:
    return _out(cfg, "results", "stages", f"{stage}.json")


def why_stale(stage: Stage, cfg: RunConfig) -> str | None:
    """None when the stage's outputs are fresh, else the reason it must run."""
    if stage.name == "crawl":
        return None if lyrics_path(cfg).is_file() else f"no lyrics CSV at {lyrics_path(cfg)}"
    if stage.name == "data":
        missing = missing_inputs(Path(cfg.data_dir), needed_inputs(cfg))
        return f"missing {', '.join(missing)}" if missing else None
    stamp = stamp_path(cfg, stage.name)
    if not stamp.is_file():
        return "never ran here"
    if json.loads(stamp.read_text())["settings"] != fingerprint(stage.settings(cfg)):
        return "settings changed"
    outputs = stage.outputs(cfg)
    missing = [p for p in outputs if not p.exists()]
    if missing:
        return f"{missing[0]} is missing"
    newest_input = max((p.stat().st_mtime for p in stage.inputs(cfg) if p.exists()), default=0)
    if newest_input > min(p.stat().st_mtime for p in outputs):
        return "an input is newer than the outputs"
    return None


def run_stage(stage: Stage, cfg: RunConfig) -> dict:
    # --force never recrawls over an existing lyrics file, and inputs that are there need no download.
    reason = "--force" if cfg.force and stage.name not in ("crawl", "data") else why_stale(stage, cfg)
    if reason is None:
        notes = {"data": "every input is present", "crawl": f"using the lyrics in {lyrics_path(cfg)}"}
        print(f"[{stage.name}] skipped: {notes.get(stage.name, 'outputs are up to date')}")
        return {"status": "skipped", "seconds": 0.0}
    print(f"[{stage.name}] running ({reason})")
    start = time.time()
    info = stage.run(cfg)
    seconds = round(time.time() - start, 1)
    if stage.name != "data":
        write_json_atomic(stamp_path(cfg, stage.name), {"settings": fingerprint(stage.settings(cfg)),
                                                         "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
                                                         "seconds": seconds})
    print(f"[{stage.name}] done in {seconds:.0f} s")
    return {"status": "ran", "seconds": seconds, **(info or {})}


# ----------------------------------------------------------------------------- the run

def run_pipeline(cfg: RunConfig) -> dict:
    from generate_graphs import write_report
    run = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "quick": cfg.quick, "config": asdict(cfg),
           "versions": library_versions(), "stages": {}}
    failed = None
    for stage in PIPELINE:
        if stage.name not in cfg.stages:
            run["stages"][stage.name] = {"status": "not selected"}
            continue
        try:
            run["stages"][stage.name] = run_stage(stage, cfg)
        except InputError as e:
            run["stages"][stage.name] = {"status": "failed", "error": str(e)}
            failed = f"[{stage.name}] {e}"
            break
    run["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    write_json_atomic(_out(cfg, "results", "run.json"), run)
    write_report(Path(cfg.out), run)
    if failed:
        raise InputError(f"{failed}\n(outputs of the stages that finished are kept; see {cfg.out}/results/run.json)")
    return run


def parse_args(argv: list[str] | None = None) -> RunConfig:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", help="input folder (default: $DATA_DIR, else data/)")
    p.add_argument("--out", default=".", help="output root for data/processed, saved_model, results, sample_graphs")
    p.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated subset of {','.join(STAGES)}")
    p.add_argument("--force", action="store_true", help="rerun the selected stages even when fresh")
    p.add_argument("--quick", action="store_true", help="small slices and bundled models: every output in minutes "
                   "(numbers will be poor; the report says so)")
    p.add_argument("--seed", type=int, default=42, help="seed for splits and training (default: 42)")
    p.add_argument("--lyrics", help="a lyrics CSV to use instead of crawling Melon")
    p.add_argument("--sentiment-model", default="auto", help="--model of mobilebert_project.py (default: auto)")
    p.add_argument("--emotion-model", default="auto", help="--model of the Korean emotion stage (default: auto)")
    p.add_argument("--english-model", default="auto", help="--model of the GoEmotions stage (default: auto)")
    p.add_argument("--no-compare", action="store_true", help="train only arch2 instead of all three heads")
    p.add_argument("--offline", action="store_true", help="never try to download missing inputs")
    a = p.parse_args(argv)
    stages = [s.strip() for s in a.stages.split(",") if s.strip()]
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        raise InputError(f"--stages: unknown {', '.join(unknown)}; choose from {', '.join(STAGES)}")
    return RunConfig(data_dir=str(resolve_data_dir(a.data_dir)), out=a.out, stages=stages, force=a.force,
                     quick=a.quick, seed=a.seed, lyrics=a.lyrics, sentiment_model=a.sentiment_model,
                     emotion_model=a.emotion_model, english_model=a.english_model, compare_heads=not a.no_compare,
                     offline=a.offline)


def main(argv: list[str] | None = None) -> dict:
    return run_pipeline(parse_args(argv))


if __name__ == "__main__":
    run_cli(main)
