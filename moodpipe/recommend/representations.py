"""Representations: the spaces where song similarity is taken, in one place. The registry and the default,
fitting a space on the catalogue, the space explanations are read in, and the choice saved beside the vectors
all live here; ranking (moodpipe.recommend.queries), the page and the evaluations call it.

- the probability family (raw, centered, zscore, log, major6): transforms of the emotion probabilities;
- the embeddings scoring saves beside the vectors (`features`: the fine-tuned model's vector before its
  classifier; `generic`: the untuned base encoder's mean-pooled embedding);
- `hybrid`: a weighted concatenation of two of them (an embedding with `log`, or `mood` with `features`).

The default is chosen per catalogue on songs people labelled with a mood (moodpipe.recommend.evaluation.
choose_default, among `candidates`) and saved beside the vectors with its mixture; without that choice the
built-in DEFAULT_REPRESENTATION and DEFAULT_HYBRID apply.

A catalogue is a dict of aligned row arrays, `probs` plus whatever embeddings exist; a query is a dict of the
same keys. fit_space learns the statistics (means) from the catalogue, so a text query lands in the same space.

    >>> cat = {"probs": np.array([[0.9, 0.1], [0.5, 0.5], [0.1, 0.9]]), "generic": np.eye(3)}
    >>> to_space = fit_space(cat, ["emo:a/x", "emo:b/y"], "hybrid", Hybrid("generic", 1.0, "log"))
    >>> x = to_space(cat)  # all weight on `generic`: its part, and zeros where `log` would be
    >>> np.allclose(x[:, :3], normalize_rows(fit_space(cat, [], "generic")(cat))), float(np.abs(x[:, 3:]).max())
    (True, 0.0)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from moodpipe.files import InputError, read_json, write_json_atomic
from moodpipe.models.emotion_predictor import EMBEDDINGS
from moodpipe.paths import REPRESENTATION_FILE
from moodpipe.recommend.catalogue import major_of, readable
from moodpipe.recommend.topk import normalize_rows

log = logging.getLogger("pipeline")

MAJOR_SUMS = "major6"  # the representation of the 6 major-class sums (the 6-class test metrics share the word)
REPRESENTATIONS = {
    "raw": "cosine of the raw probabilities (the original design; similarities all near 0.99)",
    "centered": "probabilities minus the catalogue mean: what sets a song apart",
    "zscore": "centred, then divided by each emotion's spread across the catalogue",
    "log": "log-probabilities minus the catalogue mean log-probability (rare emotions count more)",
    MAJOR_SUMS: "the 6 major-class sums, centred (coarse but robust)",
    "features": "the fine-tuned model's vector before its classifier, averaged over the song's chunks, centred",
    "generic": "the untuned base encoder's mean-pooled embedding, centred (what anyone gets without us)",
    "mood": "the mood encoder's mean-pooled embedding (the base encoder tuned contrastively on the four "
            "circumplex moods), centred",
    "hybrid": "a weighted mix of two representations (cosine = w * cosine in one + (1 - w) * cosine in the other; "
              "main.py chooses the pair and w on songs people labelled, e.g. `mood` with `features`)",
}
PROBABILITY_REPRESENTATIONS = ("raw", "centered", "zscore", "log", MAJOR_SUMS)
# Used when no default was chosen on songs people labelled (no results/representation.json beside the vectors):
# `features`, the labelled-retrieval choice before the default was chosen on songs (docs/songs.md, History);
# vectors without saved embeddings fall back to `log`, then the probability representation with the best
# half-split recall.
DEFAULT_REPRESENTATION = "features"
FALLBACK_REPRESENTATION = "log"
LOG_FLOOR = 1e-6  # a probability of 0 would be log(0) = -inf


def fit_representation(catalogue: np.ndarray, columns: Sequence[str],
                       name: str) -> tuple[Callable[[np.ndarray], np.ndarray], list[str]]:
    """(transform, feature names): the map from probability rows to the space where cosine is taken.

    Statistics come from the catalogue, so a text or an emotion profile lands in the same space.
    >>> f, names = fit_representation(np.array([[0.8, 0.2], [0.6, 0.4]]), ["emo:a/x", "emo:b/y"], "centered")
    >>> f(np.array([[0.8, 0.2]])).round(2).tolist(), names
    ([[0.1, -0.1]], ['a/x', 'b/y'])
    """
    if name not in PROBABILITY_REPRESENTATIONS:
        raise InputError(f"--representation {name!r} is not one of the probability family "
                         f"({', '.join(PROBABILITY_REPRESENTATIONS)}); fit_space handles the rest")
    names = [readable(c) for c in columns]
    base: Callable[[np.ndarray], np.ndarray] = lambda p: p  # noqa: E731
    if name == MAJOR_SUMS:
        majors = [major_of(c) for c in columns]
        if None in majors:
            raise InputError("--representation major6 needs `emo:<major>/<sub>` columns")
        names = sorted(set(majors), key=majors.index)
        groups = np.array([[m == g for g in names] for m in majors], dtype=float)
        base = lambda p: p @ groups  # noqa: E731
    elif name == "log":
        base = lambda p: np.log(np.clip(p, LOG_FLOOR, None))  # noqa: E731
    ref = base(catalogue)
    mean = np.zeros(ref.shape[1]) if name == "raw" else ref.mean(axis=0)
    spread = ref.std(axis=0) if name == "zscore" else np.ones(ref.shape[1])
    spread[spread == 0] = 1.0  # an emotion that never varies carries no information; leave it at 0
    return (lambda p: (base(np.asarray(p, float)) - mean) / spread), names


@dataclass(frozen=True)
class Hybrid:
    """`hybrid` = [sqrt(weight) * unit(part), sqrt(1 - weight) * unit(rest)]: its cosine is exactly
    weight * cosine in `part` + (1 - weight) * cosine in `rest` (both fitted representations). No field has a
    default: the one built-in mixture is DEFAULT_HYBRID."""
    part: str
    weight: float
    rest: str

    def describe(self) -> str:
        """'hybrid 0.5 mood + 0.5 features': what a report row calls this mixture."""
        return f"hybrid {self.weight:g} {self.part} + {1 - self.weight:g} {self.rest}"


# Used when no choice is saved beside the vectors. Chosen on the AI-Hub validation dialogues by precision@10 of
# the major class, never on test (recommend.py --evaluate searches again and warns when its choice differs).
DEFAULT_HYBRID = Hybrid("features", 0.9, "log")


def row_label(name: str) -> str:
    """A representation as a table row names it: `hybrid` alone is the built-in mixture, so it says which.

    >>> row_label("hybrid"), row_label("log")
    ('hybrid 0.9 features + 0.1 log', 'log')
    """
    return DEFAULT_HYBRID.describe() if name == "hybrid" else name


HYBRID_WEIGHTS = tuple(round(w, 1) for w in np.linspace(0.1, 0.9, 9))
# The mixtures the default is chosen among (main.py, on songs people labelled), each at these weights: a coarser
# grid, as each candidate's half-split recall over ~8,000 songs takes seconds.
HYBRID_PAIRS = (("features", "log"), ("mood", "log"), ("mood", "features"))
CANDIDATE_WEIGHTS = (0.1, 0.3, 0.5, 0.7, 0.9)


def candidates(catalogue: dict) -> dict[str, tuple[str, Hybrid]]:
    """{key: (representation, hybrid)} for every representation this catalogue supports (major6 aside) and every
    mixture of HYBRID_PAIRS: what the default is chosen among.

    >>> sorted(candidates({"probs": np.ones((2, 2))}))
    ['centered', 'log', 'raw', 'zscore']
    """
    found = {r: (r, DEFAULT_HYBRID) for r in available(catalogue) if r not in ("hybrid", MAJOR_SUMS)}
    for part, rest in HYBRID_PAIRS:
        for w in CANDIDATE_WEIGHTS:
            hybrid = Hybrid(part, w, rest)
            if "hybrid" in available(catalogue, hybrid):
                found[hybrid.describe()] = ("hybrid", hybrid)
    return found


def needs(name: str, hybrid: Hybrid = DEFAULT_HYBRID) -> list[str]:
    """The catalogue arrays a representation reads."""
    if name in EMBEDDINGS:
        return [name]
    if name == "hybrid":
        return list(dict.fromkeys(needs(hybrid.part) + needs(hybrid.rest)))
    return ["probs"]


def available(catalogue: dict, hybrid: Hybrid = DEFAULT_HYBRID) -> list[str]:
    """The representations this catalogue supports (major6 only with `emo:<major>/<sub>` columns is the
    caller's business: fit_representation says so)."""
    return [r for r in REPRESENTATIONS if all(k in catalogue for k in needs(r, hybrid))]


def check_available(name: str, catalogue: dict, source: object, hybrid: Hybrid = DEFAULT_HYBRID) -> None:
    if name not in REPRESENTATIONS:
        raise InputError(f"unknown --representation {name!r}; choose from {', '.join(REPRESENTATIONS)}")
    missing = [k for k in needs(name, hybrid) if k not in catalogue]
    if missing:
        raise InputError(f"--representation {name} needs `{'`, `'.join(missing)}` vectors, which {source} lacks; "
                         f"it has: {', '.join(available(catalogue, hybrid))} (score with "
                         "`lyrics_emotion.py score --embeddings` to add features and generic)")



def fit_space(catalogue: dict, columns: Sequence[str], name: str,
              hybrid: Hybrid = DEFAULT_HYBRID) -> Callable[[dict], np.ndarray]:
    """The map from a query dict (rows of `probs` and embeddings) to rows in the named space."""
    if name in EMBEDDINGS:  # centred: every sentence embedding shares one large direction (cosine ~0.9)
        mean = np.asarray(catalogue[name], float).mean(axis=0)
        return lambda q: np.asarray(q[name], float) - mean
    if name == "hybrid":
        part, rest = fit_space(catalogue, columns, hybrid.part), fit_space(catalogue, columns, hybrid.rest)
        w = float(np.clip(hybrid.weight, 0.0, 1.0))
        return lambda q: np.hstack([np.sqrt(w) * normalize_rows(part(q)), np.sqrt(1 - w) * normalize_rows(rest(q))])
    transform, _ = fit_representation(catalogue["probs"], columns, name)
    return lambda q: transform(q["probs"])


def explanation_space(catalogue: dict, columns: Sequence[str],
                      name: str) -> tuple[Callable[[dict], np.ndarray], list[str]]:
    """(map from a query dict to rows, the emotion each dimension is) in which "shared emotions" are read.
    They always come from the probabilities: in a probability space the space itself, in an embedding space
    (features, generic, hybrid) `log`, whose dimensions are emotions while an embedding's are not."""
    transform, names = fit_representation(catalogue["probs"], columns,
                                          name if name in PROBABILITY_REPRESENTATIONS else "log")
    return (lambda q: transform(q["probs"])), names


@dataclass(frozen=True)
class Space:
    """A representation fitted on a catalogue: the map rankings are taken in, and the map and emotion names
    its matches are explained in. Ranking and explanations both come from here."""
    name: str
    rank: Callable[[dict], np.ndarray]
    explain: Callable[[dict], np.ndarray]
    emotions: list[str]


def fitted_space(catalogue: dict, columns: Sequence[str], name: str, source: object = "the song vectors",
                 hybrid: Hybrid = DEFAULT_HYBRID) -> Space:
    """The named representation fitted on the catalogue; an error naming what `source` lacks when it cannot be."""
    check_available(name, catalogue, source, hybrid)
    explain, emotions = explanation_space(catalogue, columns, name)
    return Space(name, fit_space(catalogue, columns, name, hybrid), explain, emotions)


# ----------------------------------------------------------------------------- the choice, saved beside the vectors

REBUILD_CHOICE = "python main.py --stages recommend --force"


def saved_choice(vectors: Path) -> dict:
    """What results/representation.json beside the vectors says (empty when there is none), checked against its
    schema: a name or mixture that is not ours is an error naming the file, never a quietly different ranking."""
    path = Path(vectors).parent / REPRESENTATION_FILE
    if not path.is_file():
        return {}
    saved = read_json(path, REBUILD_CHOICE)
    problem = choice_problem(saved)
    if problem:
        raise InputError(f"{path}: {problem}; rebuild it with `{REBUILD_CHOICE}` (or delete it to use the default)")
    return saved


def choice_problem(saved: object) -> str | None:
    """Why a saved choice does not fit its schema: {representation: a known name, hybrid (optional): {part,
    weight from 0 to 1, rest}} (None: it fits).

    >>> choice_problem({"representation": "hybrid", "hybrid": {"part": "mood", "weight": 7.0, "rest": "log"}})
    'hybrid weight must be a number from 0 to 1, got 7.0'
    """
    if not isinstance(saved, dict):
        return f"expected a JSON object, got {type(saved).__name__}"
    name = saved.get("representation")
    if name is not None and name not in REPRESENTATIONS:
        return f"unknown representation {name!r} (known: {', '.join(REPRESENTATIONS)})"
    hybrid = saved.get("hybrid")
    if hybrid is None:
        return None
    fields = {"part", "weight", "rest"}
    if not isinstance(hybrid, dict) or set(hybrid) != fields:
        return f"`hybrid` must be an object with exactly {', '.join(sorted(fields))}, got {hybrid!r}"
    bad = [hybrid[k] for k in ("part", "rest") if hybrid[k] not in REPRESENTATIONS or hybrid[k] == "hybrid"]
    if bad:
        return f"hybrid part {bad[0]!r} is not a representation it can mix"
    weight = hybrid["weight"]
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 <= weight <= 1:
        return f"hybrid weight must be a number from 0 to 1, got {weight!r}"
    return None


def saved_representation(vectors: Path) -> str | None:
    """The representation chosen for these vectors, if any."""
    return saved_choice(vectors).get("representation")


def hybrid_for(vectors: Path) -> Hybrid:
    """The `hybrid` mixture chosen for these vectors, else DEFAULT_HYBRID."""
    saved = saved_choice(vectors).get("hybrid")
    return Hybrid(**saved) if saved else DEFAULT_HYBRID


def save_representation(vectors: Path, evaluation: dict, choice: dict | None = None) -> str:
    """Record the representation every ranking of these vectors uses, beside them, with why: the choice made on
    songs people labelled (moodpipe.recommend.evaluation.choose_default) when there is one; else the default
    when the vectors support it, else the best half-split recall."""
    k = evaluation["k"]
    recall = evaluation[f"recall_at_{k}"]
    if choice is None:
        chosen = DEFAULT_REPRESENTATION if DEFAULT_REPRESENTATION in recall else evaluation["best"]
        why = ("the default: best in labelled retrieval (recommend.py --evaluate)" if chosen == DEFAULT_REPRESENTATION
               else f"best half-split recall@{k} ({DEFAULT_REPRESENTATION} needs vectors these files lack)")
        choice = {"representation": chosen, "chosen_by": why}
    write_json_atomic(Path(vectors).parent / REPRESENTATION_FILE, {
        **choice, f"recall_at_{k}": recall, "n_songs": evaluation["n_songs"]})
    return choice["representation"]


def default_representation(catalogue: dict) -> str:
    """DEFAULT_REPRESENTATION when the vectors carry what it needs, else the best probability representation
    by half-split recall (vectors scored without embeddings, or a CSV from elsewhere)."""
    if DEFAULT_REPRESENTATION in available(catalogue, DEFAULT_HYBRID):
        return DEFAULT_REPRESENTATION
    log.info("representation: %s needs embeddings these vectors lack; using %s", DEFAULT_REPRESENTATION,
             FALLBACK_REPRESENTATION)
    return FALLBACK_REPRESENTATION


def representation_for(requested: str | None, vectors: Path, catalogue: dict) -> str:
    """The representation a ranking uses: the one asked for, else the one saved beside the vectors, else the
    default the vectors support."""
    return requested or saved_representation(vectors) or default_representation(catalogue)
