"""The whole pipeline as stages run in order, each skipped when its outputs are fresh:

    data -> crawl -> sentiment -> emotion -> goemotions -> score -> recommend -> graphs

A stage is skipped when it finished here with the same settings, every file it produced is still as it left
it (size, and content for small files: moodpipe.stages.records), and its outputs are newer than its inputs
(`force` reruns). A run first removes what an interrupted one left (temporary files, training checkpoints).
A stage that fails stops the run with its own message; finished stages keep their outputs. Every run writes
results/run.json and results/REPORT.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from moodpipe import paths
from moodpipe.data.aihub import ONE_PER_MAJOR
from moodpipe.data.downloads import ensure_inputs, missing_inputs, needed_inputs
from moodpipe.data.melon import CrawlConfig, crawl
from moodpipe.files import InputError, write_json_atomic, write_text_atomic
from moodpipe.models.emotion_finetune import TRAIN_DEFAULTS, EmotionTrainConfig
from moodpipe.models.mood_encoder import MOOD_ENCODER
from moodpipe.models.training import library_versions
from moodpipe.provenance import provenance
from moodpipe.recommend.evaluation import run_evaluations
from moodpipe.recommend.queries import RecommendConfig, recommend
from moodpipe.recommend.representations import save_representation
from moodpipe.recommend.song_moods import find_song_moods
from moodpipe.report.documents import write_report
from moodpipe.report.recommendations import markdown_tables, write_recommendations
from moodpipe.runtime import SEED, resolve_runtime
from moodpipe.stages import korean as ko  # which Korean corpus: AI-Hub's, else KOTE
from moodpipe.stages.emotion import train_emotion
from moodpipe.stages.mood import MoodConfig, tune_mood_encoders
from moodpipe.stages.records import (
    describe_removed,
    earlier_stage_times,
    last_run,
    progress_line,
    record_problem,
    remove_orphans,
    write_record,
)
from moodpipe.stages.scoring import ScoreConfig, score_songs
from moodpipe.stages.sentiment import SentimentConfig, run_sentiment

log = logging.getLogger("pipeline")
STAGES = ["data", "crawl", "sentiment", "emotion", "goemotions", "mood", "score", "recommend", "graphs"]
# --quick: every stage on slices small enough for about a minute on 2 CPU cores, each model still beating
# its majority baseline (the report flags one that does not).
QUICK_REVIEWS = 1000
QUICK_DIALOGUES = 240
QUICK_AIHUB = {"epochs": 2, "max_length": 64}
QUICK_COMMENTS = 300
QUICK_SONGS = 60
QUICK_MOOD_TEXTS = 128
QUICK_SONGS_PER_MOOD = 15
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class RunConfig:
    data_dir: str
    out: str = "."
    stages: list[str] = field(default_factory=lambda: list(STAGES))
    force: bool = False
    quick: bool = False
    seed: int = SEED
    lyrics: str | None = None
    sentiment_model: str = "auto"
    emotion_model: str = "auto"
    english_model: str = "auto"
    compare_heads: bool = False  # --compare: the three heads (three times the emotion stage)
    offline: bool = False  # never try downloads
    device: str = "auto"


# ----------------------------------------------------------------------------- stage settings

def quick_model(chosen: str, bundled: str) -> str:
    """--quick never waits for a hub: `auto` means the bundled model; an explicit choice is kept."""
    return bundled if chosen == "auto" else chosen


def sentiment_config(cfg: RunConfig) -> SentimentConfig:
    """The sentiment stage's own defaults, or small slices for --quick."""
    base = SentimentConfig(data_dir=cfg.data_dir, model=cfg.sentiment_model, out=cfg.out, device=cfg.device)
    if not cfg.quick:
        return replace(base, train=replace(base.train, seed=cfg.seed))
    return replace(base, model=quick_model(cfg.sentiment_model, "bundled:minilm-l6"), max_rows=QUICK_REVIEWS,
                   train=replace(base.train, epochs=1, max_length=64, seed=cfg.seed))


def emotion_config(cfg: RunConfig, dataset: str) -> EmotionTrainConfig:
    korean = dataset != "goemotions"  # AI-Hub's or KOTE's
    base = EmotionTrainConfig(dataset=dataset, compare=cfg.compare_heads and korean, data_dir=cfg.data_dir,
                              out=cfg.out, model=cfg.emotion_model if korean else cfg.english_model, device=cfg.device)
    if not cfg.quick:
        return replace(base, train=replace(TRAIN_DEFAULTS[dataset], seed=cfg.seed))
    if dataset == "kote":
        return ko.quick_config(base, cfg.seed, QUICK_AIHUB)
    if korean:  # one head on batch-normalised features, one label per major class, dialogues only: a minute
        return replace(base, model=quick_model(base.model, "bundled:multilingual-e5-small"), compare=False,
                       only_labels=(ONE_PER_MAJOR,), add_sentences=False, feature_norm=True,
                       max_train_rows=QUICK_DIALOGUES,
                       train=replace(TRAIN_DEFAULTS[dataset], seed=cfg.seed, **QUICK_AIHUB))
    return replace(base, model=quick_model(base.model, "bundled:minilm-l6"), max_train_rows=QUICK_COMMENTS,
                   max_eval_rows=QUICK_COMMENTS // 4,
                   train=replace(TRAIN_DEFAULTS[dataset], epochs=1, max_length=64, batch_size=16, seed=cfg.seed))


def mood_config(cfg: RunConfig) -> MoodConfig:
    return MoodConfig(data_dir=cfg.data_dir, out=cfg.out, seed=cfg.seed, device=cfg.device,
                      **({"texts": QUICK_MOOD_TEXTS} if cfg.quick else {}))


def mood_encoders(cfg: RunConfig) -> list[Path]:
    return [m / MOOD_ENCODER / paths.WEIGHTS
            for m in (ko.model_dir(cfg.data_dir, cfg.out), layout(cfg).goemotions_model)]


def score_config(cfg: RunConfig) -> ScoreConfig:
    return ScoreConfig(data_dir=cfg.data_dir, out=cfg.out, lyrics=str(lyrics_path(cfg)), halves=True,
                       model_dir=str(ko.model_dir(cfg.data_dir, cfg.out)),
                       max_songs=QUICK_SONGS if cfg.quick else None,
                       device=cfg.device, generic=False)


def song_moods(cfg: RunConfig) -> list[Path]:
    """The songs people labelled with a mood, when the data directory has them (the default is chosen on them)."""
    found = find_song_moods(Path(cfg.data_dir))
    return [found] if found else []


def lyrics_path(cfg: RunConfig) -> Path:
    """--lyrics, else the first lyrics CSV found in the data directory, else where the crawler writes."""
    return Path(cfg.lyrics) if cfg.lyrics else paths.find_lyrics(Path(cfg.data_dir))


def layout(cfg: RunConfig) -> paths.Layout:
    return paths.Layout(Path(cfg.out))


# ----------------------------------------------------------------------------- the stages

def data_stage(cfg: RunConfig) -> dict:
    lyrics = lyrics_problem(cfg)
    return ensure_inputs(Path(cfg.data_dir), needed_inputs(cfg.stages, ko.dataset(cfg.data_dir)),
                         allow_download=not cfg.offline, also_missing=[f"lyrics: {lyrics}"] if lyrics else [])


def lyrics_problem(cfg: RunConfig) -> str | None:
    """Why the lyrics the crawl and score stages need cannot be had, checked with the other inputs (None: fine).
    A --lyrics path that is not there is never crawled into, and --offline never crawls."""
    if not {"crawl", "score"} & set(cfg.stages) or lyrics_path(cfg).is_file():
        return None
    if cfg.lyrics:
        return f"--lyrics {cfg.lyrics}: no such file (check the path)"
    if cfg.offline:
        return (f"no lyrics CSV in {Path(cfg.data_dir) / 'lyrics'} and --offline forbids crawling Melon: "
                f"{paths.HOW_TO_GET_LYRICS}")
    return None if "crawl" in cfg.stages else f"no lyrics CSV at {lyrics_path(cfg)}: {paths.HOW_TO_GET_LYRICS}"


def crawl_stage(cfg: RunConfig) -> dict:
    return crawl(CrawlConfig(data_dir=Path(cfg.data_dir), out=lyrics_path(cfg),
                             years=(2000, 2001) if cfg.quick else (1991, 2014)))


def sentiment_stage(cfg: RunConfig) -> dict:
    m = run_sentiment(sentiment_config(cfg))
    return {"test_accuracy": m["test"]["accuracy"], "test_macro_f1": m["test"]["macro_f1"],
            "base_model": m["base_model"]["name"], "substituted": m["base_model"]["substituted"]}


def emotion_stage(cfg: RunConfig, dataset: str = "aihub") -> dict:
    metrics = train_emotion(emotion_config(cfg, dataset))
    base = metrics.get("base_model", {})
    return {"dataset": dataset, "base_model": base.get("name"), "substituted": base.get("substituted")}


def score_stage(cfg: RunConfig) -> dict:
    return {"song_emotions": str(score_songs(score_config(cfg)))}


def recommend_stage(cfg: RunConfig) -> dict:
    """Every retrieval evaluation whose inputs exist (recommend.py --evaluate: results/retrieval_eval.*), which
    chooses the default representation on songs people labelled when it can; else the labelled-retrieval
    default when the vectors support it, else the best half-split recall. Then the seed's tables for every song."""
    out = layout(cfg)
    evaluation = run_evaluations(Path(cfg.out), Path(cfg.data_dir), resolve_runtime(cfg.device),
                                 max_comments=QUICK_COMMENTS if cfg.quick else None,
                                 per_mood=QUICK_SONGS_PER_MOOD if cfg.quick else None)
    if not evaluation.get("choice"):
        save_representation(out.song_vectors, evaluation["halves"])  # recommend.py, REPORT.md and the page use it
    result = recommend(RecommendConfig(out=cfg.out, all_songs=True, format="csv", seed=cfg.seed))
    write_recommendations(result, Path(cfg.out))
    # The report shows the seed's tables; markdown of the same result, without recomputing it.
    write_text_atomic(out.recommendations("md"), "\n".join(markdown_tables(result)) + "\n")
    return {"representation": result["representation"], "outputs": result["outputs"],
            "recall_at_10": evaluation["halves"]["recall_at_10"]}


def figure_names() -> list[str]:
    from moodpipe.report.figures import FIGURES  # lazy: matplotlib loads only when figures are drawn or listed
    return [f[0] for f in FIGURES]


def expected_figures(cfg: RunConfig) -> list[str]:
    """The figures this run can draw: one head (the default, --quick) leaves no head comparison."""
    compared = emotion_config(cfg, "aihub").compare
    return [name for name in figure_names() if (compared or name != paths.HEAD_COMPARISON_FIGURE)
            and name not in ko.figures_without(cfg.data_dir)]


def graphs_stage(cfg: RunConfig) -> dict:
    from moodpipe.report.explorer import write_explorer  # here, as the figures: only this stage builds the page
    from moodpipe.report.figures import generate_graphs
    figures = [str(p) for p in generate_graphs(Path(cfg.out))]
    return {"figures": figures, "explorer": str(write_explorer(Path(cfg.out)))}


def mood_stage(cfg: RunConfig) -> dict:
    return {"mood_encoders": [str(p) for p in tune_mood_encoders(mood_config(cfg))]}


def goemotions_stage(cfg: RunConfig) -> dict:
    return emotion_stage(cfg, "goemotions")


def lyrics_present(cfg: RunConfig) -> str | None:
    """The crawl is needed only when there is no lyrics CSV (--force never recrawls over one)."""
    if lyrics_path(cfg).is_file():
        return None
    if cfg.lyrics or cfg.offline:  # the data stage says so first, unless it was not selected
        raise InputError(lyrics_problem(cfg))
    return f"no lyrics CSV at {lyrics_path(cfg)}"


def inputs_present(cfg: RunConfig) -> str | None:
    missing = missing_inputs(Path(cfg.data_dir), needed_inputs(cfg.stages, ko.dataset(cfg.data_dir)))
    if lyrics_problem(cfg):
        missing.append("lyrics")
    return f"missing {', '.join(missing)}" if missing else None


@dataclass
class Stage:
    """One step of the run: what it does, what it reads and writes, and the settings that make it rerun.

    A stage with its own `needed` check (the data check, the crawl) is judged by that alone: it keeps no
    record, --force does not rerun it, and `skip_note` says why it was skipped. Every other stage reruns when
    its record (results/stages/<name>.json) is missing, its settings changed, a file it produced changed or
    went missing, or an input is newer. `outputs` are the files later stages read; the record also lists what
    `produced` names (files, or folders standing for every file in them, e.g. the whole saved model)."""
    name: str
    run: Callable[[RunConfig], dict]
    inputs: Callable[[RunConfig], list[Path]]
    outputs: Callable[[RunConfig], list[Path]]
    settings: Callable[[RunConfig], object] = lambda cfg: {}
    produced: Callable[[RunConfig], list[Path]] = lambda cfg: []
    needed: Callable[[RunConfig], str | None] | None = None  # None: the record decides
    skip_note: Callable[[RunConfig], str] = lambda cfg: "outputs are up to date"

    @property
    def keeps_record(self) -> bool:
        return self.needed is None


def _data(cfg: RunConfig, *names: str) -> list[Path]:
    return [Path(cfg.data_dir) / n for n in names]


PIPELINE = [
    Stage("data", data_stage, lambda c: [], lambda c: [], lambda c: c.stages, needed=inputs_present,
          skip_note=lambda c: "every input is present"),
    Stage("crawl", crawl_stage, lambda c: [], lambda c: [lyrics_path(c)], needed=lyrics_present,
          skip_note=lambda c: f"using the lyrics in {lyrics_path(c)}"),
    Stage("sentiment", sentiment_stage, lambda c: _data(c, paths.REVIEWS),
          lambda c: [layout(c).sentiment_model / f for f in (paths.METRICS, paths.WEIGHTS)],
          lambda c: asdict(sentiment_config(c)),
          produced=lambda c: [layout(c).sentiment_model, *map(layout(c).sentiment_split, SPLITS)]),
    Stage("emotion", lambda c: ko.train_all(c, emotion_stage), lambda c: ko.inputs(c.data_dir),
          lambda c: [ko.model_dir(c.data_dir, c.out) / f for f in (paths.METRICS, paths.WEIGHTS)],
          lambda c: [asdict(emotion_config(c, d)) for d in ko.datasets(c.data_dir)],
          produced=lambda c: ko.produced(c.data_dir, c.out, SPLITS)),
    Stage("goemotions", goemotions_stage, lambda c: _data(c, *paths.GOEMOTIONS_FILES),
          lambda c: [layout(c).goemotions_model / paths.METRICS],
          lambda c: asdict(emotion_config(c, "goemotions")), produced=lambda c: [layout(c).goemotions_model]),
    Stage("mood", mood_stage, lambda c: [*_data(c, *paths.GOEMOTIONS_FILES),
                                         ko.model_dir(c.data_dir, c.out) / paths.WEIGHTS,
                                         layout(c).goemotions_model / paths.WEIGHTS],
          mood_encoders, lambda c: asdict(mood_config(c)),
          produced=lambda c: [p.parent for p in mood_encoders(c)]),
    Stage("score", score_stage, lambda c: [lyrics_path(c), ko.model_dir(c.data_dir, c.out) / paths.WEIGHTS,
                                           mood_encoders(c)[0]],
          lambda c: [layout(c).song_vectors, layout(c).song_halves],
          lambda c: asdict(score_config(c)),
          produced=lambda c: [paths.embeddings_path(layout(c).song_vectors), layout(c).scoring_summary]),
    Stage("recommend", recommend_stage, lambda c: [layout(c).song_vectors, layout(c).song_halves, *song_moods(c)],
          lambda c: [layout(c).recommendations("csv"), layout(c).recommendations("md"), layout(c).heatmap,
                     layout(c).representation_eval, layout(c).chosen_representation, layout(c).retrieval_eval("md")],
          lambda c: {"seed": c.seed, "quick": c.quick, "default_chosen_on": "songs"}),
    Stage("graphs", graphs_stage, lambda c: [p for s in PIPELINE if s.keeps_record and s.run is not graphs_stage
                                             for p in s.outputs(c)],
          lambda c: [*(layout(c).graphs / name for name in expected_figures(c)),
                     layout(c).explorer]),
]


# ----------------------------------------------------------------------------- freshness

def stamp_path(cfg: RunConfig, stage: str) -> Path:
    return layout(cfg).stage_stamp(stage)


def why_stale(stage: Stage, cfg: RunConfig) -> str | None:
    """None when the stage's outputs are fresh, else the reason it must run."""
    if not stage.keeps_record:
        return stage.needed(cfg)
    problem = record_problem(stamp_path(cfg, stage.name), stage.settings(cfg), Path(cfg.out))
    if problem:
        return problem
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
    reason = "--force" if cfg.force and stage.keeps_record else why_stale(stage, cfg)
    if reason is None:
        print(f"[{stage.name}] skipped: {stage.skip_note(cfg)}")
        earlier = last_run(stamp_path(cfg, stage.name)) if stage.keeps_record else {}
        return {"status": "skipped", "seconds": 0.0, **({"last_ran": earlier} if earlier else {})}
    print(f"[{stage.name}] running ({reason})")
    stamp_path(cfg, stage.name).unlink(missing_ok=True)  # killed from here on, the stage has no record: it reruns
    start = time.time()
    info = stage.run(cfg)
    seconds = round(time.time() - start, 1)
    if stage.keeps_record:
        write_record(stamp_path(cfg, stage.name), stage.settings(cfg), Path(cfg.out),
                     [*stage.outputs(cfg), *stage.produced(cfg)], seconds, time.strftime("%Y-%m-%d %H:%M:%S"))
    print(f"[{stage.name}] done in {seconds:.0f} s")
    return {"status": "ran", "seconds": seconds, **(info or {})}


def clean_up_interrupted(cfg: RunConfig) -> None:
    """Remove what a killed run left in the output folders (temporary files of atomic saves, training
    checkpoints): they are never resumed from, and one weights file can be hundreds of MB."""
    out = layout(cfg)
    folders = [out.processed, out.sentiment_model, out.emotion_model, out.kote_model, out.goemotions_model, out.results,
               out.stage_records, out.graphs]
    removed = remove_orphans(Path(cfg.out), folders)
    if removed:
        print(describe_removed(removed))


# ----------------------------------------------------------------------------- the run

def run_pipeline(cfg: RunConfig, argv: list[str] | None = None) -> dict:
    """Every selected stage in order; `argv`, the command as typed (default sys.argv), heads the report."""
    run = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "quick": cfg.quick, "config": asdict(cfg),
           "provenance": provenance(argv), "versions": library_versions(), "runtime": run_device(cfg), "stages": {}}
    failed, started, earlier = None, time.time(), earlier_stage_times(layout(cfg).stage_records)
    clean_up_interrupted(cfg)
    ko.announce(cfg.data_dir, cfg.stages)
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
        print(progress_line([s for s in STAGES if s in cfg.stages], stage.name, time.time() - started,
                            earlier))
    run["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    write_json_atomic(layout(cfg).run_json, run)
    write_report(Path(cfg.out), run, expected_figures(cfg))  # not a committed figure of another run
    if failed:
        raise InputError(f"{failed}\n(outputs of the stages that finished are kept; see {cfg.out}/results/run.json)")
    return run


def run_device(cfg: RunConfig) -> dict:
    """Where the stages train and predict: the device and the precision the policy picks there."""
    return resolve_runtime(cfg.device).facts()
