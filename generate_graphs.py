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
        ax.hist(words[df.label == label], bins=50, range=(0, int(words.max())), alpha=0.6, label=name)
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
    ax.legend(lines, [line.get_label() for line in lines], loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=4)


def sentiment_confusion(root: Path, ax) -> None:
    metrics = read_json(root / "saved_model" / "sentiment" / "metrics.json")
    test = metrics["test"]
    draw_matrix(ax, np.array(test["confusion_matrix"]), test["labels"],
                f"Sentiment test set: accuracy {test['accuracy']:.3f}, macro-F1 {test['macro_f1']:.3f}")
    ax.set(xlabel="predicted", ylabel="true")


# ----------------------------------------------------------------------------- emotion and song figures

def emotion_confusion(root: Path, ax) -> None:
    major6 = read_json(root / "saved_model" / "emotion" / "metrics.json")["test"]["major6"]
    draw_matrix(ax, np.array(major6["confusion_matrix"]), major6["labels"],
                f"Korean emotion, 6 major classes (test): accuracy {major6['accuracy']:.3f}, "
                f"macro-F1 {major6['macro_f1']:.3f}")
    ax.set(xlabel="predicted", ylabel="true")


def label_similarity(root: Path, ax) -> None:
    folder = root / "saved_model" / "emotion"
    sim = pd.read_csv(folder / "label_similarity.csv", index_col=0)
    method = read_json(folder / "metrics.json")["label_similarity"]["method"]
    draw_matrix(ax, sim.to_numpy(), [str(c) for c in sim.columns], f"Learned label similarity (60 x 60): {method}",
                cmap="RdBu_r", annotate=False, vmin=-1, vmax=1)
    ax.tick_params(labelsize=6)
    # Lines between the 6 major classes make the block structure readable.
    majors = [str(c).split("/")[0] for c in sim.columns]
    for i in range(1, len(majors)):
        if majors[i] != majors[i - 1]:
            ax.axhline(i - 0.5, color="black", linewidth=0.6)
            ax.axvline(i - 0.5, color="black", linewidth=0.6)


def head_comparison(root: Path, ax) -> None:
    comparison = read_json(root / "saved_model" / "emotion" / "head_comparison.json")
    heads = list(comparison["heads"])
    scores = {"accuracy (60)": "test_accuracy_60", "macro-F1 (60)": "test_macro_f1_60",
              "weighted F1 (60)": "test_similarity_weighted_f1", "accuracy (6)": "test_accuracy_6",
              "macro-F1 (6)": "test_macro_f1_6"}
    x = np.arange(len(scores))
    width = 0.8 / len(heads)
    for i, head in enumerate(heads):
        values = [comparison["heads"][head][key] for key in scores.values()]
        bars = ax.bar(x + (i - (len(heads) - 1) / 2) * width, values, width, label=head)
        ax.bar_label(bars, fmt="%.3f", fontsize=7)
    ax.set_xticks(x, list(scores))
    ax.set(title=f"Classification heads on one split (test set; saved: {comparison['chosen']})", ylabel="score",
           ylim=(0, 1))
    ax.legend()


def song_heatmap(root: Path, ax) -> None:
    df = pd.read_csv(root / "results" / "heatmap_songs.csv")
    matrix = df.drop(columns=["song_id", "song"]).to_numpy(float)
    representation = read_json(root / "results" / "representation_eval.json").get("best", "?")
    draw_matrix(ax, matrix, df.song.tolist(), f"Cosine similarity of 10 random songs ({representation} vectors)",
                fmt=".2f", cmap="RdBu_r", vmin=-1, vmax=1)


def song_profile(root: Path, ax) -> None:
    """One song against the catalogue: the emotions it has most above and most below the mean."""
    songs = pd.read_csv(root / "results" / "song_emotions.csv")
    song = songs.iloc[0]
    fine = [c for c in songs.columns if c.startswith("emo:")]
    diff = (song[fine].astype(float) - songs[fine].mean()).sort_values(ascending=False) * 100
    shown = pd.concat([diff.head(8), diff.tail(8)])
    y = np.arange(len(shown))
    ax.barh(y, shown, color=np.where(shown > 0, "tab:red", "tab:blue"))
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y, [c.removeprefix("emo:") for c in shown.index])
    ax.invert_yaxis()
    ax.set(title=f"Emotion profile of '{song.song_name}' - {song.artist}: the 8 emotions most above and below "
           f"the mean of {len(songs)} songs", xlabel="song minus catalogue mean (percentage points of probability)")


# ----------------------------------------------------------------------------- driver

FIGURES: list[tuple[str, Callable, tuple[float, float], str]] = [
    ("review_length_distribution.png", review_lengths, (8, 5), "mobilebert_project.py"),
    ("sentiment_label_distribution.png", label_distribution, (7, 5), "mobilebert_project.py"),
    ("sentiment_training_curves.png", training_curves, (8, 5), "mobilebert_project.py"),
    ("sentiment_confusion_matrix.png", sentiment_confusion, (6, 5), "mobilebert_project.py"),
    ("emotion_confusion_matrix_6class.png", emotion_confusion, (8, 7), "lyrics_emotion.py train"),
    ("emotion_label_similarity_60x60.png", label_similarity, (14, 13), "lyrics_emotion.py train"),
    ("emotion_head_comparison.png", head_comparison, (10, 5), "lyrics_emotion.py train --compare"),
    ("song_similarity_heatmap.png", song_heatmap, (11, 9), "recommend.py"),
    ("song_emotion_profile.png", song_profile, (10, 6), "lyrics_emotion.py score"),
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


# ----------------------------------------------------------------------------- the run report

def optional_json(path: Path) -> dict | None:
    return read_json(path) if path.is_file() else None


def sentiment_section(root: Path) -> list[str]:
    m = optional_json(root / "saved_model" / "sentiment" / "metrics.json")
    if not m:
        return []
    rows = [("fine-tuned " + m["base_model"]["name"], m["test"]), ("TF-IDF word 1-2 grams + LR",
                                                                   m["baselines"]["tfidf_logreg"]),
            ("majority class", m["baselines"]["majority"])]
    return ["## Review sentiment", "", f"Test set: {m['data']['split_sizes']['test']} reviews; "
            f"training {m['train_seconds']:.0f} s.", "", "| model | accuracy | macro-F1 |", "|---|---|---|",
            *[f"| {name} | {r['accuracy']:.3f} | {r['macro_f1']:.3f} |" for name, r in rows], ""]


def emotion_section(root: Path) -> list[str]:
    folder = root / "saved_model" / "emotion"
    m = optional_json(folder / "metrics.json")
    if not m:
        return []
    t, b = m["test"], m["baselines"]
    lines = ["## Korean emotion (AI-Hub, 60 labels / 6 major classes)", "",
             f"Base model: {m['base_model']['name']}; head saved: {m['head']} ({m['head_selection']}); unit: "
             f"{m['data']['unit']}; test units: {m['data']['split_units']['test']}.", "",
             "| model | acc (60) | macro-F1 (60) | acc (6) | macro-F1 (6) |", "|---|---|---|---|---|",
             f"| {m['head']} | {t['labels60']['accuracy']:.3f} | {t['labels60']['macro_f1']:.3f} | "
             f"{t['major6']['accuracy']:.3f} | {t['major6']['macro_f1']:.3f} |"]
    for name, key in [("TF-IDF char 1-4 grams + LR", "tfidf_char_logreg"), ("majority class", "majority")]:
        r = b[key]
        lines.append(f"| {name} | {r['labels60']['accuracy']:.3f} | {r['labels60']['macro_f1']:.3f} | "
                     f"{r['major6']['accuracy']:.3f} | {r['major6']['macro_f1']:.3f} |")
    w = t["similarity_weighted_f1"]
    lines += ["", f"Similarity-weighted F1 (hierarchy, same-major credit {w['same_major_credit']}): "
              f"{w['hierarchy']:.3f} (plain macro-F1 {w['identity']:.3f}).", ""]
    if (folder / "head_comparison.md").is_file():
        lines += ["### Heads compared on the same split", "", (folder / "head_comparison.md").read_text(), ""]
    return lines


def goemotions_section(root: Path) -> list[str]:
    m = optional_json(root / "saved_model" / "goemotions" / "metrics.json")
    if not m:
        return []
    t = m["test"]
    return ["## GoEmotions (English, multi-label)", "", f"Base model: {m['base_model']['name']}.", "",
            "| test | macro-F1 | micro-F1 |", "|---|---|---|",
            *[f"| {name} | {t[key]['macro_f1']:.3f} | {t[key]['micro_f1']:.3f} |" for name, key in
              [("28 labels, thresholds tuned on dev", "labels28_tuned"), ("28 labels at 0.5", "labels28_at_0.5"),
               ("Ekman groups, tuned", "ekman7_tuned")]], ""]


def recommend_section(root: Path, n_examples: int = 3) -> list[str]:
    results = root / "results"
    evaluation = optional_json(results / "representation_eval.json")
    if not evaluation or not (results / "recommendations.csv").is_file():
        return []
    recall = evaluation[f"recall_at_{evaluation['k']}"]
    lines = ["## Recommendations", "", f"Representation chosen by half-split recall@{evaluation['k']} over "
             f"{evaluation['n_songs']} songs (chance {evaluation['chance']:.4f}): **{evaluation['best']}**.", "",
             "| representation | recall@10 |", "|---|---|", *[f"| {r} | {v:.4f} |" for r, v in recall.items()], ""]
    table = pd.read_csv(results / "recommendations.csv")
    for query in table["query"].drop_duplicates().head(n_examples):
        rows = table[table["query"] == query]
        lines += [f"### {query}", "", "| Rank | Song | Artist | Similarity | Shared emotions |", "|---" * 5 + "|",
                  *[f"| {r.rank} | {r.song} | {r.artist} | {r.similarity:.4f} | {r.shared_emotions} |"
                    for r in rows.itertuples()], ""]
    return lines


def write_report(root: Path, run: dict) -> Path:
    """results/REPORT.md: what ran, every stage's metrics with baselines, examples, and every figure."""
    from common import write_text_atomic
    lines = ["# Pipeline report", ""]
    if run.get("quick"):
        lines += ["> **Quick run**: small slices and few steps, to prove the pipeline works end to end. "
                  "The numbers below are not results; run `python main.py` for those.", ""]
    lines += ["| stage | status | seconds |", "|---|---|---|",
              *[f"| {name} | {s['status']} | {s.get('seconds', '')} |" for name, s in run["stages"].items()], ""]
    for section in (sentiment_section, emotion_section, goemotions_section, recommend_section):
        lines += section(root)
    figures = [name for name, *_ in FIGURES if (root / "sample_graphs" / name).is_file()]
    lines += ["## Figures", "", *[f"![{name}](../sample_graphs/{name})" for name in figures], ""]
    return write_text_atomic(root / "results" / "REPORT.md", "\n".join(lines))


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
