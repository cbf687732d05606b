"""The mood stage: beside each trained emotion model (the Korean one and the English GoEmotions one), a mood
encoder tuned from the same base encoder on comments labelled by their circumplex quadrant
(moodpipe.models.mood_encoder). Scoring then saves every song's `mood` embedding, for
`recommend.py --representation mood`.

    python lyrics_emotion.py mood --data-dir data             # saved_model/{emotion,goemotions}/mood_encoder/
    python lyrics_emotion.py mood --korean-texts goemotions   # the Korean model's encoder on English comments only

The English model's encoder is tuned on GoEmotions' one-emotion comments. The Korean model's encoder scores Korean
lyrics, so by default (--korean-texts both) it is tuned on Korean and English comments together, each quadrant
holding both: KOTE's Korean comments, each placed at the mean valence and arousal of its labels
(moodpipe.data.circumplex.KOTE_VA; `없음` left out) and kept when that point is clearly inside a quadrant, and
GoEmotions' English ones. A batch's positives then cross languages, which teaches the multilingual encoder that
an angry Korean comment and an angry English one are alike; GoEmotions fills the quadrants where few KOTE
comments fall (calm, sad). Without KOTE in the data directory it falls back to GoEmotions' comments alone, says
so, and records it (tuned_on.json in the encoder's folder).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from moodpipe import paths
from moodpipe.context import RunContext
from moodpipe.data.circumplex import quadrant_of, valence_arousal
from moodpipe.data.goemotions import read_goemotions
from moodpipe.data.kote import kote_present, read_kote
from moodpipe.files import InputError
from moodpipe.models.mood_encoder import MOOD_ENCODER, MoodEncoderConfig, tune_mood_encoder
from moodpipe.runtime import is_main_process
from moodpipe.stages import korean as ko

log = logging.getLogger("pipeline")


@dataclass(frozen=True)
class MoodConfig:
    texts: int = MoodEncoderConfig.texts
    korean_texts: str = "both"  # one of KOREAN_TEXTS: the comments the Korean model's encoder is tuned on


KOREAN_TEXTS = ("both", "kote", "goemotions")  # KOTE's and GoEmotions' comments, KOTE's alone, GoEmotions' alone
ENGLISH_TEXTS = "GoEmotions' English comments"  # what tuned_on.json says of GoEmotions' texts


QUICK = MoodConfig(texts=128)  # main.py --quick: a few steps per encoder


def texts_by_quadrant(data_dir: Path) -> dict[str, list[str]]:
    """GoEmotions' training comments with exactly one emotion (neutral left out), grouped by its quadrant."""
    parts, names, _ = read_goemotions(data_dir)
    groups: dict[str, list[str]] = defaultdict(list)
    for text, y in zip(parts["train"].text, parts["train"].y, strict=True):
        labels = [names[i] for i in y.nonzero()[0]]
        if len(labels) == 1 and labels[0] != "neutral":
            groups[quadrant_of(labels[0])].append(text)
    return dict(groups)


QUADRANT_MARGIN = 0.15  # a KOTE comment whose mean (valence, arousal) is nearer an axis than this is left out


def kote_texts_by_quadrant(data_dir: Path, seed: int) -> dict[str, list[str]]:
    """KOTE's training comments, each in the quadrant of the mean (valence, arousal) of its labels.

    A comment labelled 기쁨 and 행복 sits at their mean, well inside +V+A; one labelled 슬픔 and 기쁨 sits near the
    valence axis and is left out."""
    parts, names, _ = read_kote(data_dir, seed)
    points = [valence_arousal(n) for n in names]
    groups: dict[str, list[str]] = defaultdict(list)
    for text, y in zip(parts["train"].text, parts["train"].y, strict=True):
        labels = [i for i in y.nonzero()[0] if not names[i].endswith("/없음")]
        if not labels:
            continue
        v = sum(points[i][0] for i in labels) / len(labels)
        a = sum(points[i][1] for i in labels) / len(labels)
        if min(abs(v), abs(a)) >= QUADRANT_MARGIN:
            groups[("+V" if v > 0 else "-V") + ("+A" if a > 0 else "-A")].append(text)
    return dict(groups)


def together(first: dict[str, list[str]], second: dict[str, list[str]]) -> dict[str, list[str]]:
    """Per quadrant, every text of both sources."""
    return {q: first.get(q, []) + second.get(q, []) for q in sorted(set(first) | set(second))}


def korean_texts(ctx: RunContext, choice: str, english: dict[str, list[str]]) -> tuple[dict[str, list[str]], str]:
    """The texts the Korean model's mood encoder is tuned on, and what they are (recorded beside the encoder)."""
    if choice == "goemotions":
        return english, ENGLISH_TEXTS
    if not kote_present(ctx.data_dir):
        if choice == "kote":
            raise InputError(f"--korean-texts kote needs KOTE in {ctx.data_dir / 'kote'} (python main.py --stages "
                             "data, online, fetches it)")
        log.warning("KOTE is not in %s: the Korean mood encoder is tuned on GoEmotions' English comments alone",
                    ctx.data_dir)
        return english, f"{ENGLISH_TEXTS} (KOTE not in the data directory)"
    kote = kote_texts_by_quadrant(ctx.data_dir, ctx.seed)
    if choice == "kote":
        return kote, "KOTE's Korean comments"
    return together(kote, english), f"KOTE's Korean and {ENGLISH_TEXTS}"


def korean_text_files(ctx: RunContext, cfg: MoodConfig) -> list[Path]:
    """KOTE's files when the Korean model's encoder reads them (an input of the mood stage)."""
    used = cfg.korean_texts != "goemotions" and kote_present(ctx.data_dir)
    return [ctx.data_dir / name for name in paths.KOTE_FILES] if used else []


def trained_models(ctx: RunContext) -> list[Path]:
    """The Korean model this data directory trains (AI-Hub's, else KOTE's: the one the songs are scored with, even
    when an older run left the other one here), else the one saved (trained from a corpus elsewhere, --corpus),
    and the GoEmotions model: those that are saved."""
    korean = ko.model_dir(ctx.data_dir, ctx.out)
    korean = korean if (korean / paths.BASE_MODEL).is_file() else ctx.layout.korean_model
    return [m for m in (korean, ctx.layout.goemotions_model) if (m / paths.BASE_MODEL).is_file()]


def base_encoder_path(model_dir: Path) -> str:
    """The untuned encoder a trained model was fine-tuned from, as its base_model.json records it."""
    return json.loads((model_dir / paths.BASE_MODEL).read_text(encoding="utf-8"))["path"]


def tune_mood_encoders(ctx: RunContext, cfg: MoodConfig) -> list[Path]:
    """A mood encoder beside every trained emotion model under the output root; returns their folders."""
    models = trained_models(ctx)
    if not models:
        raise InputError(f"no trained emotion model under {ctx.out}/saved_model: run `python lyrics_emotion.py "
                         "train` (and/or `--dataset goemotions`) first")
    english = texts_by_quadrant(ctx.data_dir)
    runtime = ctx.runtime
    settings = MoodEncoderConfig(texts=cfg.texts, seed=ctx.seed)
    made = []
    for model_dir in models:  # at most one Korean model: KOTE is read once, and only for it
        base = base_encoder_path(model_dir)
        is_english = model_dir == paths.Layout(ctx.out).goemotions_model
        groups, source = (english, ENGLISH_TEXTS) if is_english else korean_texts(ctx, cfg.korean_texts, english)
        counts = {q: len(t) for q, t in sorted(groups.items())}
        log.info("mood encoder for %s, tuned from %s on %s: %s", model_dir, base, source,
                 ", ".join(f"{q} {n}" for q, n in counts.items()))
        if is_main_process():
            about = {"texts": source, "texts_per_quadrant": counts, "base_encoder": base}
            made.append(tune_mood_encoder(base, groups, model_dir / MOOD_ENCODER, runtime, settings, about))
    return made
