"""Presentation, apart from computation: the model cards and results/REPORT.md, rendered from the
metrics.json files and result tables the stages saved, never from live objects.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from moodpipe import paths
from moodpipe.contract import (
    ACCURACY,
    CONFUSION,
    EKMAN7_TUNED,
    GROUPS_TUNED,
    LABELS28_AT_HALF,
    LABELS28_TUNED,
    LABELS60,
    LABELS_AT_HALF,
    LABELS_TUNED,
    MACRO_F1,
    MAJOR6,
    MAJORITY,
    TFIDF_CHARS,
    TFIDF_CHARS_OVR,
    TFIDF_WORDS,
    WEIGHTED_F1,
)
from moodpipe.files import InputError, read_json, write_text_atomic
from moodpipe.provenance import provenance_lines
from moodpipe.recommend.representations import row_label

# ----------------------------------------------------------------------------- model cards

def runtime_line(metrics: dict) -> str:
    """'cuda (bf16, NVIDIA H100)' / 'cpu (fp32)': where a model was trained and evaluated."""
    r = metrics.get("runtime", {"device": "cpu", "precision": "bf16" if metrics.get("bf16") else "fp32"})
    return f"{r['device']} ({r['precision']}{', ' + r['gpu'] if 'gpu' in r else ''})"


def sentiment_model_card(metrics: dict) -> str:
    test, tfidf, major = metrics["test"], metrics["baselines"][TFIDF_WORDS], metrics["baselines"][MAJORITY]
    cm = test[CONFUSION]
    hp = metrics["config"]["train"]
    return f"""# Review sentiment classifier

Fine-tuned from **{metrics['base_model']['name']}** (source: {metrics['base_model']['source']};
substituted for google/mobilebert-uncased, the model the project is designed around:
{metrics['base_model']['substituted']} - {metrics['base_model']['reason']}).

Data: `{metrics['data']['file']}`: {metrics['data']['counts']['rows_read']} rows read,
{metrics['data']['counts']['rows_used']} used after dropping 3-star/empty rows and
{metrics['data']['counts']['duplicate_texts']} duplicate texts; split train/val/test =
{metrics['data']['split_sizes']['train']}/{metrics['data']['split_sizes']['val']}/{metrics['data']['split_sizes']['test']}
(seed {metrics['context']['seed']}). Labels: 1-2 stars negative, 4-5 positive.

Hyper-parameters: epochs {hp['epochs']} (early stopping, patience {hp['patience']}), batch {hp['batch_size']},
learning rate {hp['learning_rate']}, max length {hp['max_length']}, bf16 {metrics['bf16']},
device {runtime_line(metrics)},
class weights {hp['class_weights']}. Training took {metrics['train_seconds']:.0f} s.

| test set | accuracy | macro-F1 |
|---|---|---|
| this model | {test[ACCURACY]:.3f} | {test[MACRO_F1]:.3f} |
| TF-IDF word 1-2 grams + logistic regression | {tfidf[ACCURACY]:.3f} | {tfidf[MACRO_F1]:.3f} |
| majority class | {major[ACCURACY]:.3f} | {major[MACRO_F1]:.3f} |

Confusion matrix (rows true, columns predicted; negative, positive): {cm}
"""


def comparison_markdown(rows: dict[str, dict], chosen: str) -> str:
    """The --compare table; the bootstrap columns are 95% intervals over resampled test sets, the last one
    paired against the plain head on the same resamples."""
    lines = ["| head | val macro-F1 | test acc (60) [95% CI] | minus plain [95% CI] | test macro-F1 (60) "
             "| test acc (6) | test macro-F1 (6) | weighted F1 | epochs | train s | trainable params |",
             "|---" * 11 + "|"]
    names = {chosen: f"{chosen} (chosen)", "ensemble": "mean of the heads (not saved)",
             "blend": "chosen head + TF-IDF (saved)"}
    for h, r in rows.items():
        lines.append(f"| {names.get(h, h)} | {r['val_macro_f1']:.4f} | {r['test_accuracy_60']:.4f} "
                     f"{interval(r.get('test_accuracy_ci95'))} | {signed(r.get('minus_plain'))} "
                     f"{interval(r.get('minus_plain_ci95'))} | {r['test_macro_f1_60']:.4f} | "
                     f"{r['test_accuracy_6']:.4f} | {r['test_macro_f1_6']:.4f} | "
                     f"{r['test_similarity_weighted_f1']:.4f} | {r['epochs_run']:.1f} | "
                     f"{r['train_seconds']:.0f} | {r['trainable_params']:,} |")
    return "\n".join(lines) + "\n"


def interval(ci: list | None) -> str:
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""


def signed(x: float | None) -> str:
    return "-" if x is None else f"{x:+.3f}"


def emotion_model_card(m: dict) -> str:
    t, b, d, hp = m["test"], m["baselines"], m["data"], m["hyper_parameters"]
    cm6 = t[MAJOR6][CONFUSION]
    majors = t[MAJOR6]["labels"]
    cm_rows = "\n".join(f"| {majors[i]} | " + " | ".join(map(str, row)) + " |" for i, row in enumerate(cm6))
    table_rows = "\n".join(
        f"| {name} | {r[LABELS60][ACCURACY]:.3f} | {r[LABELS60][MACRO_F1]:.3f} | "
        f"{r[MAJOR6][ACCURACY]:.3f} | {r[MAJOR6][MACRO_F1]:.3f} |"
        for name, r in (("this predictor", t), *((("the model alone", m["model_alone_test"]),)
                                                  if m.get("blend", {}).get("used") else ()),
                        ("TF-IDF char 1-4 grams + LR", b[TFIDF_CHARS]), ("majority class", b[MAJORITY])))
    used_rows = (f", except the {m['frozen']['tuned_rows']:,} rows of the tokens in the training data"
                 if "tuned_rows" in m["frozen"] else "")
    compare = "" if not m["comparison"] else ("\n## Heads compared on the same split\n\n"
                                              + comparison_markdown(m["comparison"], m["head"]))
    return f"""# Korean emotion classifier (60 labels)

Head **{m['head']}** on **{m['base_model']['name']}** (source: {m['base_model']['source']}; substituted for
klue/bert-base, the model the project is designed around: {m['base_model']['substituted']} -
{m['base_model']['reason']}).
{blend_line(m)}

Data: {', '.join(d['files'])}: {d['rows_read']} dialogues read, {d['rows_used']} used ({d['empty_text']}
without text, {d['unknown_label']} with an unknown label, {d.get('duplicate_dialogues', 0)} duplicates).
Labels: {d['codebook']} codebook. Unit: {d['unit']}. Split by dialogue, seed
{d['split_seed']}, stratified {d['stratified']}: dialogues {d['split_dialogues']}, units {d['split_units']}.

Hyper-parameters: up to {hp['epochs']} epochs (early stopping, patience {hp['patience']}; ran {m['epochs_run']}),
batch {hp['batch_size']}, learning rate {hp['learning_rate']}, max length {hp['max_length']}, dropout
{hp['dropout']}, bf16 {m['bf16']}, device {runtime_line(m)};
word embeddings frozen: {m['frozen']['word_embeddings_frozen']}{used_rows}
({m['frozen']['trainable_params']:,} trainable parameters). Training took {m['train_seconds']:.0f} s.

| test set | accuracy (60) | macro-F1 (60) | accuracy (6) | macro-F1 (6) |
|---|---|---|---|---|
{table_rows}

6-class predictions: {t[MAJOR6]['method']}. Similarity-weighted F1 (hierarchy S: 1 same label,
{t[WEIGHTED_F1]['same_major_credit']} same major, 0 otherwise):
{t[WEIGHTED_F1]['hierarchy']:.3f}. The learned label similarity (`label_similarity.csv`) is the
{m['label_similarity']['method']}.

6-class confusion matrix (rows true, columns predicted):

| | {' | '.join(majors)} |
|---|{'---|' * len(majors)}
{cm_rows}
{compare}"""


def blend_line(m: dict) -> str:
    b = m.get("blend")
    if not b:
        return ""
    if not b["used"]:
        return (f"Blend with TF-IDF: not used (the model alone had the best validation macro-F1, "
                f"{b['model_alone_val_macro_f1']:.4f}).\n")
    return (f"Predictor: {b['model_weight']:.2f} x the model's probabilities + {b['tfidf_weight']:.2f} x a TF-IDF "
            f"char 1-4-gram logistic regression's (`tfidf.joblib`), the weight chosen on validation macro-F1 "
            f"({b['val_macro_f1']:.4f}, the model alone {b['model_alone_val_macro_f1']:.4f}).\n")


def goemotions_model_card(m: dict) -> str:
    t = m["test"]
    return f"""# GoEmotions multi-label baseline

Head **{m['head']}** on **{m['base_model']['name']}** (source: {m['base_model']['source']}), sigmoid + BCE over
28 labels, per-label thresholds tuned on dev ({m['threshold_selection']}). Rows: {m['data']['rows']}.
Training took {m['train_seconds']:.0f} s ({m['epochs_run']} epochs); LoRA: {m['hyper_parameters']['lora']}.

| test | macro-F1 | micro-F1 |
|---|---|---|
| 28 labels, tuned thresholds | {t[LABELS28_TUNED][MACRO_F1]:.3f} | {t[LABELS28_TUNED]['micro_f1']:.3f} |
| 28 labels, threshold 0.5 | {t[LABELS28_AT_HALF][MACRO_F1]:.3f} | {t[LABELS28_AT_HALF]['micro_f1']:.3f} |
| Ekman 6 + neutral, tuned | {t[EKMAN7_TUNED][MACRO_F1]:.3f} | {t[EKMAN7_TUNED]['micro_f1']:.3f} |

Published reference (BERT-base, Demszky et al. 2020): 0.46 (28 labels), 0.64 (Ekman).
"""


def kote_rows(m: dict) -> list[tuple[str, dict]]:
    """(name, metrics) rows of the KOTE test table: the model, then its baselines."""
    t, b = m["test"], m["baselines"]
    n = len(m["labels"])
    tfidf = b[TFIDF_CHARS_OVR]
    return [(f"{n} labels, tuned thresholds", t[LABELS_TUNED]), (f"{n} labels, threshold 0.5", t[LABELS_AT_HALF]),
            ("valence groups, tuned", t[GROUPS_TUNED]),
            ("TF-IDF char 1-4 grams + one-vs-rest LR, tuned", tfidf["tuned"]),
            ("TF-IDF char 1-4 grams + one-vs-rest LR, at 0.5", tfidf["at_0.5"]),
            ("majority label for every comment", b[MAJORITY])]


def kote_model_card(m: dict) -> str:
    ref, rows, hp = m["reference"], m["data"]["rows"], m["hyper_parameters"]
    table = "\n".join(f"| {name} | {r[MACRO_F1]:.3f} | {r['micro_f1']:.3f} |" for name, r in kote_rows(m))
    made = "\n".join(provenance_lines(m.get("provenance", {}), m.get("versions")))
    return f"""# KOTE Korean emotion classifier ({len(m['labels'])} labels, multi-label)

{made}
Head **{m['head']}** on **{m['base_model']['name']}** (source: {m['base_model']['source']}; substituted:
{m['base_model']['substituted']}), sigmoid + BCE, per-label thresholds tuned on dev ({m['threshold_selection']}).
Data: {m['data']['split']}; rows {rows}; labels per comment {m['data']['labels_per_row']}.
Hyper-parameters: epochs {hp['epochs']} (patience {hp['patience']}), batch {hp['batch_size']}, learning rate
{hp['learning_rate']} (head {hp['head_learning_rate']}), max length {hp['max_length']}, batch-normalised features
{m['config'].get('feature_norm', False)}; device {runtime_line(m)}.
Training took {m['train_seconds']:.0f} s ({m['epochs_run']} epochs). Label names are `<group>/<label>`:
{m['groups']['method']}.

| test | macro-F1 | micro-F1 |
|---|---|---|
{table}

Published reference: {ref['model']}, test macro-F1 {ref['test_macro_f1']} ({ref['source']}). It trained on
40,000 comments; this model on {rows['train']}, with {rows['dev']} to tune, and a smaller base model when the
bundled one stands in.
"""


# ----------------------------------------------------------------------------- REPORT.md

def optional_json(root: Path, path: Path) -> dict | None:
    """A saved JSON output, None when absent; a damaged one raises an InputError naming it."""
    return read_json(path, paths.Layout(root).rebuild_command(path)) if path.is_file() else None


def learned_nothing(score: float, prior: float, constant: bool = False) -> bool:
    """A model no better than predicting the training majority, or one that predicts a single class."""
    return score <= prior or constant


def warning(text: str) -> list[str]:
    """A red line in REPORT.md (rendered HTML), unmissable in plain text too."""
    return [f'<p style="color:red"><b>WARNING: {text}</b></p>', ""]


def sentiment_learned_nothing(m: dict) -> bool:
    return learned_nothing(m["test"][ACCURACY], m["baselines"][MAJORITY][ACCURACY])


def emotion_learned_nothing(m: dict) -> bool:
    """Judged on the 6 major classes, where the majority baseline is meaningful (1 in 6, not 1 in 60)."""
    predicted = [sum(col) for col in zip(*m["test"][MAJOR6][CONFUSION], strict=True)]
    constant = sum(1 for n in predicted if n) <= 1
    return learned_nothing(m["test"][MAJOR6][ACCURACY], m["baselines"][MAJORITY][MAJOR6][ACCURACY],
                           constant)


def goemotions_learned_nothing(m: dict) -> bool:
    majority = m.get("baselines", {}).get(MAJORITY)
    return bool(majority) and learned_nothing(m["test"][LABELS28_TUNED][MACRO_F1], majority[MACRO_F1])


def sentiment_section(root: Path) -> list[str]:
    m = optional_json(root, paths.Layout(root).sentiment_model / paths.METRICS)
    if not m:
        return []
    rows = [("fine-tuned " + m["base_model"]["name"], m["test"]), ("TF-IDF word 1-2 grams + LR",
                                                                   m["baselines"][TFIDF_WORDS]),
            ("majority class", m["baselines"][MAJORITY])]
    alarm = warning("the sentiment model is no better than the majority class on its test set: it learned "
                    "nothing, and its numbers below are not results") if sentiment_learned_nothing(m) else []
    return ["## Review sentiment", "", *alarm, f"Test set: {m['data']['split_sizes']['test']} reviews; "
            f"training {m['train_seconds']:.0f} s.", "", "| model | accuracy | macro-F1 |", "|---|---|---|",
            *[f"| {name} | {r[ACCURACY]:.3f} | {r[MACRO_F1]:.3f} |" for name, r in rows], ""]


def emotion_section(root: Path) -> list[str]:
    folder = paths.Layout(root).emotion_model
    m = optional_json(root, folder / paths.METRICS)
    if not m:
        return []
    t, b = m["test"], m["baselines"]
    alarm = warning("the emotion model is no better than the majority class on the 6 major classes (or predicts "
                    "a single class): it learned only the label prior, and the song vectors and recommendations "
                    "built from it mean nothing") if emotion_learned_nothing(m) else []
    lines = ["## Korean emotion (AI-Hub, 60 labels / 6 major classes)", "", *alarm,
             f"Base model: {m['base_model']['name']}; head saved: {m['head']} ({m['head_selection']}); unit: "
             f"{m['data']['unit']}; test units: {m['data']['split_units']['test']}.", "",
             "| model | acc (60) | macro-F1 (60) | acc (6) | macro-F1 (6) |", "|---|---|---|---|---|",
             f"| {predictor_name(m)} | {t[LABELS60][ACCURACY]:.3f} | {t[LABELS60][MACRO_F1]:.3f} | "
             f"{t[MAJOR6][ACCURACY]:.3f} | {t[MAJOR6][MACRO_F1]:.3f} |"]
    for name, key in [("TF-IDF char 1-4 grams + LR", TFIDF_CHARS), ("majority class", MAJORITY)]:
        r = b[key]
        lines.append(f"| {name} | {r[LABELS60][ACCURACY]:.3f} | {r[LABELS60][MACRO_F1]:.3f} | "
                     f"{r[MAJOR6][ACCURACY]:.3f} | {r[MAJOR6][MACRO_F1]:.3f} |")
    w = t[WEIGHTED_F1]
    lines += ["", f"Similarity-weighted F1 (hierarchy, same-major credit {w['same_major_credit']}): "
              f"{w['hierarchy']:.3f} (plain macro-F1 {w['identity']:.3f}).", ""]
    if (folder / paths.HEAD_COMPARISON).is_file():
        compared = read_json(folder / paths.HEAD_COMPARISON)
        lines += ["### Heads compared on the same split", "", comparison_markdown(compared["heads"],
                                                                                  compared["chosen"]), ""]
    return lines


def predictor_name(m: dict) -> str:
    """What the saved Korean predictor is: the head alone, or the head blended with the TF-IDF baseline at the
    weight validation chose ("arch2 + TF-IDF, model weight 0.8").

    >>> predictor_name({"head": "arch2", "blend": {"used": True, "model_weight": 0.8}})
    'arch2 + TF-IDF, model weight 0.8'
    """
    blend = m.get("blend") or {}
    return f"{m['head']} + TF-IDF, model weight {blend['model_weight']:g}" if blend.get("used") else m["head"]


def goemotions_section(root: Path) -> list[str]:
    m = optional_json(root, paths.Layout(root).goemotions_model / paths.METRICS)
    if not m:
        return []
    t = m["test"]
    rows = [(name, t[key]) for name, key in [("28 labels, thresholds tuned on dev", LABELS28_TUNED),
                                             ("28 labels at 0.5", LABELS28_AT_HALF),
                                             ("Ekman groups, tuned", EKMAN7_TUNED)]]
    if "baselines" in m:
        rows.append(("majority label set (28 labels)", m["baselines"][MAJORITY]))
    alarm = warning("the GoEmotions model is no better than always predicting the most frequent label: it "
                    "learned nothing") if goemotions_learned_nothing(m) else []
    return ["## GoEmotions (English, multi-label)", "", *alarm, f"Base model: {m['base_model']['name']}.", "",
            "| test | macro-F1 | micro-F1 |", "|---|---|---|",
            *[f"| {name} | {r[MACRO_F1]:.3f} | {r['micro_f1']:.3f} |" for name, r in rows], ""]


def kote_section(root: Path) -> list[str]:
    """KOTE, the public Korean corpus: the model songs are scored with when AI-Hub is absent, else an extra row."""
    m = optional_json(root, paths.Layout(root).kote_model / paths.METRICS)
    if not m:
        return []
    alarm = warning("the KOTE model is no better than always predicting the most frequent label: it learned "
                    "nothing") if learned_nothing(m["test"][LABELS_TUNED][MACRO_F1],
                                                  m["baselines"][MAJORITY][MACRO_F1]) else []
    return [f"## Korean emotion (KOTE, {len(m['labels'])} labels, multi-label)", "", *alarm,
            f"Base model: {m['base_model']['name']}; {m['data']['split']}.", "", "| test | macro-F1 | micro-F1 |",
            "|---|---|---|", *[f"| {name} | {r[MACRO_F1]:.3f} | {r['micro_f1']:.3f} |" for name, r in kote_rows(m)],
            "", f"Published: {m['reference']['test_macro_f1']} ({m['reference']['model']}).", ""]


def recommend_section(root: Path, n_examples: int = 3) -> list[str]:
    layout = paths.Layout(root)
    evaluation = optional_json(root, layout.representation_eval)
    if not evaluation or not layout.recommendations("csv").is_file():
        return []
    recall = evaluation[f"recall_at_{evaluation['k']}"]
    chosen = (optional_json(root, layout.chosen_representation)
              or {"representation": evaluation["best"], "chosen_by": "?"})
    name = chosen.get("candidate") or chosen["representation"]  # a chosen hybrid says its mixture
    lines = ["## Recommendations", "", f"Representation: **{name}** ({chosen['chosen_by']}). "
             f"Half-split recall@{evaluation['k']} over {evaluation['n_songs']} songs (chance "
             f"{evaluation['chance']:.4f}):", "",
             f"| representation | recall@{evaluation['k']} |", "|---|---|",
             *[f"| {row_label(r)} | {v:.4f} |" for r, v in recall.items()], ""]
    emotion = optional_json(root, layout.emotion_model / paths.METRICS)
    if emotion and layout.korean_model == layout.emotion_model and emotion_learned_nothing(emotion):
        return lines + warning("no example recommendations: the emotion model behind the song vectors learned "
                               "only the label prior, so songs that look alike here are not alike in emotion")
    table = pd.read_csv(layout.recommendations("csv"))
    for query in table["query"].drop_duplicates().head(n_examples):
        rows = table[table["query"] == query]
        lines += [f"### {query}", "", "| Rank | Song | Artist | Similarity | Shared emotions |", "|---" * 5 + "|",
                  *[f"| {r.rank} | {r.song} | {r.artist} | {r.similarity:.4f} | {r.shared_emotions} |"
                    for r in rows.itertuples()], ""]
    return lines


def stage_table(stages: dict) -> list[str]:
    """What each stage did in this run; a stage skipped as fresh says when it last ran (its record), so a resumed
    run still shows what every output cost."""
    rows, total = [], 0.0
    for name, s in stages.items():
        last = s.get("last_ran", {})
        total += last.get("seconds", 0.0) if s["status"] == "skipped" else s.get("seconds") or 0.0
        where = (f"{last['seconds']:.0f} s, finished {last.get('finished', '?')}, commit `{last.get('commit', '?')}`"
                 if last else "")
        rows.append(f"| {name} | {s['status']} | {s.get('seconds', '')} | {where} |")
    return ["| stage | status | seconds | when skipped: its last run here |", "|---|---|---|---|", *rows, "",
            f"Every stage's output, as this run leaves them, took {total / 60:.1f} min to make.", ""]


def write_report(root: Path, run: dict, figure_names: list[str]) -> Path:
    """results/REPORT.md: how it was made, what ran, every stage's metrics with baselines, examples, and every
    figure. The full run's report is the project's results document, so its header says where it came from."""
    header = provenance_lines(run.get("provenance", {}), run.get("versions"), run.get("runtime"))
    lines = ["# Pipeline report", "", *header,
             f"Started {run.get('started')}, finished {run.get('finished')}.", ""]
    if run.get("quick"):
        lines += ["> **Quick run**: small slices and few steps, to prove the pipeline works end to end. "
                  "The numbers below are not results; run `python main.py` for those.", ""]
    lines += stage_table(run["stages"])
    for section in (sentiment_section, emotion_section, kote_section, goemotions_section, recommend_section):
        try:
            lines += section(root)
        except (InputError, KeyError, TypeError, ValueError) as e:  # a damaged output costs its section only:
            lines += warning(f"{section.__name__}: {e}"[:400]) # the report of a failed run must still be written
    figures = [name for name in figure_names if (paths.Layout(root).graphs / name).is_file()]
    lines += ["## Figures", "", *[f"![{name}](../sample_graphs/{name})" for name in figures], ""]
    return write_text_atomic(paths.Layout(root).report, "\n".join(lines))
