"""The spaces where song similarity is taken: the probability family (moodpipe.songs.fit_representation: raw,
centered, zscore, log, major6), the two embeddings that scoring saves beside the vectors (`features`: the
fine-tuned model's vector before its classifier; `generic`: the untuned base encoder's mean-pooled
embedding), and `hybrid`, a weighted concatenation of one embedding with `log`.

A catalogue is a dict of aligned row arrays, `probs` plus whatever embeddings exist; a query is a dict of the
same keys. fit_space learns the statistics (means) from the catalogue, so a text query lands in the same space.

    >>> cat = {"probs": np.array([[0.9, 0.1], [0.5, 0.5], [0.1, 0.9]]), "generic": np.eye(3)}
    >>> to_space = fit_space(cat, ["emo:a/x", "emo:b/y"], "hybrid", Hybrid("generic", 1.0))
    >>> x = to_space(cat)  # all weight on `generic`: its part, and zeros where `log` would be
    >>> np.allclose(x[:, :3], unit_rows(fit_space(cat, [], "generic")(cat))), float(np.abs(x[:, 3:]).max())
    (True, 0.0)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from moodpipe.files import InputError
from moodpipe.songs import REPRESENTATIONS, fit_representation

EMBEDDINGS = ("features", "generic")


@dataclass(frozen=True)
class Hybrid:
    """`hybrid` = [sqrt(weight) * unit(centred part), sqrt(1 - weight) * unit(log)]: its cosine is exactly
    weight * cosine in `part` + (1 - weight) * cosine in `log`."""
    part: str = "generic"
    weight: float = 0.5


# Chosen on the AI-Hub validation dialogues by precision@10 of the major class (recommend.py --evaluate
# searches features/generic x 0.1..0.9 again and warns when its choice differs); never on test.
DEFAULT_HYBRID = Hybrid("features", 0.9)


def needs(name: str, hybrid: Hybrid = Hybrid()) -> list[str]:
    """The catalogue arrays a representation reads."""
    if name in EMBEDDINGS:
        return [name]
    return ["probs", hybrid.part] if name == "hybrid" else ["probs"]


def available(catalogue: dict, hybrid: Hybrid = Hybrid()) -> list[str]:
    """The representations this catalogue supports (major6 only with `emo:<major>/<sub>` columns is the
    caller's business: fit_representation says so)."""
    return [r for r in REPRESENTATIONS if all(k in catalogue for k in needs(r, hybrid))]


def check_available(name: str, catalogue: dict, source: object, hybrid: Hybrid = Hybrid()) -> None:
    if name not in REPRESENTATIONS:
        raise InputError(f"unknown --representation {name!r}; choose from {', '.join(REPRESENTATIONS)}")
    missing = [k for k in needs(name, hybrid) if k not in catalogue]
    if missing:
        raise InputError(f"--representation {name} needs `{'`, `'.join(missing)}` vectors, which {source} lacks; "
                         f"it has: {', '.join(available(catalogue, hybrid))} (score with "
                         "`lyrics_emotion.py score --embeddings` to add features and generic)")


def unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def fit_space(catalogue: dict, columns: Sequence[str], name: str,
              hybrid: Hybrid = Hybrid()) -> Callable[[dict], np.ndarray]:
    """The map from a query dict (rows of `probs` and embeddings) to rows in the named space."""
    if name in EMBEDDINGS:  # centred: every sentence embedding shares one large direction (cosine ~0.9)
        mean = np.asarray(catalogue[name], float).mean(axis=0)
        return lambda q: np.asarray(q[name], float) - mean
    if name == "hybrid":
        part, log = fit_space(catalogue, columns, hybrid.part), fit_space(catalogue, columns, "log")
        w = float(np.clip(hybrid.weight, 0.0, 1.0))
        return lambda q: np.hstack([np.sqrt(w) * unit_rows(part(q)), np.sqrt(1 - w) * unit_rows(log(q))])
    transform, _ = fit_representation(catalogue["probs"], columns, name)
    return lambda q: transform(q["probs"])
