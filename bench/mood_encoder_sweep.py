"""How the mood encoder's tuning settings move top-10 mood agreement on songs people labelled, and how far a
model trained on the songs' own moods would get.

    python bench/mood_encoder_sweep.py --model-dir saved_model/goemotions --data-dir data \
        default seed=1 seed=2 texts=1500 texts=12000 tau=0.05 tau=0.3 learning_rate=1e-05 \
        interpolate=0.75 join=3-8,max_length=128
    python bench/mood_encoder_sweep.py --model-dir saved_model/emotion --data-dir data --texts both \
        --base registry:embeddinggemma-300m --no-ceiling default

Each setting (fields of MoodEncoderConfig, comma-separated: `texts=12000,learning_rate=1e-4`) tunes a mood
encoder from the model's base encoder on GoEmotions' quadrant-labelled comments, as `lyrics_emotion.py mood`
does, into a copy of the model folder (the model itself is left as it is), then scores the labelled songs
(`--song-moods`, else the first CSV in <data-dir>/song_moods/) and prints the top-10 agreement of `mood`
beside `generic` (the untuned encoder) and chance. The songs choose settings; they train nothing. Two ideas
that are not settings of the product can be tried here too: `interpolate=A` keeps A x the tuned weights +
(1 - A) x the untuned ones (weight-space ensembling, WiSE-FT), and `join=LO-HI` tunes on texts of LO to HI
comments of one quadrant joined by line breaks, nearer a chunk of lyrics than one comment is.

`--base` tunes another encoder than the model's own base (a folder, or `registry:NAME` once `python
recommend.py --fetch-encoder NAME` fetched it; its licence is logged); `--texts both` tunes on KOTE's Korean
comments with GoEmotions' ones, as `lyrics_emotion.py mood` does for a Korean model.

The last lines are a ceiling, not a method: logistic regression trained on the songs' own moods (5-fold
cross-validation, repeated with 10 different folds) over the `generic` and the default `mood` vectors, its
held-out accuracy, and the top-10 agreement of its held-out mood probabilities as song vectors. The product
never trains on these labels.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from dataclasses import fields, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moodpipe import paths  # noqa: E402
from moodpipe.data.kote import kote_present  # noqa: E402
from moodpipe.logs import setup_logging  # noqa: E402
from moodpipe.models.mood_encoder import MOOD_ENCODER, MoodEncoderConfig, tune_mood_encoder  # noqa: E402
from moodpipe.models.registry_encoders import resolve_encoder  # noqa: E402
from moodpipe.models.song_vectors import song_emotion_vectors  # noqa: E402
from moodpipe.recommend.representations import Hybrid  # noqa: E402
from moodpipe.recommend.song_moods import (  # noqa: E402
    evaluate_song_moods,
    find_song_moods,
    mood_agreement,
    read_song_moods,
)
from moodpipe.recommend.topk import normalize_rows  # noqa: E402
from moodpipe.runtime import SEED, resolve_runtime  # noqa: E402
from moodpipe.stages.mood import base_encoder_path, kote_texts_by_quadrant, texts_by_quadrant, together  # noqa: E402

HALF_AND_HALF = Hybrid("mood", 0.5, "features").describe()  # the default the full runs chose, for comparison
BENCH_ONLY = {"interpolate": float, "join": str}  # ideas tried here, not settings of the product


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("settings", nargs="+", help="name=value[,name=value] of MoodEncoderConfig, `interpolate`, "
                                               "`join`, or `default`")
    p.add_argument("--model-dir", required=True, help="a trained emotion model folder (with base_model.json)")
    p.add_argument("--data-dir", default=None, help="holds goemotions/ and song_moods/ (else DATA_DIR, else data/)")
    p.add_argument("--song-moods", default=None, help="a CSV with song_id, lyrics, mood")
    p.add_argument("--base", default=None, help="the encoder to tune instead of the model's base: a folder, or "
                                                "registry:NAME")
    p.add_argument("--texts", choices=["goemotions", "both"], default="goemotions",
                   help="GoEmotions' comments (default), or KOTE's and GoEmotions' (a Korean model's default)")
    p.add_argument("--no-ceiling", action="store_true", help="skip the last lines (they tune and score once more)")
    return p.parse_args(argv)


def parse_setting(spec: str) -> tuple[MoodEncoderConfig, dict]:
    """`texts=1500,tau=0.3` -> (MoodEncoderConfig(texts=1500, tau=0.3), {}); `default` -> the defaults;
    `interpolate=` and `join=` go to the second item."""
    types = {f.name: type(f.default) for f in fields(MoodEncoderConfig)} | BENCH_ONLY
    pairs = [] if spec == "default" else [kv.split("=", 1) for kv in spec.split(",")]
    unknown = [k for k, _ in pairs if k not in types]
    if unknown:
        raise SystemExit(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(types)}")
    values = {k: types[k](v) for k, v in pairs}
    extras = {k: values.pop(k) for k in BENCH_ONLY if k in values}
    return replace(MoodEncoderConfig(), **values), extras


def joined_comments(groups: dict[str, list[str]], span: str, seed: int = SEED) -> dict[str, list[str]]:
    """As many texts per quadrant as it has comments, each LO to HI of its comments joined by line breaks."""
    lo, hi = map(int, span.split("-"))
    rng = random.Random(seed)
    return {q: ["\n".join(rng.sample(texts, rng.randint(lo, hi))) for _ in texts] for q, texts in groups.items()}


def interpolate_weights(base: str, folder: Path, alpha: float) -> None:
    """Overwrite the tuned encoder in folder with alpha x its weights + (1 - alpha) x the untuned base's."""
    from transformers import AutoModel
    untuned, tuned = AutoModel.from_pretrained(base).state_dict(), AutoModel.from_pretrained(str(folder))
    mixed = {k: alpha * v + (1 - alpha) * untuned[k] if v.is_floating_point() else v
             for k, v in tuned.state_dict().items()}
    tuned.load_state_dict(mixed)
    tuned.save_pretrained(str(folder))


def tune(base: str, groups: dict, folder: Path, runtime, spec: str) -> None:
    cfg, extras = parse_setting(spec)
    if "join" in extras:
        groups = joined_comments(groups, extras["join"], cfg.seed)
    tune_mood_encoder(base, groups, folder, runtime, cfg)
    if "interpolate" in extras:
        interpolate_weights(base, folder, extras["interpolate"])


def supervised_ceiling(vectors: np.ndarray, moods: np.ndarray, folds: int = 5, repeats: int = 10) -> dict:
    """Logistic regression trained on the songs' own moods over centred unit vectors, cross-validated
    `repeats` times with different folds: the mean held-out accuracy and the mean top-10 agreement of the
    held-out mood log-probabilities used as song vectors, with the lowest and highest agreement."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    x = normalize_rows(vectors - vectors.mean(0))
    names, accuracy, agreement = np.array(sorted(set(moods))), [], []
    for seed in range(repeats):
        probs = cross_val_predict(LogisticRegression(max_iter=2000), x, moods, method="predict_proba",
                                  cv=StratifiedKFold(folds, shuffle=True, random_state=seed))
        accuracy.append(float((names[probs.argmax(1)] == moods).mean()))
        log_probs = np.log(probs)
        agreement.append(mood_agreement(log_probs - log_probs.mean(0), moods))
    return {"accuracy": np.mean(accuracy), "agreement": np.mean(agreement), "low": min(agreement),
            "high": max(agreement)}


def main(argv=None) -> None:
    args = parse_args(argv)
    setup_logging()
    data_dir = paths.resolve_data_dir(args.data_dir)
    songs = Path(args.song_moods) if args.song_moods else find_song_moods(data_dir)
    if songs is None:
        raise SystemExit(f"no song-mood CSV: pass --song-moods or put one in {data_dir / paths.SONG_MOODS_DIR}")
    groups, runtime = texts_by_quadrant(data_dir), resolve_runtime("auto", "auto")
    if args.texts == "both":
        if not kote_present(data_dir):
            raise SystemExit(f"--texts both needs KOTE in {data_dir / paths.KOTE_DIR} (python main.py --stages data "
                             "fetches it when online)")
        groups = together(kote_texts_by_quadrant(data_dir, SEED), groups)
    base = base_encoder_path(Path(args.model_dir))
    if args.base:  # a registry name resolves to its checked folder (and logs its licence)
        base = resolve_encoder(args.base).path if args.base.startswith("registry:") else args.base
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model"
        shutil.copytree(args.model_dir, model, ignore=shutil.ignore_patterns(MOOD_ENCODER))
        for spec in args.settings:
            start = time.time()
            tune(base, groups, model / MOOD_ENCODER, runtime, spec)
            found = evaluate_song_moods(songs, model, runtime)
            scores = found["agreement_at_k"]
            rows.append((spec, scores["mood"]["mood"], found["candidates"].get(HALF_AND_HALF),
                         scores.get("generic", {}).get("mood"), scores["chance"]["mood"], time.time() - start))
        if args.no_ceiling:
            print_rows(songs, base, args.texts, rows)
            return
        tune(base, groups, model / MOOD_ENCODER, runtime, "default")
        labelled = read_song_moods(songs)
        vectors = song_emotion_vectors(labelled, str(model), runtime, embeddings=True)[3]
        ceiling = {name: supervised_ceiling(vectors[name], labelled.mood.to_numpy()) for name in ("generic", "mood")}
    print_rows(songs, base, args.texts, rows)
    print("\nCeiling (trained on the songs' own moods, 5-fold x 10; not a method):")
    for name, c in ceiling.items():
        print(f"  over `{name}`: held-out accuracy {c['accuracy']:.4f}, top-10 agreement of its held-out "
              f"probabilities {c['agreement']:.4f} ({c['low']:.4f} to {c['high']:.4f})")


def print_rows(songs: Path, base: str, texts: str, rows: list[tuple]) -> None:
    print(f"\n{songs.name}, base encoder {base}, tuned on {texts}' texts\n")
    print(f"| mood encoder setting | `mood` top-10 | `{HALF_AND_HALF}` | `generic` | chance | seconds (tune + score) |")
    print("|---|---|---|---|---|---|")
    for spec, mood, hybrid, generic, chance, seconds in rows:
        print(f"| {spec} | {mood:.4f} | {figure(hybrid)} | {figure(generic)} | {chance:.4f} | {seconds:.0f} |")


def figure(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


if __name__ == "__main__":
    main()
