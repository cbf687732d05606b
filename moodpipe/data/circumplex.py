"""Emotions placed on Russell's circumplex: valence (pleasant +, unpleasant -) and arousal (activated +, calm -).

The four quadrants are the moods people use for music (happy +V+A, angry -V+A, sad -V-A, relaxed +V-A). The
table is written from the words' general meaning on NRC-VAD's scale (rescaled to [-1, 1] and rounded); it is
fixed here, never fitted to any labelled songs.

    >>> quadrant_of("joy"), quadrant_of("relief"), quadrant_of("슬픔/외로운")
    ('+V+A', '+V-A', '-V-A')
"""

from __future__ import annotations

GOEMOTIONS_VA = {
    "admiration": (0.85, 0.15), "amusement": (0.85, 0.60), "anger": (-0.70, 0.75), "annoyance": (-0.60, 0.50),
    "approval": (0.65, -0.05), "caring": (0.75, -0.20), "confusion": (-0.40, 0.30), "curiosity": (0.40, 0.40),
    "desire": (0.60, 0.60), "disappointment": (-0.75, -0.15), "disapproval": (-0.65, 0.20),
    "disgust": (-0.85, 0.50), "embarrassment": (-0.65, 0.30), "excitement": (0.80, 0.90), "fear": (-0.85, 0.70),
    "gratitude": (0.80, -0.10), "grief": (-0.90, -0.20), "joy": (0.95, 0.60), "love": (0.95, 0.05),
    "nervousness": (-0.60, 0.65), "optimism": (0.85, 0.15), "pride": (0.75, 0.45), "realization": (0.15, 0.05),
    "relief": (0.70, -0.60), "remorse": (-0.75, -0.15), "sadness": (-0.90, -0.45), "surprise": (0.25, 0.80),
    "neutral": (0.0, -0.10),
}
# AI-Hub's six major classes (a label `<major>/<sub>` takes its major's place).
AIHUB_MAJOR_VA = {"분노": (-0.70, 0.75), "기쁨": (0.90, 0.45), "불안": (-0.60, 0.60), "당황": (-0.40, 0.45),
                  "상처": (-0.75, 0.05), "슬픔": (-0.90, -0.45)}


def valence_arousal(label: str) -> tuple[float, float]:
    """(valence, arousal) of a GoEmotions label or an AI-Hub label (`<major>/<sub>` or a major class)."""
    if label in GOEMOTIONS_VA:
        return GOEMOTIONS_VA[label]
    return AIHUB_MAJOR_VA[label.split("/", 1)[0]]


def quadrant_of(label: str) -> str:
    """The circumplex quadrant of a label, as the signs of its valence and arousal."""
    v, a = valence_arousal(label)
    return ("+V" if v >= 0 else "-V") + ("+A" if a >= 0 else "-A")
