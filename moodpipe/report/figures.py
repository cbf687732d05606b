"""Every figure in sample_graphs/, drawn from the saved artifacts alone (no training, no typed-in numbers).
A figure whose inputs are missing is skipped with a note naming the stage that makes them. Korean labels
render in NanumGothic (shipped by koreanize-matplotlib).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no screen on servers
import koreanize_matplotlib  # noqa: E402,F401  (sets a Hangul font)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from moodpipe import paths  # noqa: E402
from moodpipe.contract import (  # noqa: E402
    ACCURACY,
    AIHUB_ONLY,
    CONFUSION,
    FIGURES,
    HEAD_COMPARISON_FIGURE,
    MACRO_F1,
    MAJOR6,
    SPLITS,
    emotion_label,
    is_emotion_column,
)
from moodpipe.files import InputError, read_csv_checked, read_json, write_figure_atomic  # noqa: E402
from moodpipe.paths import Layout  # noqa: E402

log = logging.getLogger("pipeline")


def saved_json(root: Path, path: Path) -> dict:
    """A saved JSON output; missing: FileNotFoundError (the figure is skipped), damaged: an InputError naming it."""
    return read_json(path, Layout(root).rebuild_command(path))


def saved_table(root: Path, path: Path, **options) -> pd.DataFrame:
    """A saved CSV output, with the same rules as saved_json."""
    if not Path(path).is_file():
        raise FileNotFoundError(2, "missing", str(path))
    return read_csv_checked(path, rebuild=Layout(root).rebuild_command(path), **options)


def incomplete(root: Path, path: Path, what: str) -> InputError:
    """A saved file that parses but cannot be drawn (cut short, emptied): one line naming it and its rebuild."""
    return InputError(f"{path} {what}, so its figure would be wrong; rebuild it with "
                      f"`{Layout(root).rebuild_command(path)}`")


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
    frames = [saved_table(root, Layout(root).sentiment_split(s)) for s in SPLITS]
    df = pd.concat(frames)
    words = df.text.astype(str).str.split().str.len()
    for label, name in enumerate(["negative", "positive"]):
        ax.hist(words[df.label == label], bins=50, range=(0, int(words.max())), alpha=0.6, label=name)
    ax.axvline(words.median(), color="black", linestyle="--", label=f"median {words.median():.0f} words")
    ax.set(title=f"Review length ({len(df):,} reviews)", xlabel="words per review", ylabel="reviews")
    ax.legend()


def label_distribution(root: Path, ax) -> None:
    counts = pd.DataFrame({s: saved_table(root, Layout(root).sentiment_split(s)).label.value_counts()
                           for s in SPLITS}).reindex([0, 1]).fillna(0)
    x = np.arange(len(SPLITS))
    for label, name in enumerate(["negative", "positive"]):
        bars = ax.bar(x + (label - 0.5) * 0.4, counts.loc[label], width=0.4, label=name)
        ax.bar_label(bars, fmt="%d", fontsize=8)
    ax.set_xticks(x, SPLITS)
    ax.set(title="Sentiment labels per split", xlabel="split", ylabel="reviews")
    ax.legend()


def training_curves(root: Path, ax) -> None:
    log_file = Layout(root).sentiment_model / paths.TRAINER_LOG
    history = saved_json(root, log_file)
    train = [(h["epoch"], h["loss"]) for h in history if "loss" in h]
    evals = [(h["epoch"], h["eval_accuracy"], h["eval_macro_f1"], h["eval_loss"]) for h in history
             if "eval_macro_f1" in h]
    if not train or not evals:
        raise incomplete(root, log_file, "holds no training loss or no validation scores")
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
    metrics = saved_json(root, Layout(root).sentiment_model / paths.METRICS)
    test = metrics["test"]
    draw_matrix(ax, np.array(test[CONFUSION]), test["labels"],
                f"Sentiment test set: accuracy {test[ACCURACY]:.3f}, macro-F1 {test[MACRO_F1]:.3f}")
    ax.set(xlabel="predicted", ylabel="true")


# ----------------------------------------------------------------------------- emotion and song figures

def emotion_confusion(root: Path, ax) -> None:
    major6 = saved_json(root, Layout(root).emotion_model / paths.METRICS)["test"][MAJOR6]
    draw_matrix(ax, np.array(major6[CONFUSION]), major6["labels"],
                f"Korean emotion, 6 major classes (test): accuracy {major6[ACCURACY]:.3f}, "
                f"macro-F1 {major6[MACRO_F1]:.3f}")
    ax.set(xlabel="predicted", ylabel="true")


def label_similarity(root: Path, ax) -> None:
    folder = Layout(root).emotion_model
    sim = saved_table(root, folder / paths.LABEL_SIMILARITY, index_col=0)
    method = saved_json(root, folder / paths.METRICS)["label_similarity"]["method"]
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
    comparison = saved_json(root, Layout(root).emotion_model / paths.HEAD_COMPARISON)
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
    df = saved_table(root, Layout(root).heatmap)
    matrix = df.drop(columns=["song_id", "song"]).apply(pd.to_numeric, errors="coerce").to_numpy(float)
    if matrix.shape[0] != matrix.shape[1] or not np.isfinite(matrix).all() or np.abs(matrix).max() > 1 + 1e-6:
        raise incomplete(root, Layout(root).heatmap, f"is not a square matrix of cosines from -1 to 1 (shape "
                         f"{matrix.shape}, {int((~np.isfinite(matrix)).sum())} missing or non-numeric values)")
    chosen = Layout(root).chosen_representation
    representation = saved_json(root, chosen).get("representation", "?") if chosen.is_file() else "?"
    draw_matrix(ax, matrix, df.song.tolist(), f"Cosine similarity of 10 random songs ({representation} vectors)",
                fmt=".2f", cmap="RdBu_r", vmin=-1, vmax=1)


def song_profile(root: Path, ax) -> None:
    """One song against the catalogue: the emotions it has most above and most below the mean."""
    songs = saved_table(root, Layout(root).song_vectors)
    song = songs.iloc[0]
    fine = [c for c in songs.columns if is_emotion_column(c)]
    diff = (song[fine].astype(float) - songs[fine].mean()).sort_values(ascending=False) * 100
    shown = pd.concat([diff.head(8), diff.tail(8)])
    y = np.arange(len(shown))
    ax.barh(y, shown, color=np.where(shown > 0, "tab:red", "tab:blue"))
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y, [emotion_label(c) for c in shown.index])
    ax.invert_yaxis()
    ax.set(title=f"Emotion profile of '{song.song_name}' - {song.artist}: the 8 emotions most above and below "
           f"the mean of {len(songs)} songs", xlabel="song minus catalogue mean (percentage points of probability)")


# ----------------------------------------------------------------------------- driver

# The function that draws each figure of the registry (moodpipe.contract.FIGURES: names, captions, what rebuilds
# their inputs, sizes).
DRAW: dict[str, Callable] = {
    "review_length_distribution.png": review_lengths,
    "sentiment_label_distribution.png": label_distribution,
    "sentiment_training_curves.png": training_curves,
    "sentiment_confusion_matrix.png": sentiment_confusion,
    "emotion_confusion_matrix_6class.png": emotion_confusion,
    "emotion_label_similarity_60x60.png": label_similarity,
    HEAD_COMPARISON_FIGURE: head_comparison,
    "song_similarity_heatmap.png": song_heatmap,
    "song_emotion_profile.png": song_profile,
}


def generate_graphs(root: Path, graphs_dir: Path | None = None) -> list[Path]:
    """Draw every figure whose inputs exist under root; return the PNGs written. A root with nothing to draw
    from (a mistyped --out) is an error, not an empty success."""
    if not Path(root).is_dir():
        raise InputError(f"--out {root}: no such folder (it should hold the saved_model/ and results/ of a run)")
    graphs_dir = graphs_dir or Layout(root).graphs
    written = []
    for figure in FIGURES:
        name = figure.name
        fig, ax = plt.subplots(figsize=figure.size)
        try:
            DRAW[name](root, ax)
        except FileNotFoundError as e:
            # A default run trains one head, so no comparison to draw: a note, not a warning.
            # Nor, with KOTE alone, any AI-Hub figure.
            aihub_absent = name in AIHUB_ONLY and not (Layout(root).emotion_model / paths.METRICS).is_file()
            level = logging.INFO if name == HEAD_COMPARISON_FIGURE or aihub_absent else logging.WARNING
            log.log(level, "graphs: skipped %s: %s is missing (run `%s` first)", name, e.filename, figure.rebuild)
            plt.close(fig)
            continue
        except (KeyError, TypeError, IndexError, ValueError) as e:  # files that parse but lack what we draw
            plt.close(fig)
            raise InputError(f"cannot draw {name}: its inputs under {root} lack {type(e).__name__} {e}; rebuild "
                             f"them with `{figure.rebuild}`") from None
        fig.tight_layout()
        write_figure_atomic(graphs_dir / name, fig)
        plt.close(fig)
        written.append(graphs_dir / name)
    log.info("graphs: wrote %d of %d figures to %s", len(written), len(FIGURES), graphs_dir)
    if not written:
        raise InputError(f"no figure drawn: {root} holds none of the saved models and results they are drawn "
                         "from (is --out the output root of a run?)")
    return written
