"""Every figure in sample_graphs/, and the explorer page results/explorer.html, drawn from the saved artifacts
alone (no training, no typed-in numbers).

    python generate_graphs.py                 # reads ./data/processed, ./saved_model, ./results
    python generate_graphs.py --out /tmp/run  # the output root of another run

A figure whose inputs are missing is skipped with a note naming the stage that makes them.
Korean labels render in NanumGothic (shipped by koreanize-matplotlib).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from moodpipe.cli import new_parser, run_cli
from moodpipe.context import add_run_options, output_root_lock
from moodpipe.report.explorer import write_explorer
from moodpipe.report.figures import generate_graphs


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = new_parser(__doc__)
    add_run_options(p, out="output root holding data/processed, saved_model, results (default: .)", data=False,
                    device=False, seed=False)
    p.add_argument("--graphs-dir", help="where the PNGs go (default: <out>/sample_graphs)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> list[Path]:
    args = parse_args(argv)
    graphs_dir = Path(args.graphs_dir) if args.graphs_dir else None
    with output_root_lock(Path(args.out), create=False):  # one run per output root
        figures = generate_graphs(Path(args.out), graphs_dir)
        return [*figures, write_explorer(Path(args.out), graphs_dir)]  # the page inlines the figures just drawn


if __name__ == "__main__":
    run_cli(main)
