"""Every figure in sample_graphs/, drawn from the saved artifacts alone (no training, no typed-in numbers).

    python generate_graphs.py                 # reads ./data/processed, ./saved_model, ./results
    python generate_graphs.py --out /tmp/run  # the output root of another run

A figure whose inputs are missing is skipped with a note naming the stage that makes them.
Korean labels render in NanumGothic (shipped by koreanize-matplotlib).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no screen on servers
import koreanize_matplotlib  # noqa: E402,F401  (sets a Hangul font)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from common import run_cli  # noqa: E402

log = logging.getLogger("pipeline")
SPLITS = ["train", "val", "test"]


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def draw_matrix(ax, matrix: np.ndarray, labels: list[str], title: str, fmt: str = "d", cmap: str = "Blues",
                annotate: bool = True, vmin: float | None = None, vmax: float | None = None) -> None:
    image = ax.imshow(matrix, cmap=cmap, vmin=vmin, vmax=vmax)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_title(title)
    if annotate:
        threshold = (np.nanmax(matrix) + np.nanmin(matrix)) / 2
        for (i, j), value in np.ndenumerate(matrix):
            ax.text(j, i, format(value, fmt), ha="center", va="center", fontsize=8,
                    color="white" if value > threshold else "black")


# ----------------------------------------------------------------------------- sentiment figures

def review_lengths(root: Path, ax) -> None:
    frames = [pd.read_csv(root / "data" / "processed" / f"{s}_data.csv") for s in SPLITS]
    df = pd.concat(frames)
    words = df.text.astype(str).str.split().str.len()
    for label, name in enumerate(["negative", "positive"]):
        ax.hist(words[df.label == label], bins=60, range=(0, 300), alpha=0.6, label=name)
    ax.axvline(words.median(), color="black", linestyle="--", label=f"median {words.median():.0f} words")
    ax.set(title=f"Review length ({len(df):,} reviews)", xlabel="words per review", ylabel="reviews")
    ax.legend()


def label_distribution(root: Path, ax) -> None:
    counts = pd.DataFrame({s: pd.read_csv(root / "data" / "processed" / f"{s}_data.csv").label.value_counts()
                           for s in SPLITS}).reindex([0, 1]).fillna(0)
    x = np.arange(len(SPLITS))
    for label, name in enumerate(["negative", "positive"]):
        bars = ax.bar(x + (label - 0.5) * 0.4, counts.loc[label], width=0.4, label=name)
        ax.bar_label(bars, fmt="%d", fontsize=8)
    ax.set_xticks(x, SPLITS)
    ax.set(title="Sentiment labels per split", xlabel="split", ylabel="reviews")
    ax.legend()


def training_curves(root: Path, ax) -> None:
    history = read_json(root / "saved_model" / "sentiment" / "trainer_log.json")
    train = [(h["epoch"], h["loss"]) for h in history if "loss" in h]
    evals = [(h["epoch"], h["eval_accuracy"], h["eval_macro_f1"], h["eval_loss"]) for h in history
             if "eval_macro_f1" in h]
    ax.plot(*zip(*train, strict=True), label="training loss", color="tab:gray")
    ax.plot([e[0] for e in evals], [e[3] for e in evals], "o-", label="validation loss", color="tab:red")
    ax.set(title="Sentiment fine-tuning", xlabel="epoch", ylabel="loss")
    right = ax.twinx()
    right.plot([e[0] for e in evals], [e[1] for e in evals], "s-", color="tab:blue", label="val accuracy")
    right.plot([e[0] for e in evals], [e[2] for e in evals], "^-", color="tab:green", label="val macro-F1")
    right.set_ylabel("validation score")
    lines = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    ax.legend(lines, [line.get_label() for line in lines], loc="center right")


def sentiment_confusion(root: Path, ax) -> None:
    metrics = read_json(root / "saved_model" / "sentiment" / "metrics.json")
    test = metrics["test"]
    draw_matrix(ax, np.array(test["confusion_matrix"]), test["labels"],
                f"Sentiment test set: accuracy {test['accuracy']:.3f}, macro-F1 {test['macro_f1']:.3f}")
    ax.set(xlabel="predicted", ylabel="true")


# ----------------------------------------------------------------------------- driver

FIGURES: list[tuple[str, Callable, tuple[float, float], str]] = [
    ("review_length_distribution.png", review_lengths, (8, 5), "mobilebert_project.py"),
    ("sentiment_label_distribution.png", label_distribution, (7, 5), "mobilebert_project.py"),
    ("sentiment_training_curves.png", training_curves, (8, 5), "mobilebert_project.py"),
    ("sentiment_confusion_matrix.png", sentiment_confusion, (6, 5), "mobilebert_project.py"),
]


def generate_graphs(root: Path, graphs_dir: Path | None = None) -> list[Path]:
    """Draw every figure whose inputs exist under root; return the PNGs written."""
    graphs_dir = graphs_dir or root / "sample_graphs"
    graphs_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw, size, stage in FIGURES:
        fig, ax = plt.subplots(figsize=size)
        try:
            draw(root, ax)
        except FileNotFoundError as e:
            log.warning("graphs: skipped %s: %s is missing (run %s first)", name, e.filename, stage)
            plt.close(fig)
            continue
        fig.tight_layout()
        tmp = graphs_dir / f".{name}.tmp.png"
        fig.savefig(tmp, dpi=120)
        tmp.replace(graphs_dir / name)
        plt.close(fig)
        written.append(graphs_dir / name)
    log.info("graphs: wrote %d of %d figures to %s", len(written), len(FIGURES), graphs_dir)
    return written


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=".", help="output root holding data/processed, saved_model, results (default: .)")
    p.add_argument("--graphs-dir", help="where the PNGs go (default: <out>/sample_graphs)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> list[Path]:
    args = parse_args(argv)
    return generate_graphs(Path(args.out), Path(args.graphs_dir) if args.graphs_dir else None)


if __name__ == "__main__":
    run_cli(main)
