"""Seed spread of the headline figures: the cheaper stages rerun with other seeds; mean and spread written.

    python bench/seeds.py --from OUT --data-dir data --seeds 1 2 [--quick] [--report docs/seeds.md]

OUT is a full run's output root (`python main.py --out OUT`); its figures count as the seed it ran with (its
own metrics files, nothing rerun). Every other seed gets a fresh output root beside OUT holding a copy of OUT's
Korean emotion model, and reruns in it: the sentiment stage, the GoEmotions stage, the mood stage (both mood
encoders) and the song-mood evaluation of both models. The Korean emotion model keeps OUT's one seed (its
stage is most of a full run's hour), so the Korean song-mood spread is the mood encoder's alone.

Writes a markdown table (mean, sample standard deviation, min and max over the seeds, and each seed's value)
to --report, with the JSON of every figure beside it. --quick runs each stage's quick variant (a smoke test).
A seed whose root already holds its figures (seed_figures.json, written when it finished) is not rerun, so a
stopped bench picks up where it was; --fresh reruns every seed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moodpipe import paths  # noqa: E402
from moodpipe.context import RunContext, add_run_options, run_context  # noqa: E402
from moodpipe.contract import ACCURACY, EKMAN7_TUNED, LABELS28_TUNED, MACRO_F1, TFIDF_WORDS  # noqa: E402
from moodpipe.files import write_json_atomic, write_text_atomic  # noqa: E402
from moodpipe.models.mood_encoder import MOOD_ENCODER  # noqa: E402
from moodpipe.provenance import provenance, provenance_lines  # noqa: E402
from moodpipe.recommend.evaluation import keeps_floors  # noqa: E402
from moodpipe.recommend.song_moods import PER_SONG, evaluate_song_moods, find_song_moods, held_out_choice  # noqa: E402
from moodpipe.stages import korean  # noqa: E402
from moodpipe.stages.emotion import FULL_EMOTION, QUICK_EMOTION, train_emotion  # noqa: E402
from moodpipe.stages.mood import QUICK as QUICK_MOOD  # noqa: E402
from moodpipe.stages.mood import MoodConfig, tune_mood_encoders  # noqa: E402
from moodpipe.stages.sentiment import QUICK as QUICK_SENTIMENT  # noqa: E402
from moodpipe.stages.sentiment import SentimentConfig, run_sentiment  # noqa: E402

QUICK_SONGS_PER_MOOD = 15  # --quick: the song-mood evaluation on the first 15 songs of each mood
SEED_FIGURES = "seed_figures.json"  # in a seed's root once it finished: its figures, and what made them


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--from", dest="source", required=True, help="a full run's output root (main.py --out)")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2], help="the other seeds to run (default: 1 2)")
    p.add_argument("--quick", action="store_true", help="each stage's quick variant (a smoke test)")
    p.add_argument("--fresh", action="store_true", help="rerun every seed, even one whose root holds its figures")
    p.add_argument("--report", default="docs/seeds.md", help="markdown table to write (default: docs/seeds.md)")
    add_run_options(p, out=None, seed=False)
    return p.parse_args()


def song_mood_figures(ctx: RunContext, per_mood: int | None) -> dict[str, float]:
    """Top-10 mood agreement on the labelled songs of `mood`, `features` and the chosen default, per model, and
    the Korean model's held-out figure (each song scored by the default chosen on the other folds)."""
    path = find_song_moods(ctx.data_dir)
    if path is None:
        return {}
    choice = full_run_choice(ctx.out)
    chosen = choice.get("candidate", "mood")
    figures = {}
    for model, name in ((korean.model_dir(ctx.data_dir, ctx.out), "Korean"), (ctx.layout.goemotions_model, "English")):
        result = evaluate_song_moods(path, model, ctx.runtime, per_mood=per_mood)
        candidates = result["candidates"]
        figures.update({f"song moods ({name}): {key}": candidates[key] for key in ("mood", "features", chosen)
                        if key in candidates})
        # Among the candidates that kept the full run's floors (the floors themselves are not re-measured).
        eligible = [key for key, row in choice.get("candidates", {}).items() if keeps_floors(row) and key in candidates]
        if name == "Korean" and eligible:
            held = held_out_choice(result[PER_SONG]["candidates"], result[PER_SONG]["moods"], eligible)
            figures["song moods (Korean): default, held out"] = held["agreement"]
    return figures


def full_run_choice(out: Path) -> dict:
    """The default the full run chose (results/retrieval_eval.json's choice: its candidate, e.g. `hybrid 0.5 mood +
    0.5 features`, and every candidate's scores), or {} when it chose none."""
    report = paths.Layout(out).retrieval_eval("json")
    return json.loads(report.read_text(encoding="utf-8")).get("choice") or {} if report.is_file() else {}


def stage_figures(out: Path) -> dict[str, float]:
    """The sentiment and GoEmotions test figures saved in a run's model folders. The seed also draws the reviews'
    split, so the sentiment rows carry TF-IDF + LR on the same split and the margin over it."""
    layout = paths.Layout(out)
    reviews = json.loads((layout.sentiment_model / paths.METRICS).read_text(encoding="utf-8"))
    sentiment, tfidf = reviews["test"], reviews["baselines"][TFIDF_WORDS]
    goemotions = json.loads((layout.goemotions_model / paths.METRICS).read_text(encoding="utf-8"))["test"]
    return {"sentiment accuracy": sentiment[ACCURACY], "sentiment macro-F1": sentiment[MACRO_F1],
            "sentiment accuracy, TF-IDF + LR on the same split": tfidf[ACCURACY],
            "sentiment accuracy minus TF-IDF + LR": sentiment[ACCURACY] - tfidf[ACCURACY],
            "GoEmotions macro-F1 (28, tuned)": goemotions[LABELS28_TUNED][MACRO_F1],
            "GoEmotions macro-F1 (Ekman, tuned)": goemotions[EKMAN7_TUNED][MACRO_F1]}


def source_figures(ctx: RunContext, per_mood: int | None) -> dict[str, float]:
    """The full run's own figures (its seed): read from its files; its song moods are scored again, unchanged."""
    return {**stage_figures(ctx.out), **song_mood_figures(ctx, per_mood)}


def source_seed(out: Path) -> int:
    """The seed the full run ran with, as its sentiment model records it."""
    metrics = json.loads((paths.Layout(out).sentiment_model / paths.METRICS).read_text(encoding="utf-8"))
    return int(metrics["context"]["seed"])


def finished_figures(out: Path, quick: bool) -> dict[str, float] | None:
    """A seed root's figures when that seed finished with the same --quick, else None (it must run again)."""
    saved = out / SEED_FIGURES
    if not saved.is_file():
        return None
    record = json.loads(saved.read_text(encoding="utf-8"))
    return record["figures"] if record.get("quick") == quick else None


def seed_root(source: RunContext, seed: int) -> Path:
    """Where a seed reruns: a fresh output root beside the full run's (OUT-seedN)."""
    return source.out.with_name(f"{source.out.name}-seed{seed}")


def rerun_with_seed(source: RunContext, seed: int, quick: bool) -> dict[str, float]:
    """The cheaper stages again with another seed, in a fresh root beside the source's (kept when finished)."""
    ctx = replace(source, out=seed_root(source, seed), seed=seed)
    shutil.rmtree(ctx.out, ignore_errors=True)
    korean_model = korean.model_dir(source.data_dir, source.out)
    shutil.copytree(korean_model, korean.model_dir(ctx.data_dir, ctx.out), ignore=shutil.ignore_patterns(MOOD_ENCODER))
    chosen = source.layout.retrieval_eval("json")  # which default the full run chose
    if chosen.is_file():
        ctx.layout.retrieval_eval("json").parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(chosen, ctx.layout.retrieval_eval("json"))
    run_sentiment(ctx, QUICK_SENTIMENT if quick else SentimentConfig())
    train_emotion(ctx, (QUICK_EMOTION if quick else FULL_EMOTION)["goemotions"])
    tune_mood_encoders(ctx, QUICK_MOOD if quick else MoodConfig())
    figures = {**stage_figures(ctx.out), **song_mood_figures(ctx, QUICK_SONGS_PER_MOOD if quick else None)}
    write_json_atomic(ctx.out / SEED_FIGURES, {"seed": seed, "quick": quick, "figures": figures})
    return figures


def spread_table(by_seed: dict[int, dict[str, float]]) -> list[str]:
    """One row per figure: mean, sample standard deviation, min-max, and each seed's value.

    >>> spread_table({1: {"a": 0.5}, 2: {"a": 0.7}})[2]
    '| a | 0.600 | 0.141 | 0.500-0.700 | 0.500 | 0.700 |'
    """
    seeds = list(by_seed)
    lines = ["| figure | mean | sd | min-max | " + " | ".join(f"seed {s}" for s in seeds) + " |",
             "|---|---|---|---|" + "---|" * len(seeds)]
    for name in by_seed[seeds[0]]:
        values = [by_seed[s][name] for s in seeds if name in by_seed[s]]
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        lines.append(f"| {name} | {statistics.mean(values):.3f} | {sd:.3f} | {min(values):.3f}-{max(values):.3f} | "
                     + " | ".join(f"{v:.3f}" for v in values) + " |")
    return lines


def reused_note(reused: list[int]) -> str:
    """What the report says of the seeds it did not rerun.

    >>> reused_note([1, 2])
    ' (seeds 1, 2 reused: they had finished in earlier ones)'
    """
    if len(reused) == 1:
        return f" (seed {reused[0]} reused: it had finished in an earlier one)"
    return f" (seeds {', '.join(map(str, reused))} reused: they had finished in earlier ones)" if reused else ""


def main() -> None:
    args = parse_args()
    args.out = str(Path(args.source).resolve())  # its seeds go beside it
    source = replace(run_context(args), seed=source_seed(Path(args.source)))  # the full run says its seed
    start = time.time()
    per_mood = QUICK_SONGS_PER_MOOD if args.quick else None
    by_seed = {source.seed: source_figures(source, per_mood)}
    reused = []
    for seed in args.seeds:
        done = None if args.fresh else finished_figures(seed_root(source, seed), args.quick)
        if done is None:
            by_seed[seed] = rerun_with_seed(source, seed, args.quick)
            continue
        print(f"seed {seed}: finished before in {seed_root(source, seed)}, its figures reused (--fresh reruns it)")
        reused.append(seed)
        # saved figures spare the song scoring; those in its model folders are read again (rows added since)
        by_seed[seed] = {**stage_figures(seed_root(source, seed)), **done}
    command = "python bench/seeds.py " + " ".join(sys.argv[1:])
    note = reused_note(reused)
    lines = ["# Seed spread", "", *provenance_lines(provenance()),
             f"{len(by_seed)} seeds ({', '.join(map(str, by_seed))}; the first is {source.out}'s own run), "
             f"{time.time() - start:.0f} s for this command"
             f"{note}. The Korean emotion model keeps its one seed; the stages rerun are sentiment, GoEmotions and "
             "the mood encoders.", "", *spread_table(by_seed)]
    report = Path(args.report)
    write_text_atomic(report, "\n".join(lines) + "\n")
    write_json_atomic(report.with_suffix(".json"), {"command": command, "by_seed": by_seed})
    print("\n".join(lines))


if __name__ == "__main__":
    main()
