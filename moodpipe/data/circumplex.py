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
# KOTE's 44 labels, placed the same way (from the Korean words' general meaning, on the same scale as above;
# `없음`, no emotion, sits at the neutral point like GoEmotions' `neutral`).
KOTE_VA = {
    "불평/불만": (-0.55, 0.35), "환영/호의": (0.75, 0.30), "감동/감탄": (0.80, 0.55), "지긋지긋": (-0.65, 0.20),
    "고마움": (0.80, -0.10), "슬픔": (-0.90, -0.45), "화남/분노": (-0.70, 0.75), "존경": (0.75, 0.10),
    "기대감": (0.60, 0.55), "우쭐댐/무시함": (-0.30, 0.40), "안타까움/실망": (-0.70, -0.15), "비장함": (0.20, 0.55),
    "의심/불신": (-0.50, 0.30), "뿌듯함": (0.80, 0.40), "편안/쾌적": (0.80, -0.60), "신기함/관심": (0.45, 0.50),
    "아껴주는": (0.75, -0.20), "부끄러움": (-0.60, 0.30), "공포/무서움": (-0.85, 0.70), "절망": (-0.95, -0.30),
    "한심함": (-0.60, -0.05), "역겨움/징그러움": (-0.85, 0.50), "짜증": (-0.60, 0.50), "어이없음": (-0.40, 0.45),
    "없음": (0.0, -0.10), "패배/자기혐오": (-0.85, -0.10), "귀찮음": (-0.45, -0.35), "힘듦/지침": (-0.65, -0.55),
    "즐거움/신남": (0.90, 0.80), "깨달음": (0.15, 0.05), "죄책감": (-0.70, 0.05), "증오/혐오": (-0.90, 0.65),
    "흐뭇함(귀여움/예쁨)": (0.85, 0.20), "당황/난처": (-0.45, 0.50), "경악": (-0.55, 0.85),
    "부담/안_내킴": (-0.45, 0.10), "서러움": (-0.80, -0.10), "재미없음": (-0.40, -0.55), "불쌍함/연민": (-0.40, -0.20),
    "놀람": (0.20, 0.80), "행복": (0.95, 0.45), "불안/걱정": (-0.60, 0.60), "기쁨": (0.95, 0.60),
    "안심/신뢰": (0.70, -0.50),
}
# AI-Hub's six major classes (a label `<major>/<sub>` takes its major's place).
AIHUB_MAJOR_VA = {"분노": (-0.70, 0.75), "기쁨": (0.90, 0.45), "불안": (-0.60, 0.60), "당황": (-0.40, 0.45),
                  "상처": (-0.75, 0.05), "슬픔": (-0.90, -0.45)}


def valence_arousal(label: str) -> tuple[float, float]:
    """(valence, arousal) of a GoEmotions label, a KOTE label (as released, or `<group>/<label>` as the project
    names it) or an AI-Hub label (`<major>/<sub>` or a major class).

    >>> valence_arousal("편안/쾌적"), valence_arousal("긍정/편안/쾌적")
    ((0.8, -0.6), (0.8, -0.6))
    """
    if label in GOEMOTIONS_VA:
        return GOEMOTIONS_VA[label]
    head, _, rest = label.partition("/")
    if head in AIHUB_MAJOR_VA:  # AI-Hub first: its label names share words with KOTE's (슬픔, 기쁨)
        return AIHUB_MAJOR_VA[head]
    return KOTE_VA[label] if label in KOTE_VA else KOTE_VA[rest]


def quadrant_of(label: str) -> str:
    """The circumplex quadrant of a label, as the signs of its valence and arousal."""
    v, a = valence_arousal(label)
    return ("+V" if v >= 0 else "-V") + ("+A" if a >= 0 else "-A")
