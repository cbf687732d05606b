"""How the mood encoder's tuning settings move top-10 mood agreement on songs people labelled.

    python bench/mood_encoder_sweep.py --model-dir saved_model/goemotions --data-dir data \
        default texts=1500 texts=12000 tau=0.05 tau=0.3 learning_rate=1e-05

Each setting (fields of MoodEncoderConfig, comma-separated: `texts=12000,learning_rate=1e-4`) tunes a mood
encoder from the model's base encoder on GoEmotions' quadrant-labelled comments, as `lyrics_emotion.py mood`
does, into a copy of the model folder (the model itself is left as it is), then scores the labelled songs
(`--song-moods`, else the first CSV in <data-dir>/song_moods/) and prints the top-10 agreement of `mood`
beside `generic` (the untuned encoder) and chance. The songs choose settings; they train nothing.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import fields, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moodpipe import paths  # noqa: E402
from moodpipe.cli import setup_logging  # noqa: E402
from moodpipe.models.mood_encoder import MOOD_ENCODER, MoodEncoderConfig, tune_mood_encoder  # noqa: E402
from moodpipe.recommend.song_moods import evaluate_song_moods, find_song_moods  # noqa: E402
from moodpipe.runtime import resolve_runtime  # noqa: E402
from moodpipe.stages.mood import base_encoder_path, texts_by_quadrant  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("settings", nargs="+", help="name=value[,name=value] of MoodEncoderConfig, or `default`")
    p.add_argument("--model-dir", required=True, help="a trained emotion model folder (with base_model.json)")
    p.add_argument("--data-dir", default=None, help="holds goemotions/ and song_moods/ (else DATA_DIR, else data/)")
    p.add_argument("--song-moods", default=None, help="a CSV with song_id, lyrics, mood")
    return p.parse_args(argv)


def parse_setting(spec: str) -> MoodEncoderConfig:
    """`texts=1500,tau=0.3` -> MoodEncoderConfig(texts=1500, tau=0.3); `default` -> the defaults."""
    types = {f.name: type(f.default) for f in fields(MoodEncoderConfig)}
    pairs = [] if spec == "default" else [kv.split("=", 1) for kv in spec.split(",")]
    unknown = [k for k, _ in pairs if k not in types]
    if unknown:
        raise SystemExit(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(types)}")
    return replace(MoodEncoderConfig(), **{k: types[k](v) for k, v in pairs})


def main(argv=None) -> None:
    args = parse_args(argv)
    setup_logging()
    data_dir = paths.resolve_data_dir(args.data_dir)
    songs = Path(args.song_moods) if args.song_moods else find_song_moods(data_dir)
    if songs is None:
        raise SystemExit(f"no song-mood CSV: pass --song-moods or put one in {data_dir / paths.SONG_MOODS_DIR}")
    groups, runtime = texts_by_quadrant(data_dir), resolve_runtime("auto", "auto")
    base = base_encoder_path(Path(args.model_dir))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model"
        shutil.copytree(args.model_dir, model, ignore=shutil.ignore_patterns(MOOD_ENCODER))
        for spec in args.settings:
            start = time.time()
            tune_mood_encoder(base, groups, model / MOOD_ENCODER, runtime, parse_setting(spec))
            scores = evaluate_song_moods(songs, model, runtime)["agreement_at_k"]
            rows.append((spec, scores["mood"]["mood"], scores.get("generic", {}).get("mood"),
                         scores["chance"]["mood"], time.time() - start))
    print(f"\n{songs.name}, base encoder {base}\n")
    print("| mood encoder setting | `mood` top-10 | `generic` | chance | seconds (tune + score) |")
    print("|---|---|---|---|---|")
    for spec, mood, generic, chance, seconds in rows:
        generic_cell = "-" if generic is None else f"{generic:.4f}"
        print(f"| {spec} | {mood:.4f} | {generic_cell} | {chance:.4f} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
