"""results/explorer.html: one page (and Plotly beside it) to find a song, see its emotions and its neighbours, browse
the catalogue (the 10-song heatmap, a 2-D map of every song), and read the models' key numbers and every figure.

It opens from disk with no server and no network: the data is inlined as JSON, the figures as base64 PNGs, and
Plotly's JavaScript (4.8 MB) is one file beside the page (PLOTLY_FILE), written once and loaded after the page is
usable, so search and neighbours answer at once and the charts follow.

In an embedding representation (features, generic, hybrid: the page cannot rebuild them from probabilities) each
song's DEPTH nearest songs come from `recommend.py --all --top DEPTH` (the same `recommend` call, made here), and
the page filters that list: the first 10 that pass are the CLI's answer with the same filters, and when fewer than
10 of the DEPTH pass the page says so and prints the command. In the probability representations everything is
computed in the browser over the inlined probabilities, transformed as `fit_representation` does (its offset and
scale, probed from the transform itself rather than re-derived).
"""

from __future__ import annotations

import base64
import html
import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from moodpipe import paths
from moodpipe.context import RunContext
from moodpipe.contract import (
    ACCURACY,
    CAPTIONS,
    EKMAN7_TUNED,
    LABELS28_AT_HALF,
    LABELS28_TUNED,
    LABELS60,
    MACRO_F1,
    MAJOR6,
    MAJORITY,
    TFIDF_CHARS,
    TFIDF_WORDS,
    TOP_K,
)
from moodpipe.files import InputError, read_json, write_text_atomic
from moodpipe.paths import Layout
from moodpipe.recommend.catalogue import load_catalogue, major_of, readable
from moodpipe.recommend.evaluation import summary_rows
from moodpipe.recommend.queries import RecommendConfig, recommend
from moodpipe.recommend.representations import (
    LOG_FLOOR,
    MAJOR_SUMS,
    PROBABILITY_REPRESENTATIONS,
    REPRESENTATIONS,
    fit_representation,
    fit_space,
    hybrid_for,
)
from moodpipe.recommend.topk import normalize_rows
from moodpipe.report.documents import kote_rows

log = logging.getLogger("pipeline")

TOP = TOP_K  # neighbours per song, as recommend.py's --top default
DEPTH = 50  # nearest songs kept per song in an embedding space, for filtering in the page (4 bytes each)
TEMPLATE = Path(__file__).with_name("explorer_template.html")
PLOTLY_FILE = "plotly.min.js"  # beside the page; the app serves it at /plotly.min.js


def explorer_path(root: Path) -> Path:
    """Where the page goes: <root>/results/explorer.html."""
    return Layout(Path(root)).explorer


def write_explorer(root: Path, graphs_dir: Path | None = None, path: Path | None = None,
                   quick: bool | None = None) -> Path:
    """Build the page from the artifacts saved under root and write it, with Plotly beside it; a missing or empty
    catalogue gives a page that says so (the models and figures are still shown). quick: whether these are a
    quick run's artifacts (main.py's graphs stage knows, before run.json is written); None: run.json says."""
    layout = Layout(Path(root))
    if quick is None:
        quick = bool(layout.run_json.is_file() and read_json(layout.run_json).get("quick"))
    data: dict = {"catalogue": None, "heatmap": heatmap_data(layout.heatmap), "quick": quick}
    problem = ""
    try:
        data["catalogue"] = catalogue_data(layout.song_vectors)
    except InputError as e:
        problem = str(e)
        log.warning("explorer: no song catalogue in the page: %s", problem)
    page = render_page(data, problem, models_html(layout) + retrieval_html(layout),
                       figures_html(graphs_dir or layout.graphs))
    path = write_text_atomic(path or explorer_path(layout.root), page)
    write_plotly(path.parent)
    log.info("explorer: wrote %s (%.2f MB; Plotly in %s)", path, path.stat().st_size / 1e6, PLOTLY_FILE)
    return path


def write_plotly(folder: Path) -> Path:
    """Plotly's JavaScript as PLOTLY_FILE in folder, rewritten only when it differs (one copy, cached by browsers)."""
    from plotly.offline import get_plotlyjs  # lazy: only page building needs plotly
    target, code = Path(folder) / PLOTLY_FILE, get_plotlyjs()
    if not target.is_file() or target.stat().st_size != len(code.encode("utf-8")):
        write_text_atomic(target, code)
    return target


# ----------------------------------------------------------------------------- the catalogue's data

def catalogue_data(vectors: Path) -> dict:
    """Songs, probabilities, representations, the CLI's deep neighbour lists and the 2-D map, ready for JSON."""
    meta, probs, columns, catalogue = load_catalogue(vectors)
    top = cli_neighbours(vectors, None, TOP)  # also rejects NaN rows and vectors without a direction, as the CLI
    default = top["representation"]
    units = normalize_rows(fit_space(catalogue, columns, default, hybrid_for(vectors))(catalogue))
    majors = major_names(columns)
    groups = probs @ group_matrix(columns, majors) if majors else probs
    years = meta.year.to_numpy(float)
    specs = representation_specs(probs, columns)
    return {
        "songs": [[sid, song, artist, None if np.isnan(y) else int(y)]
                  for sid, song, artist, y in zip(meta.song_id, meta.song, meta.artist, years, strict=True)],
        "columns": [readable(c) for c in columns],
        "majors": majors,
        "column_major": [majors.index(major_of(c)) for c in columns] if majors else [],
        "probs": float32_base64(probs),
        "mean_probs": probs.mean(axis=0).round(5).tolist(),
        "mean_majors": groups.mean(axis=0).round(5).tolist() if majors else [],
        "dominant": groups.argmax(axis=1).tolist(),
        "dominant_names": majors or [readable(c) for c in columns],
        "default_representation": default,
        "representations": {**specs, **precomputed(default, vectors, meta)},
        "log_floor": LOG_FLOOR,
        "top": TOP,
        "map": pca_map(units),
    }


def cli_neighbours(vectors: Path, representation: str | None, top: int) -> dict:
    """`recommend.py --all --top TOP [--representation R]`'s result for these vectors (no representation: the
    one saved beside them, else the default the vectors support). Nothing is written: the recommend stage's
    outputs stay its own."""
    return recommend(RunContext(out=Path(vectors).parent), RecommendConfig(vectors=str(vectors), all_songs=True,
                                                                          top=top, representation=representation))


def precomputed(default: str, vectors: Path, meta: pd.DataFrame) -> dict:
    """An embedding space (features, generic, hybrid) cannot be rebuilt from the inlined probabilities: when it
    is the default, the page gets each song's DEPTH nearest songs from the CLI and filters them; its shared
    emotions are read in `log`, as the CLI reads them (explanation_space)."""
    if default in PROBABILITY_REPRESENTATIONS:
        return {}
    depth = max(min(DEPTH, len(meta) - 1), 1)
    table = cli_neighbours(vectors, default, depth)["table"]
    about = REPRESENTATIONS[default] + f" (each song's {depth} nearest, from recommend.py, filtered in the page)"
    return {default: {"about": about, "precomputed": encode_deep(table, meta, depth), "explain": "log"}}


def encode_deep(table: pd.DataFrame, meta: pd.DataFrame, depth: int) -> dict:
    """Per song its `depth` nearest, as two base64 arrays of songs x depth: catalogue rows (uint16, or uint32 past
    65,535 songs; the largest value = none) and similarities x 10,000 (int16: the CLI's 4 decimals exactly)."""
    n = len(meta)
    rank = table["rank"].to_numpy() - 1
    query = np.cumsum(rank == 0) - 1  # --all lists the queries in catalogue order, each from rank 1
    if query[-1] != n - 1:
        raise RuntimeError("recommend --all gave a query without neighbours: the page's lists would shift")
    position = pd.Series(np.arange(n), index=meta.song_id.to_numpy())
    position = position[~position.index.duplicated()]  # a repeated song_id: its first row, as --song-id picks
    wide = n > 65_535
    rows = np.full((n, depth), np.iinfo(np.uint32 if wide else np.uint16).max, dtype="<u4" if wide else "<u2")
    sims = np.zeros((n, depth), dtype="<i2")
    rows[query, rank] = position.reindex(table.song_id.to_numpy()).to_numpy()
    sims[query, rank] = np.rint(table.similarity.to_numpy() * 10_000)
    return {"depth": depth, "wide": wide, "rows": base64.b64encode(rows.tobytes()).decode("ascii"),
            "sims": base64.b64encode(sims.tobytes()).decode("ascii")}


def major_names(columns: list[str]) -> list[str]:
    """The major classes in order of first appearance (as fit_representation's major6), or [] when some column
    has none (e.g. GoEmotions labels)."""
    majors = [major_of(c) for c in columns]
    return [] if None in majors else list(dict.fromkeys(majors))


def group_matrix(columns: list[str], majors: list[str]) -> np.ndarray:
    """(columns, majors) 0/1 matrix: probabilities @ it gives each major class's mass."""
    return np.array([[major_of(c) == m for m in majors] for c in columns], dtype=float)


def float32_base64(x: np.ndarray) -> str:
    """Row-major little-endian float32 as base64: ~4/3 bytes per 7-digit value, a third of JSON decimals."""
    return base64.b64encode(np.ascontiguousarray(x, dtype="<f4").tobytes()).decode("ascii")


def pca_map(units: np.ndarray) -> dict:
    """The first two principal components of the unit vectors (the space the neighbours are ranked in)."""
    x = units - units.mean(axis=0)
    if len(x) < 2:
        return {"x": [0.0] * len(x), "y": [0.0] * len(x), "explained": [0.0, 0.0]}
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    xy = x @ vt[:2].T if vt.shape[0] >= 2 else np.c_[x @ vt[:1].T, np.zeros(len(x))]
    explained = (s[:2] ** 2 / max((s ** 2).sum(), 1e-12)).tolist()
    return {"x": xy[:, 0].round(4).tolist(), "y": xy[:, 1].round(4).tolist(), "explained": explained + [0.0]}


# ----------------------------------------------------------------------------- representations for the browser

def base_functions(columns: list[str]) -> dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]]:
    """The page's own first step of each representation (mirrored in explorer_template.html's baseOf):
    the affine rest, (base - mean) / spread, is probed from fit_representation itself."""
    majors = major_names(columns)
    bases = {"raw": ("identity", lambda p: p), "centered": ("identity", lambda p: p),
             "zscore": ("identity", lambda p: p), "log": ("log", lambda p: np.log(np.clip(p, LOG_FLOOR, None)))}
    if majors:
        groups = group_matrix(columns, majors)
        bases[MAJOR_SUMS] = ("groups", lambda p: p @ groups)
    return {name: bases[name] for name in REPRESENTATIONS if name in bases}


def representation_specs(probs: np.ndarray, columns: list[str]) -> dict:
    """Per representation: {base, offset, scale, features, about} with transform(p) = base(p) * scale + offset.

    The offset is the transform at a row whose base is 0, the scale its change at a row whose base is 1. The
    check below makes a future change to fit_representation fail here loudly instead of the page disagreeing."""
    specs = {}
    for name, (kind, base) in base_functions(columns).items():
        transform, features = fit_representation(probs, columns, name)
        zero, one = probe_rows(kind, columns)
        offset = transform(zero[None, :])[0]
        scale = transform(one[None, :])[0] - offset
        # base * scale + offset loses about eps * |offset| to cancellation (a nearly constant emotion has a huge one)
        tolerance = 1e-9 * (1 + np.abs(offset).max(initial=0))
        if not np.allclose(base(probs) * scale + offset, transform(probs), rtol=1e-9, atol=tolerance):
            raise RuntimeError(f"fit_representation({name!r}) is no longer (base - mean) / spread: "
                               "update moodpipe/report/explorer.py and explorer_template.html together")
        specs[name] = {"base": kind, "offset": offset.tolist(), "scale": scale.tolist(), "features": features,
                       "about": REPRESENTATIONS[name]}
    return specs


def probe_rows(kind: str, columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Two probability rows whose base is all 0 and all 1."""
    d = len(columns)
    if kind == "log":
        return np.ones(d), np.full(d, np.e)
    if kind == "groups":
        majors = [major_of(c) for c in columns]
        return np.zeros(d), np.array([1 / majors.count(m) for m in majors])  # each class sums to 1
    return np.zeros(d), np.ones(d)


# ----------------------------------------------------------------------------- other saved artifacts

def heatmap_data(path: Path) -> dict | None:
    """results/heatmap_songs.csv (the recommend stage's 10 seeded songs) as labels and a matrix, if present."""
    if not path.is_file():
        return None
    df = pd.read_csv(path, dtype={"song_id": str})
    matrix = df.drop(columns=["song_id", "song"]).to_numpy(float)
    return {"song_ids": df.song_id.tolist(), "labels": df.song.astype(str).tolist(),
            "z": np.where(np.isfinite(matrix), matrix, 0).round(4).tolist()}


def metric_tables(layout: Layout) -> list[tuple[str, list[str], list[tuple[str, list[float]]]]]:
    """(title, score names, [(model or baseline, scores)]) for each saved model's metrics.json."""
    tables = []
    readers = [("Review sentiment (test set)", layout.sentiment_model, sentiment_rows),
               ("Korean emotion, 60 labels / 6 major classes (test set)", layout.emotion_model, emotion_rows),
               ("Korean emotion, KOTE multi-label (test set)", layout.kote_model, kote_table_rows),
               ("GoEmotions, English multi-label (test set)", layout.goemotions_model, goemotions_rows)]
    for title, folder, rows in readers:
        path = folder / paths.METRICS
        if not path.is_file():
            continue
        try:
            names, table = rows(read_json(path))
        except (KeyError, TypeError, ValueError) as e:  # an older or partial metrics.json: say so, go on
            log.warning("explorer: %s lacks %s; its table is left out", path, e)
            continue
        tables.append((title, names, table))
    return tables


def sentiment_rows(m: dict) -> tuple[list[str], list[tuple[str, list[float]]]]:
    b = m["baselines"]
    rows = [(f"fine-tuned {m['base_model']['name']}", m["test"]), ("TF-IDF word 1-2 grams + LR", b[TFIDF_WORDS]),
            ("majority class", b[MAJORITY])]
    return [ACCURACY, "macro-F1"], [(name, [r[ACCURACY], r[MACRO_F1]]) for name, r in rows]


def emotion_rows(m: dict) -> tuple[list[str], list[tuple[str, list[float]]]]:
    b = m["baselines"]
    rows = [(f"{m['head']} head on {m['base_model']['name']}", m["test"]),
            ("TF-IDF char 1-4 grams + LR", b[TFIDF_CHARS]), ("majority class", b[MAJORITY])]
    return (["accuracy (60)", "macro-F1 (60)", "accuracy (6)", "macro-F1 (6)"],
            [(name, [r[LABELS60][ACCURACY], r[LABELS60][MACRO_F1], r[MAJOR6][ACCURACY],
                     r[MAJOR6][MACRO_F1]]) for name, r in rows])


def goemotions_rows(m: dict) -> tuple[list[str], list[tuple[str, list[float]]]]:
    t = m["test"]
    rows = [("28 labels, thresholds tuned on dev", t[LABELS28_TUNED]), ("28 labels at 0.5", t[LABELS28_AT_HALF]),
            ("Ekman groups, tuned", t[EKMAN7_TUNED]),
            ("baseline: the most frequent label for every comment", m["baselines"][MAJORITY])]
    return ["macro-F1", "micro-F1"], [(name, [r[MACRO_F1], r["micro_f1"]]) for name, r in rows]


def kote_table_rows(m: dict) -> tuple[list[str], list[tuple[str, list[float]]]]:
    return ["macro-F1", "micro-F1"], [(name, [r[MACRO_F1], r["micro_f1"]]) for name, r in kote_rows(m)]


# ----------------------------------------------------------------------------- HTML

def models_html(layout: Layout) -> str:
    """The metrics tables as escaped HTML (static: they need no script)."""
    parts = []
    for title, names, rows in metric_tables(layout):
        head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
        body = "".join(f"<tr><td>{html.escape(str(name))}</td>" + "".join(f"<td>{v:.3f}</td>" for v in values)
                       + "</tr>" for name, values in rows)
        parts.append(f"<h3>{html.escape(title)}</h3><div class='scroll'><table class='metrics'><thead><tr>"
                     f"<th>model</th>{head}</tr></thead><tbody>{body}</tbody></table></div>")
    return "".join(parts) or "<p class='notice'>No saved model metrics (saved_model/*/metrics.json) yet.</p>"


def retrieval_html(layout: Layout) -> str:
    """How good the recommendations are: results/retrieval_eval.json's table (every representation beside the
    untuned encoder `generic`, TF-IDF and chance), else how to measure it."""
    path = layout.retrieval_eval("json")
    title = "<h3 id='retrieval'>How good are the recommendations? Labelled retrieval (test sets)</h3>"
    if not path.is_file():
        return (f"{title}<p class='notice' id='retrieval-missing'>Not measured for these artifacts yet: "
                "<code>python recommend.py --evaluate</code> scores every representation on held-out labelled "
                "dialogues and comments (of a text's 10 nearest, the share with its label) and on the Melon "
                "half-split test, beside the untuned encoder <code>generic</code>, TF-IDF and chance.</p>")
    _, headers, rows = summary_rows(read_json(path))
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return (f"{title}<p class='muted'>Precision@10: of the 10 nearest test texts, the share with the same label; "
            "recall@10: how often one half of a song finds its other half. <code>generic</code> is what anyone "
            "gets without our model; chance is a random list.</p><div class='scroll'><table class='metrics' "
            f"id='retrieval-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")


def figures_html(graphs_dir: Path) -> str:
    """Every PNG in the graphs folder, inlined so the page stays one file, with a caption saying what it shows."""
    figures = sorted(Path(graphs_dir).glob("*.png"))
    parts = [f"<figure><img alt='{html.escape(CAPTIONS.get(f.name, f.stem), quote=True)}' "
             f"src='data:image/png;base64,{base64.b64encode(f.read_bytes()).decode('ascii')}'><figcaption>"
             f"{html.escape(CAPTIONS.get(f.name, f.stem))} <span class='muted'>({html.escape(f.name)})</span>"
             "</figcaption></figure>" for f in figures]
    return "".join(parts) or f"<p class='notice'>No figures in {html.escape(str(graphs_dir))} yet.</p>"


def safe_json(obj: object) -> str:
    r"""JSON that can sit inside <script>: '<', '>' and '&' as \u escapes, so a title holding '</script>'
    cannot end the script element (JSON.parse turns them back into the same characters).

    >>> print(safe_json({"title": "</script>"}))
    {"title":"\u003c/script\u003e"}
    """
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_page(data: dict, problem: str, models: str, figures: str) -> str:
    """Fill the template's {{NAME}} slots in one pass (so no inserted text is ever scanned for slots)."""
    notice = (f"<p class='notice' id='catalogue-problem'>No song catalogue to explore: {html.escape(problem)}</p>"
              if problem else "")
    slots = {"PLOTLY_SRC": PLOTLY_FILE, "DATA": safe_json(data), "NOTICE": notice, "MODELS": models,
             "FIGURES": figures, "GENERATED": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
    return re.sub(r"\{\{([A-Z_]+)\}\}", lambda m: slots[m.group(1)], TEMPLATE.read_text(encoding="utf-8"))
