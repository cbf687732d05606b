"""Labelled retrieval: which song-vector representation puts items that feel the same next to each other.

A song vector is good when its nearest neighbours share its emotion. Lyrics carry no emotion labels, so the
representations are measured where labels exist, through the same scoring code the songs go through:
- AI-Hub test dialogues (Korean model): precision@k of the same major class and of the same label;
- GoEmotions test comments (English model): precision@k of sharing at least one label;
- songs people labelled with a mood (moodpipe.recommend.song_moods), with each model present: top-k mood
  agreement;
- Melon songs, unlabelled: half-split recall@k (one half of a song finds its other half).
Beside them: `generic` (the untuned encoder, what anyone gets without us), TF-IDF and chance.
The `hybrid` part and weight are chosen on the AI-Hub validation dialogues, never on test.

    recommend.py --evaluate [--data-dir data] [--out .]   ->  results/retrieval_eval.{json,md}
    recommend.py --evaluate-halves results/song_halves.csv  ->  results/representation_eval.json
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from moodpipe import paths
from moodpipe.context import RunContext
from moodpipe.contract import (
    PRECISION_AT_K,
    RECALL_AT_K,
    SONG_MOODS_ENGLISH,
    SONG_MOODS_KOREAN,
    SPLITS,
    TOP_K,
    emotion_column,
)
from moodpipe.data.goemotions import read_goemotions
from moodpipe.files import (
    InputError,
    loading,
    read_csv_checked,
    require_columns,
    write_json_atomic,
    write_text_atomic,
)
from moodpipe.models.saved_folder import label_names
from moodpipe.provenance import provenance, provenance_lines
from moodpipe.recommend.catalogue import check_rows, emotion_columns, major_of
from moodpipe.recommend.representations import (
    DEFAULT_HYBRID,
    EMBEDDINGS,
    HYBRID_WEIGHTS,
    MAJOR_SUMS,
    REPRESENTATIONS,
    Hybrid,
    available,
    candidates,
    fit_space,
    row_label,
    save_representation,
)
from moodpipe.recommend.retrieval_scores import (
    K,
    candidate_scores,
    chance_precision,
    choose_hybrid,
    precision_at_k,
    representation_scores,
    tfidf_space,
)
from moodpipe.recommend.song_moods import (
    PER_SONG,
    encoder_lines,
    evaluate_song_encoders,
    evaluate_song_moods,
    find_song_moods,
    held_out_choice,
)
from moodpipe.recommend.topk import topk_cosine
from moodpipe.runtime import CPU, Runtime

log = logging.getLogger("pipeline")

# The floors a default must keep (main.py chooses it on songs people labelled): precision@10 of the major class on
# the AI-Hub validation dialogues, and half-split recall@10 on the songs being recommended.
AIHUB_FLOOR = 0.55
RECALL_FLOOR = 0.35

# ----------------------------------------------------------------------------- the three evaluations

def evaluate_aihub(layout: paths.Layout, model_dir: Path, runtime: Runtime = CPU) -> dict:
    """Precision@10 on the AI-Hub test dialogues of the split the emotion model was trained on."""
    from moodpipe.models.emotion_predictor import score_texts  # lazy: torch loads only to score
    split = {name: read_csv_checked(layout.emotion_split(name), "train the model with `python lyrics_emotion.py "
                                    "train` (it writes the split it used)") for name in SPLITS}
    scored = {part: score_texts(str(model_dir), split[part].text.tolist(), runtime, embeddings=True)
              for part in ("val", "test")}
    columns = [emotion_column(n) for n in label_names(model_dir)]
    labels = {part: {"major": split[part].label.str.split("/").str[0].to_numpy(),
                     "label": split[part].label.to_numpy()} for part in ("val", "test")}
    chosen, search = choose_hybrid(scored["val"], columns, labels["val"]["major"])
    if chosen != DEFAULT_HYBRID:
        log.info("AI-Hub validation alone would mix %s %.1f into the hybrid; its built-in mix is %s %.1f, and main.py "
                 "chooses the default on songs people labelled",
                    chosen.part, chosen.weight, DEFAULT_HYBRID.part, DEFAULT_HYBRID.weight)
    rows = representation_scores(scored["test"], columns, labels["test"], DEFAULT_HYBRID)
    tfidf = tfidf_space(split["train"].text.tolist(), split["test"].text.tolist(), "char")
    rows["tfidf"] = {which: precision_at_k(tfidf, y) for which, y in labels["test"].items()}
    rows["chance"] = {which: chance_precision(y) for which, y in labels["test"].items()}
    return {"n_test": len(split["test"]), "n_val": len(split["val"]), "k": K, PRECISION_AT_K: rows,
            "candidates_validation_major": candidate_scores(scored["val"], columns, labels["val"]["major"]),
            "hybrid": {"used": [DEFAULT_HYBRID.part, DEFAULT_HYBRID.weight],
                       "validation_choice": [chosen.part, chosen.weight],
                       "chosen_by": "validation precision@10 of the major class", "validation_search": search}}


def evaluate_goemotions(data_dir: Path, model_dir: Path, runtime: Runtime = CPU,
                        max_comments: int | None = None) -> dict:
    """Precision@10 of sharing at least one label, on the GoEmotions test comments (English model)."""
    from moodpipe.models.emotion_predictor import score_texts  # lazy: torch loads only to score
    parts, names, _ = read_goemotions(data_dir)
    test = parts["test"].head(max_comments) if max_comments else parts["test"]
    scored = score_texts(str(model_dir), test.text.tolist(), runtime, embeddings=True)
    y = np.stack(test.y.to_numpy())
    columns = [emotion_column(n) for n in label_names(model_dir)]
    rows = representation_scores(scored, columns, {"any_label": y}, DEFAULT_HYBRID)
    tfidf = tfidf_space(parts["train"].text.tolist(), test.text.tolist(), "word")
    rows["tfidf"] = {"any_label": precision_at_k(tfidf, y)}
    rows["chance"] = {"any_label": chance_precision(y)}
    grid = {f"{part} {w}": precision_at_k(fit_space(scored, columns, "hybrid", Hybrid(part, w, "log"))(scored), y)
            for part in EMBEDDINGS if part in scored for w in HYBRID_WEIGHTS}  # reported only: the product's: AI-Hub
    return {"n_test": len(test), "k": K, PRECISION_AT_K: rows, "hybrid_grid_reported_not_chosen": grid}


# ----------------------------------------------------------------------------- half-split recall (no labels)

def half_split_recall_at_k(vectors_a, vectors_b, k: int = TOP_K, representation: str = "log",
                           columns: Sequence[str] | None = None, hybrid=DEFAULT_HYBRID) -> float:
    """How often one half of a song's lyrics finds its own other half in its top k (a->b and b->a averaged).
    The halves are probability rows, or dicts of aligned arrays (`probs` and embeddings).

    A labels-free test of a representation; chance is k / n.
    >>> a, b = np.eye(3), np.eye(3)[[0, 2, 1]]  # songs 1 and 2 swapped their second halves
    >>> half_split_recall_at_k(a, b, k=1, representation="raw")
    0.3333333333333333
    """
    a, b = (v if isinstance(v, dict) else {"probs": np.asarray(v, float)} for v in (vectors_a, vectors_b))
    columns = list(columns) if columns is not None else [f"c{j}" for j in range(a["probs"].shape[1])]
    to_space = fit_space({key: np.vstack([a[key], b[key]]) for key in a}, columns, representation, hybrid)
    ra, rb = to_space(a), to_space(b)
    own = np.arange(len(ra))[:, None]
    hits = sum(int((topk_cosine(q, x, k)[0] == own).any(axis=1).sum()) for q, x in ((ra, rb), (rb, ra)))
    return hits / (2 * len(ra))


def read_halves(path: Path, k: int) -> tuple[dict, dict, list[str], pd.Index]:
    """The a and b halves of every song that has both, as dicts of `probs` and the embeddings saved beside
    the song vectors (halves_features, halves_generic), with the emotion columns and the song ids."""
    df = read_csv_checked(path, "write it with `python lyrics_emotion.py score --halves`")
    require_columns(df, ["song_id", "half"], path)
    columns = emotion_columns(df.drop(columns=["song_id"]))
    df = df.assign(song_id=df.song_id.astype(str), half=df.half.astype(str).str.lower())
    embeddings = halves_embeddings(path, df)
    halves = {h: df[df.half == h].drop_duplicates("song_id") for h in ("a", "b")}
    ids = pd.Index(halves["a"].song_id).intersection(pd.Index(halves["b"].song_id))
    if len(ids) <= k:
        raise InputError(f"{path}: only {len(ids)} songs have both halves a and b; need more than k={k}")
    sides = []
    for h in ("a", "b"):
        rows = halves[h].reset_index().set_index("song_id").loc[ids, "index"].to_numpy()
        sides.append({"probs": df.loc[rows, columns].to_numpy(float), **{n: e[rows] for n, e in embeddings.items()}})
        check_rows(sides[-1]["probs"], [f"song_id {i}" for i in ids], path)
    return sides[0], sides[1], columns, ids


def halves_embeddings(path: Path, df: pd.DataFrame) -> dict[str, np.ndarray]:
    """halves_features/halves_generic from the .npz beside song_emotions.csv, when it matches these rows."""
    npz = paths.embeddings_path(Path(path).with_name(paths.SONG_VECTORS))
    if not npz.is_file():
        return {}
    with loading(npz, paths.REBUILD_SONG_VECTORS), np.load(npz, allow_pickle=False) as saved:
        same = (len(saved["halves_song_id"]) == len(df) and (saved["halves_song_id"] == df.song_id.to_numpy()).all()
                and (saved["halves_half"] == df.half.to_numpy()).all())
        return {n: saved[f"halves_{n}"] for n in EMBEDDINGS if same and f"halves_{n}" in saved.files}


def evaluate_halves(path: Path, out: Path, k: int = TOP_K, with_candidates: bool = False) -> dict:
    """recall@k of every available representation on a CSV of half-song vectors (song_id, half a/b, emotions);
    with_candidates, also of every candidate for the default."""
    a, b, columns, ids = read_halves(path, k)
    usable = [r for r in available(a, DEFAULT_HYBRID) if r != MAJOR_SUMS or all(major_of(c) for c in columns)]
    recall = {r: half_split_recall_at_k(a, b, k, r, columns) for r in usable}
    result = {"k": k, "n_songs": len(ids), "chance": k / len(ids), f"recall_at_{k}": recall,
              "best": max(recall, key=recall.get), "source": str(path)}
    if with_candidates:
        result["candidates"] = {key: half_split_recall_at_k(a, b, k, name, columns, hybrid)
                                for key, (name, hybrid) in candidates(a).items()}
    print(f"half-split recall@{k} over {len(ids)} songs (chance {k / len(ids):.4f}):")
    for r, v in sorted(recall.items(), key=lambda kv: -kv[1]):
        print(f"  {r:9s} {v:.4f}  {REPRESENTATIONS[r]}")
    write_json_atomic(paths.Layout(out).representation_eval, result)
    return result


# ----------------------------------------------------------------------------- the table

def summary_table(result: dict) -> tuple[list[str], str]:
    """(representations ordered by their mean rank over the evaluations run, a markdown table)."""
    order, headers, rows = summary_rows(result)
    if not rows:  # only the untuned encoders ran: their own table says it all
        return order, ""
    lines = ["| " + " | ".join(headers) + " |", "|---" * len(headers) + "|"]
    return order, "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"


def summary_rows(result: dict) -> tuple[list[str], list[str], list[list[str]]]:
    """(representations by mean rank, the headers, one row of formatted cells per representation, then the
    baselines TF-IDF and chance): the table of results/retrieval_eval.md and of the explorer page."""
    columns = []
    if "aihub" in result:
        columns += [("AI-Hub P@10 major", result["aihub"][PRECISION_AT_K], "major"),
                    ("AI-Hub P@10 label", result["aihub"][PRECISION_AT_K], "label")]
    if "goemotions" in result:
        columns.append(("GoEmotions P@10 any label", result["goemotions"][PRECISION_AT_K], "any_label"))
    for model, part in result.get("song_moods", {}).items():
        columns.append((f"song moods top-10, {model} model", part["agreement_at_k"], "mood"))
    if "halves" in result:
        recall = {r: {"recall": v} for r, v in result["halves"][RECALL_AT_K].items()}
        recall["chance"] = {"recall": result["halves"]["chance"]}
        columns.append((f"Melon half-split recall@{TOP_K}", recall, "recall"))
    encoders = list(result.get("song_encoders", {}).get("rows", {}))  # `generic (NAME)`: song moods only
    names = [r for r in [*REPRESENTATIONS, *encoders, "tfidf", "chance"] if any(r in c[1] for c in columns)]
    ours = [r for r in names if r in REPRESENTATIONS and all(r in c[1] for c in columns)]
    ranks = {r: np.mean([sorted(-c[1][x][c[2]] for x in ours).index(-c[1][r][c[2]]) for c in columns])
             for r in ours}
    order = sorted(ours, key=lambda r: ranks[r])
    rows = [[row_label(r), *[f"{c[1][r][c[2]]:.4f}" if r in c[1] else "-" for c in columns],
             f"{ranks[r] + 1:.1f}" if r in ranks else "-"] for r in [*order, *[x for x in names if x not in ours]]]
    return order, ["representation", *[c[0] for c in columns], "mean rank"], rows


# ----------------------------------------------------------------------------- the default, chosen on songs

def choose_default(result: dict) -> dict | None:
    """The default representation, chosen on songs people labelled: the best top-10 mood agreement (with the
    Korean model, whose vectors are the ones recommended) among the candidates (representations.candidates) that
    keep the floors (keeps_floors). None when the song moods or the half-split did not run, or nothing keeps them."""
    moods = result.get("song_moods", {}).get("Korean")
    if not moods or "candidates" not in result.get("halves", {}):
        return None
    aihub, recall = result.get("aihub", {}).get("candidates_validation_major"), result["halves"]["candidates"]
    english = result["song_moods"].get("English", {}).get("candidates", {})
    table = {key: {"aihub_val_major": aihub[key] if aihub else None, "half_split_recall": recall[key],
                   SONG_MOODS_KOREAN: agreement, SONG_MOODS_ENGLISH: english.get(key)}
             for key, agreement in moods["candidates"].items() if (not aihub or key in aihub) and key in recall}
    kept = [key for key, r in table.items() if keeps_floors(r)]
    floors = (f"AI-Hub validation P@10 major >= {AIHUB_FLOOR} and " if aihub else "") + \
        f"half-split recall@10 >= {RECALL_FLOOR}"
    if not kept:
        log.warning("no candidate keeps %s; the default stays", floors)
        return None
    best = max(kept, key=lambda key: table[key][SONG_MOODS_KOREAN])
    name, hybrid = candidates(dict.fromkeys(["probs", *EMBEDDINGS]))[best]  # every key's spec: arrays not needed
    per_song = moods.get(PER_SONG)
    held_out = held_out_choice(per_song["candidates"], per_song["moods"], kept) if per_song else None
    return {"representation": name, "hybrid": asdict(hybrid) if name == "hybrid" else None, "candidate": best,
            "held_out": held_out,
            "chosen_by": f"best top-10 mood agreement on {moods['n_songs']} songs people labelled (Korean model) "
                         f"among {len(table)} candidates, {len(kept)} of them keeping {floors} "
                         "(recommend.py --evaluate)", "scores": table[best], "candidates": table}


def keeps_floors(row: dict) -> bool:
    """Half-split recall@10 >= RECALL_FLOOR, and AI-Hub validation P@10 major >= AIHUB_FLOOR where it was measured
    (a run on KOTE has no AI-Hub validation set: the recall floor alone guards it)."""
    aihub = row["aihub_val_major"]
    return row["half_split_recall"] >= RECALL_FLOOR and (aihub is None or aihub >= AIHUB_FLOOR)


def choice_table(choice: dict, rows: int = 12) -> list[str]:
    """The chosen candidate and the best others by mood agreement, as markdown lines."""
    ranked = sorted(choice["candidates"], key=lambda key: -choice["candidates"][key][SONG_MOODS_KOREAN])
    lines = ["## The default, chosen on songs", "", f"**{choice['candidate']}**: {choice['chosen_by']}.", "",
             *held_out_lines(choice.get("held_out")),
             "| candidate | AI-Hub val P@10 major | half-split recall@10 | song moods, Korean model | "
             "song moods, English model | keeps the floors |", "|---|---|---|---|---|---|"]
    for key in ranked[:rows]:
        r = choice["candidates"][key]
        english = "-" if r[SONG_MOODS_ENGLISH] is None else f"{r[SONG_MOODS_ENGLISH]:.4f}"
        aihub = "-" if r["aihub_val_major"] is None else f"{r['aihub_val_major']:.4f}"
        lines.append(f"| {'**' + key + '**' if key == choice['candidate'] else key} | {aihub} | "
                     f"{r['half_split_recall']:.4f} | {r[SONG_MOODS_KOREAN]:.4f} | {english} | "
                     f"{'yes' if keeps_floors(r) else 'no'} |")
    return [*lines, ""]


def held_out_lines(held: dict | None) -> list[str]:
    """The out-of-sample figure, in words: the in-sample score of the chosen default is selection, not
    evaluation."""
    if not held:
        return []
    versus = (f"; `generic` on the same songs {held['generic']:.4f}, difference {held['minus_generic']:+.4f} "
              f"(95% interval {held['minus_generic_ci95'][0]:+.4f} to {held['minus_generic_ci95'][1]:+.4f})"
              if "generic" in held else "")
    return [f"Held out ({held['folds']} folds, stratified by mood, seed {held['seed']}: each song scored by the "
            f"default chosen on the other folds; chosen per fold: {', '.join(held['chosen_per_fold'])}): top-10 "
            f"mood agreement **{held['agreement']:.4f}** (95% interval {held['ci95'][0]:.4f} to "
            f"{held['ci95'][1]:.4f}){versus}. The table's figures are in-sample: the default was chosen on them.",
            ""]


def run_evaluations(ctx: RunContext, max_comments: int | None = None, song_moods: Path | None = None,
                    per_mood: int | None = None, song_encoders: Sequence[str] = ()) -> dict:
    """Every evaluation whose inputs exist under the output root (models, split, halves) and the data directory
    (GoEmotions, song moods); the ones that cannot run are named with what they need. When the song-mood, AI-Hub
    and half-split parts all ran, the default is chosen on songs (choose_default) and saved beside the song
    vectors."""
    layout, result, skipped = ctx.layout, {}, {}
    out, data_dir, runtime = ctx.out, ctx.data_dir, ctx.runtime
    if (layout.emotion_model / "config.json").is_file() and layout.emotion_split("test").is_file():
        result["aihub"] = evaluate_aihub(layout, layout.emotion_model, runtime)
    else:
        skipped["aihub"] = f"needs {layout.emotion_model} and {layout.emotion_split('test')} (lyrics_emotion.py train)"
    goemotions = Path(data_dir) / paths.GOEMOTIONS_DIR
    if (layout.goemotions_model / "config.json").is_file() and goemotions.is_dir():
        result["goemotions"] = evaluate_goemotions(Path(data_dir), layout.goemotions_model, runtime, max_comments)
    else:
        skipped["goemotions"] = f"needs {layout.goemotions_model} (train --dataset goemotions) and {goemotions}"
    moods = evaluate_moods_with_each_model(layout, song_moods or find_song_moods(data_dir), runtime, skipped,
                                           per_mood)
    if moods:
        result["song_moods"] = moods
    if song_encoders:
        result["song_encoders"] = encoders_on_songs(song_moods or find_song_moods(data_dir), song_encoders, runtime,
                                                    moods, per_mood)
    if layout.song_halves.is_file():
        result["halves"] = evaluate_halves(layout.song_halves, out, with_candidates=True)
    else:
        skipped["halves"] = f"needs {layout.song_halves} (lyrics_emotion.py score --halves)"
    for name, why in skipped.items():
        print(f"{name}: skipped, {why}")
    if not result:
        raise InputError("nothing to evaluate: " + "; ".join(skipped.values()))
    result["choice"] = choose_default(result)
    for part in result.get("song_moods", {}).values():
        part.pop(PER_SONG, None)  # per-song arrays served the held-out choice; the files keep the means
    if result["choice"]:
        save_representation(layout.song_vectors, result["halves"], result["choice"])
    return write_evaluation(layout, {**result, "skipped": skipped})


def evaluate_moods_with_each_model(layout: paths.Layout, path: Path | None, runtime: Runtime,
                                   skipped: dict, per_mood: int | None = None) -> dict:
    """Song-mood agreement with the English (GoEmotions) and the Korean (AI-Hub, else KOTE) model, each when
    trained."""
    if path is None or not Path(path).is_file():
        where = path or f"<data-dir>/{paths.SONG_MOODS_DIR}/*.csv"
        skipped["song_moods"] = f"no song-mood CSV at {where} (pass --song-moods FILE with song_id, lyrics, mood)"
        return {}
    found = {}
    for name, model in (("English", layout.goemotions_model), ("Korean", layout.korean_model)):
        if (model / "config.json").is_file():
            found[name] = evaluate_song_moods(Path(path), model, runtime, per_mood=per_mood)
        else:
            skipped[f"song_moods_{name.lower()}"] = f"needs {model}"
    return found


def encoders_on_songs(path: Path | None, encoders: Sequence[str], runtime: Runtime, moods: dict,
                      per_mood: int | None = None) -> dict:
    """The untuned encoders' rows (song_moods.evaluate_song_encoders), also added to each model's song-mood
    column: they read the lyrics alone, so they are the same whichever model scored the rest."""
    if path is None or not Path(path).is_file():
        raise InputError(f"--song-encoder needs songs people labelled with a mood: no CSV at "
                         f"{path or f'<data-dir>/{paths.SONG_MOODS_DIR}/*.csv'} (pass --song-moods FILE)")
    found = evaluate_song_encoders(Path(path), list(encoders), runtime, per_mood=per_mood)
    for part in moods.values():
        part["agreement_at_k"].update({row: {"mood": r["mood"]} for row, r in found["rows"].items()})
    return found


def write_evaluation(layout: paths.Layout, result: dict) -> dict:
    order, table = summary_table(result)
    result["best_overall"] = order[0] if order else None
    result["provenance"] = provenance()
    write_json_atomic(layout.retrieval_eval("json"), result)
    choice = choice_table(result["choice"]) if result.get("choice") else []
    choice += encoder_lines(result["song_encoders"]) if result.get("song_encoders") else []
    write_text_atomic(layout.retrieval_eval("md"), "\n".join(["# Retrieval evaluation", "",
                                                               *provenance_lines(result["provenance"]), table,
                                                               *choice]))
    print(table + "\n".join(encoder_lines(result["song_encoders"]) if result.get("song_encoders") else []))
    if order:
        print(f"best over these evaluations (mean rank): {order[0]}")
    if result.get("choice"):
        print(f"default, chosen on songs: {result['choice']['candidate']} (saved in {layout.chosen_representation})")
    return result
