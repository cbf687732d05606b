"""Run the whole pipeline in order, skipping every stage whose outputs are fresh.

    python main.py                                   # all stages, data from $DATA_DIR or data/
    python main.py --quick --out /tmp/quick          # small slices, bundled models, a few minutes
    python main.py --stages sentiment,graphs --force
    python main.py --lyrics my_songs.csv             # skip the crawl, use these lyrics

Stages: data (check inputs; download the public ones when online) -> crawl -> sentiment ->
emotion -> goemotions -> mood (a mood encoder beside each model) -> score (song emotion vectors) ->
recommend (evaluate, choose the representation, top-10 tables) -> graphs (figures, explorer page).
A stage is skipped when its outputs are newer than its inputs and it last ran with the same settings
(`--force` reruns). A stage that fails stops the run with its own message; finished stages keep their outputs.
Every run writes results/run.json and results/REPORT.md.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()  # before the imports below, which are part of what a user waits for


from moodpipe.cli import new_parser, run_cli  # noqa: E402
from moodpipe.context import add_run_options, run_context  # noqa: E402
from moodpipe.files import InputError  # noqa: E402
from moodpipe.stages.pipeline import STAGES, RunConfig, run_pipeline  # noqa: E402


def parse_args(argv: list[str] | None = None) -> RunConfig:
    p = new_parser(__doc__)
    add_run_options(p, out="output root for data/processed, saved_model, results, sample_graphs (default: .)")
    p.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated subset of {','.join(STAGES)}")
    p.add_argument("--force", action="store_true", help="rerun the selected stages even when fresh")
    p.add_argument("--quick", action="store_true", help="small slices and bundled models: every output in minutes "
                   "(numbers will be poor; the report says so)")
    p.add_argument("--lyrics", help="a lyrics CSV to use instead of crawling Melon")
    p.add_argument("--sentiment-model", default="auto", help="--model of mobilebert_project.py (default: auto)")
    p.add_argument("--emotion-model", default="auto", help="--model of the Korean emotion stage (default: auto)")
    p.add_argument("--english-model", default="auto", help="--model of the GoEmotions stage (default: auto)")
    p.add_argument("--compare", action="store_true", help="the emotion stage trains plain, arch1 and arch2 on one "
                   "split and keeps the best on validation (three times its time; default: arch2 "
                   "alone, the head of the original design this project grew from)")
    p.add_argument("--offline", action="store_true", help="never try to download missing inputs")
    a = p.parse_args(argv)
    stages = [s.strip() for s in a.stages.split(",") if s.strip()]
    unknown = sorted(set(stages) - set(STAGES))
    if unknown or not stages:
        raise InputError(f"--stages: {'unknown ' + ', '.join(unknown) if unknown else 'none given'}; choose from "
                         f"{', '.join(STAGES)}")
    return RunConfig(run_context(a), stages=stages, force=a.force, quick=a.quick, lyrics=a.lyrics,
                     sentiment_model=a.sentiment_model, emotion_model=a.emotion_model, english_model=a.english_model,
                     compare_heads=a.compare, offline=a.offline)


def main(argv: list[str] | None = None) -> dict:
    cfg = parse_args(argv)
    with cfg.ctx.hold():  # one run per output root: a second one stops here, naming this one
        run = run_pipeline(cfg, None if argv is None else ["main.py", *argv])
    print(f"pipeline finished in {time.perf_counter() - STARTED:.0f} s (imports included); report: "
          f"{cfg.ctx.layout.report}")
    return run


if __name__ == "__main__":
    run_cli(main)
