"""The whole pipeline as stages run in order, each skipped when its outputs are fresh:

    data -> crawl -> sentiment -> emotion -> goemotions -> mood -> score -> recommend -> graphs

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
from moodpipe.cli import Interrupted
from moodpipe.context import RunContext
from moodpipe.contract import ACCURACY, AIHUB_ONLY, FIGURES, HEAD_COMPARISON_FIGURE, MACRO_F1, RECALL_AT_K, SPLITS
from moodpipe.data.downloads import ensure_inputs, missing_inputs, needed_inputs
from moodpipe.data.melon import QUICK_CRAWL, CrawlConfig, crawl
from moodpipe.files import InputError, write_json_atomic, write_text_atomic
from moodpipe.models.emotion_finetune import EmotionTrainConfig
from moodpipe.models.mood_encoder import MOOD_ENCODER
from moodpipe.models.training import library_versions
from moodpipe.provenance import provenance
from moodpipe.recommend.evaluation import run_evaluations
from moodpipe.recommend.queries import RecommendConfig, recommend
from moodpipe.recommend.representations import save_representation
from moodpipe.recommend.song_moods import find_song_moods
from moodpipe.report.documents import write_report
from moodpipe.report.recommendations import markdown_tables, write_recommendations
from moodpipe.stages import korean as ko  # which Korean corpus: AI-Hub's, else KOTE
from moodpipe.stages.emotion import FULL_EMOTION, QUICK_EMOTION, train_emotion
from moodpipe.stages.mood import QUICK as QUICK_MOOD
from moodpipe.stages.mood import MoodConfig, korean_text_files, tune_mood_encoders
from moodpipe.stages.records import (
    describe_removed,
    earlier_stage_times,
    last_run,
    progress_line,
    record_problem,
    remove_orphans,
    write_record,
)
from moodpipe.stages.scoring import QUICK as QUICK_SCORE
from moodpipe.stages.scoring import ScoreConfig, score_songs
from moodpipe.stages.sentiment import QUICK as QUICK_SENTIMENT
from moodpipe.stages.sentiment import SentimentConfig, run_sentiment

log = logging.getLogger("pipeline")
STAGES = ["data", "crawl", "sentiment", "emotion", "goemotions", "mood", "score", "recommend", "graphs"]
# --quick: every stage on slices small enough for about a minute on 2 CPU cores, each model still beating its
# majority baseline (the report flags one that does not). Each task's quick variant sits beside its defaults
# (stages/sentiment.py, stages/emotion.py, stages/mood.py, stages/scoring.py, data/melon.py); these are the
# evaluation's.
QUICK_EVALUATION = {"max_comments": 300, "per_mood": 15}


@dataclass(frozen=True)
class RunConfig:
    """main.py's settings: the run context every stage gets, and which stages run with which models."""
    ctx: RunContext
    stages: list[str] = field(default_factory=lambda: list(STAGES))
    force: bool = False
    quick: bool = False
    lyrics: str | None = None
    sentiment_model: str = "auto"
    emotion_model: str = "auto"
    english_model: str = "auto"
    compare_heads: bool = False  # --compare: the three heads (three times the emotion stage)
    offline: bool = False  # never try downloads

    def settings(self) -> dict:
        """For run.json: what was asked, the context included."""
        return {**{k: v for k, v in asdict(self).items() if k != "ctx"}, "out": str(self.ctx.out),
                **self.ctx.settings()}


# ----------------------------------------------------------------------------- stage settings

def chosen_model(chosen: str, default: str) -> str:
    """--sentiment-model and the like: `auto` keeps the task's default (the quick variant's is a bundled model,
    so --quick never waits for a hub); an explicit choice wins."""
    return default if chosen == "auto" else chosen


def sentiment_config(cfg: RunConfig) -> SentimentConfig:
    """The sentiment stage's own defaults, or its quick variant."""
    base = QUICK_SENTIMENT if cfg.quick else SentimentConfig()
    return replace(base, model=chosen_model(cfg.sentiment_model, base.model))


def emotion_config(cfg: RunConfig, dataset: str) -> EmotionTrainConfig:
    base = (QUICK_EMOTION if cfg.quick else FULL_EMOTION)[dataset]
    korean = dataset != "goemotions"  # AI-Hub's or KOTE's
    return replace(base, model=chosen_model(cfg.emotion_model if korean else cfg.english_model, base.model),
                   compare=cfg.compare_heads and korean and not cfg.quick)


def mood_config(cfg: RunConfig) -> MoodConfig:
    return QUICK_MOOD if cfg.quick else MoodConfig()


def mood_encoders(cfg: RunConfig) -> list[Path]:
    return [m / MOOD_ENCODER / paths.WEIGHTS for m in (korean_model(cfg), layout(cfg).goemotions_model)]


def korean_model(cfg: RunConfig) -> Path:
    return ko.model_dir(cfg.ctx.data_dir, cfg.ctx.out)


def score_config(cfg: RunConfig) -> ScoreConfig:
    return replace(QUICK_SCORE if cfg.quick else ScoreConfig(), lyrics=str(lyrics_path(cfg)), halves=True,
                   model_dir=str(korean_model(cfg)), generic=False)


def song_moods(cfg: RunConfig) -> list[Path]:
    """The songs people labelled with a mood, when the data directory has them (the default is chosen on them)."""
    found = find_song_moods(cfg.ctx.data_dir)
    return [found] if found else []


def lyrics_path(cfg: RunConfig) -> Path:
    """--lyrics, else the first lyrics CSV found in the data directory, else where the crawler writes."""
    return Path(cfg.lyrics) if cfg.lyrics else paths.find_lyrics(cfg.ctx.data_dir)


def layout(cfg: RunConfig) -> paths.Layout:
    return cfg.ctx.layout


# ----------------------------------------------------------------------------- the stages

def data_stage(cfg: RunConfig) -> dict:
    lyrics = lyrics_problem(cfg)
    return ensure_inputs(cfg.ctx.data_dir, needed_inputs(cfg.stages, ko.dataset(cfg.ctx.data_dir)),
                         allow_download=not cfg.offline, also_missing=[f"lyrics: {lyrics}"] if lyrics else [])


def lyrics_problem(cfg: RunConfig) -> str | None:
    """Why the lyrics the crawl and score stages need cannot be had, checked with the other inputs (None: fine).
    A --lyrics path that is not there is never crawled into, and --offline never crawls."""
    if not {"crawl", "score"} & set(cfg.stages) or lyrics_path(cfg).is_file():
        return None
    if cfg.lyrics:
        return f"--lyrics {cfg.lyrics}: no such file (check the path)"
    if cfg.offline:
        return (f"no lyrics CSV in {cfg.ctx.data_dir / 'lyrics'} and --offline forbids crawling Melon: "
                f"{paths.HOW_TO_GET_LYRICS}")
    return None if "crawl" in cfg.stages else f"no lyrics CSV at {lyrics_path(cfg)}: {paths.HOW_TO_GET_LYRICS}"


def crawl_stage(cfg: RunConfig) -> dict:
    base = QUICK_CRAWL if cfg.quick else CrawlConfig()
    return crawl(replace(base, data_dir=cfg.ctx.data_dir, lyrics=lyrics_path(cfg)))


def sentiment_stage(cfg: RunConfig) -> dict:
    m = run_sentiment(cfg.ctx, sentiment_config(cfg))
    return {"test_accuracy": m["test"][ACCURACY], "test_macro_f1": m["test"][MACRO_F1],
            "base_model": m["base_model"]["name"], "substituted": m["base_model"]["substituted"]}


def emotion_stage(cfg: RunConfig, dataset: str = "aihub") -> dict:
    metrics = train_emotion(cfg.ctx, emotion_config(cfg, dataset))
    base = metrics.get("base_model", {})
    return {"dataset": dataset, "base_model": base.get("name"), "substituted": base.get("substituted")}


def score_stage(cfg: RunConfig) -> dict:
    return {"song_emotions": str(score_songs(cfg.ctx, score_config(cfg)))}


def recommend_stage(cfg: RunConfig) -> dict:
    """Every retrieval evaluation whose inputs exist (recommend.py --evaluate: results/retrieval_eval.*), which
    chooses the default representation on songs people labelled when it can; else the labelled-retrieval
    default when the vectors support it, else the best half-split recall. Then the recommendation tables of the
    original design (every song's 10 nearest) for every song."""
    out = layout(cfg)
    evaluation = run_evaluations(cfg.ctx, **(QUICK_EVALUATION if cfg.quick else {}))
    if not evaluation.get("choice"):
        save_representation(out.song_vectors, evaluation["halves"])  # recommend.py, REPORT.md and the page use it
    result = recommend(cfg.ctx, RecommendConfig(all_songs=True, format="csv"))
    write_recommendations(result, cfg.ctx.out)
    # The report shows the tables; markdown of the same result, without recomputing it.
    write_text_atomic(out.recommendations("md"), "\n".join(markdown_tables(result)) + "\n")
    return {"representation": result["representation"], "outputs": result["outputs"],
            RECALL_AT_K: evaluation["halves"][RECALL_AT_K]}


def expected_figures(cfg: RunConfig) -> list[str]:
    """The figures this run can draw: one head (the default, --quick) leaves no head comparison."""
    compared = emotion_config(cfg, "aihub").compare
    return [f.name for f in FIGURES if (compared or f.name != HEAD_COMPARISON_FIGURE)
            and (ko.dataset(cfg.ctx.data_dir) == "aihub" or f.name not in AIHUB_ONLY)]


def graphs_stage(cfg: RunConfig) -> dict:
    from moodpipe.report.explorer import write_explorer  # here, as the figures: only this stage builds the page
    from moodpipe.report.figures import generate_graphs
    figures = [str(p) for p in generate_graphs(cfg.ctx.out)]
    return {"figures": figures, "explorer": str(write_explorer(cfg.ctx.out, quick=cfg.quick))}  # run.json: later


def mood_stage(cfg: RunConfig) -> dict:
    return {"mood_encoders": [str(p) for p in tune_mood_encoders(cfg.ctx, mood_config(cfg))]}


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
    missing = missing_inputs(cfg.ctx.data_dir, needed_inputs(cfg.stages, ko.dataset(cfg.ctx.data_dir)))
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


def settings_of(cfg: RunConfig, task_config: object) -> dict:
    """A stage's settings for its record: the task's config and the context's (another seed or device reruns it)."""
    return {"context": cfg.ctx.settings(), **asdict(task_config)}


def _data(cfg: RunConfig, *names: str) -> list[Path]:
    return [cfg.ctx.data_dir / n for n in names]


PIPELINE = [
    Stage("data", data_stage, lambda c: [], lambda c: [], lambda c: c.stages, needed=inputs_present,
          skip_note=lambda c: "every input is present"),
    Stage("crawl", crawl_stage, lambda c: [], lambda c: [lyrics_path(c)], needed=lyrics_present,
          skip_note=lambda c: f"using the lyrics in {lyrics_path(c)}"),
    Stage("sentiment", sentiment_stage, lambda c: _data(c, paths.REVIEWS),
          lambda c: [layout(c).sentiment_model / f for f in (paths.METRICS, paths.WEIGHTS)],
          lambda c: settings_of(c, sentiment_config(c)),
          produced=lambda c: [layout(c).sentiment_model, *map(layout(c).sentiment_split, SPLITS)]),
    Stage("emotion", lambda c: ko.train_all(c, emotion_stage), lambda c: ko.inputs(c.ctx.data_dir),
          lambda c: [korean_model(c) / f for f in (paths.METRICS, paths.WEIGHTS)],
          lambda c: [settings_of(c, emotion_config(c, d)) for d in ko.datasets(c.ctx.data_dir)],
          produced=lambda c: ko.produced(c.ctx.data_dir, c.ctx.out, SPLITS)),
    Stage("goemotions", goemotions_stage, lambda c: _data(c, *paths.GOEMOTIONS_FILES),
          lambda c: [layout(c).goemotions_model / paths.METRICS],
          lambda c: settings_of(c, emotion_config(c, "goemotions")), produced=lambda c: [layout(c).goemotions_model]),
    Stage("mood", mood_stage, lambda c: [*_data(c, *paths.GOEMOTIONS_FILES), korean_model(c) / paths.WEIGHTS,
                                         layout(c).goemotions_model / paths.WEIGHTS,
                                         *korean_text_files(c.ctx, mood_config(c))],
          mood_encoders, lambda c: settings_of(c, mood_config(c)),
          produced=lambda c: [p.parent for p in mood_encoders(c)]),
    Stage("score", score_stage, lambda c: [lyrics_path(c), korean_model(c) / paths.WEIGHTS,
                                           mood_encoders(c)[0]],
          lambda c: [layout(c).song_vectors, layout(c).song_halves],
          lambda c: settings_of(c, score_config(c)),
          produced=lambda c: [paths.embeddings_path(layout(c).song_vectors), layout(c).scoring_summary]),
    Stage("recommend", recommend_stage, lambda c: [layout(c).song_vectors, layout(c).song_halves, *song_moods(c)],
          lambda c: [layout(c).recommendations("csv"), layout(c).recommendations("md"), layout(c).heatmap,
                     layout(c).representation_eval, layout(c).chosen_representation, layout(c).retrieval_eval("md")],
          lambda c: {**c.ctx.settings(), "quick": c.quick, "default_chosen_on": "songs"}),
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
    problem = record_problem(stamp_path(cfg, stage.name), stage.settings(cfg), cfg.ctx.out)
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
        write_record(stamp_path(cfg, stage.name), stage.settings(cfg), cfg.ctx.out,
                     [*stage.outputs(cfg), *stage.produced(cfg)], seconds, time.strftime("%Y-%m-%d %H:%M:%S"))
    print(f"[{stage.name}] done in {seconds:.0f} s")
    return {"status": "ran", "seconds": seconds, **(info or {})}


def clean_up_interrupted(cfg: RunConfig) -> None:
    """Remove what a killed run left in the output folders (temporary files of atomic saves, training
    checkpoints): they are never resumed from, and one weights file can be hundreds of MB."""
    out = layout(cfg)
    folders = [out.processed, out.sentiment_model, out.emotion_model, out.kote_model, out.goemotions_model,
               out.results,
               out.stage_records, out.graphs, out.sentiment_model.parent]  # the last: model folders being built
    removed = remove_orphans(cfg.ctx.out, folders)
    if removed:
        print(describe_removed(removed))


# ----------------------------------------------------------------------------- the run

def run_pipeline(cfg: RunConfig, argv: list[str] | None = None) -> dict:
    """Every selected stage in order; `argv`, the command as typed (default sys.argv), heads the report."""
    run = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "quick": cfg.quick, "config": cfg.settings(),
           "provenance": provenance(argv), "versions": library_versions(), "stages": {}}
    failed, started, earlier = None, time.time(), earlier_stage_times(layout(cfg).stage_records)
    clean_up_interrupted(cfg)
    ko.announce(cfg.ctx.data_dir, cfg.stages)
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
        except KeyboardInterrupt:
            raise Interrupted(f"[{stage.name}] stopped before it finished; the stages that finished keep their "
                              f"outputs under {cfg.ctx.out}; re-run the same command to go on") from None
        print(progress_line([s for s in STAGES if s in cfg.stages], stage.name, time.time() - started,
                            earlier))
    run["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    run["runtime"] = run_device(cfg)  # after the stages: training turns deterministic algorithms on where CUDA is
    write_json_atomic(layout(cfg).run_json, run)
    write_report(cfg.ctx.out, run, expected_figures(cfg))  # not a committed figure of another run
    if failed:
        raise InputError(f"{failed}\n(outputs of the stages that finished are kept; see {layout(cfg).run_json})")
    return run


def run_device(cfg: RunConfig) -> dict:
    """Where the stages train and predict: the device and the precision the run context resolved."""
    return cfg.ctx.runtime.facts()
