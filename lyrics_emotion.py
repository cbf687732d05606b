"""Korean emotion classifier (AI-Hub 감성 대화 말뭉치, 60 labels) and per-song emotion vectors.

    python lyrics_emotion.py train --data-dir data                       # arch2 head, dialogue level
    python lyrics_emotion.py train --data-dir data --compare             # plain, arch1, arch2 on one split
    python lyrics_emotion.py train --data-dir data --unit sentence --head plain
    python lyrics_emotion.py train --dataset goemotions --data-dir data  # English multi-label baseline
    python lyrics_emotion.py train --dataset kote --data-dir data        # Korean, public: KOTE's 44 emotions
    python lyrics_emotion.py train --dataset goemotions --data-dir data --lora --lora-r 8
    python lyrics_emotion.py train --dataset goemotions --qlora --device cuda       # 4-bit encoder + LoRA (GPU)
    python lyrics_emotion.py mood --data-dir data                      # a mood encoder beside each trained model
    python lyrics_emotion.py score --lyrics data/lyrics/melon_songs.csv --halves
    torchrun --nproc_per_node=2 lyrics_emotion.py score --halves                  # each process scores a share

A label is the (major, sub) pair, named `<major>/<sub>` (`분노/툴툴대는`, `당황/고립된(당황)`): 60 labels
in E-code order (the codebook is built in), from which the 6 major classes follow. Dialogues are split
80/10/10 (stratified by label, seeded) before they are cut into units, so a dialogue never sits on two
sides. By default the training side also gets each human sentence alone (--no-add-sentences turns it off).
Outputs (under --out, default the repository root):
    data/processed/emotion_{train,val,test}.csv   the split exactly as used
    saved_model/emotion/                          model + tokenizer, metrics.json, README.md, trainer_log.json,
                                                  test_predictions.csv, label_similarity.csv,
                                                  head_comparison.{json,md} (--compare)
    saved_model/goemotions/                       the same for --dataset goemotions (+ thresholds.json)
    saved_model/kote/                             the same for --dataset kote (+ thresholds.json)
    results/song_emotions.csv                     score: one 60+6 column vector per song
    results/song_halves.csv                       score --halves: first/second half of each song
    saved_model/{emotion,goemotions}/mood_encoder/  mood: the base encoder tuned on the four circumplex moods
    results/song_emotions.embeddings.npz          score: `features`, `generic` (and `mood`) vectors of songs and halves
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from moodpipe.cli import (
    config_from_args,
    fraction,
    new_parser,
    non_negative_int,
    positive_float,
    positive_int,
    run_cli,
)
from moodpipe.context import RunContext, add_run_options, run_context
from moodpipe.contract import (
    ACCURACY,
    EKMAN7_TUNED,
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
)
from moodpipe.data.codebook import check_codebook_file
from moodpipe.models.emotion_finetune import DATASETS, TRAIN_DEFAULTS, EmotionTrainConfig
from moodpipe.models.heads import HEADS
from moodpipe.models.training import TrainConfig
from moodpipe.paths import CORPUS_DIR, LYRICS_FILES
from moodpipe.runtime import is_main_process
from moodpipe.stages.emotion import FULL_EMOTION, train_emotion
from moodpipe.stages.mood import KOREAN_TEXTS, MoodConfig, tune_mood_encoders
from moodpipe.stages.scoring import ScoreConfig, score_songs


def defaults(name: str) -> str:
    """A training default for --help, per dataset when they differ."""
    values = {k: getattr(t, name) for k, t in TRAIN_DEFAULTS.items()}
    if len(set(values.values())) == 1:
        return str(values["aihub"])
    return ", ".join(f"{v} ({k})" for k, v in values.items())


def add_common_options(q: argparse.ArgumentParser) -> None:
    q.add_argument("--max-length", type=positive_int, help=f"tokens per example/chunk (train default: "
                   f"{defaults('max_length')}; score default: the model's training max length)")


def add_train_options(tr: argparse.ArgumentParser) -> None:
    d = EmotionTrainConfig()
    t = d.train
    tr.add_argument("--dataset", default=d.dataset, choices=DATASETS,
                    help="aihub: Korean 60-label corpus; goemotions: English 28-label multi-label baseline; "
                    "kote: the public Korean corpus, 44 labels, multi-label (saved_model/kote/)")
    tr.add_argument("--head", choices=HEADS, help="classification head (default: arch2 for aihub, plain for "
                    "goemotions)")
    tr.add_argument("--compare", action="store_true", help="train plain, arch1 and arch2 on the same split; "
                    "keep the best on validation macro-F1 and write head_comparison.{json,md}")
    tr.add_argument("--unit", default=d.unit, choices=["dialogue", "sentence"],
                    help="one example per dialogue (human sentences joined) or per human sentence")
    tr.add_argument("--add-sentences", action=argparse.BooleanOptionalAction, default=d.add_sentences,
                    help="with --unit dialogue: also train on each human sentence alone; validation and test "
                    "stay dialogues (default: on)")
    tr.add_argument("--model", default=d.model, help="auto | hub id | local folder | bundled name (auto: "
                    "klue/bert-base, or roberta-base for goemotions, when reachable, else the bundled model)")
    tr.add_argument("--corpus", help=f"AI-Hub corpus file or folder (default: <data-dir>/{CORPUS_DIR})")
    tr.add_argument("--epochs", type=positive_float, help=f"maximum epochs (default: {defaults('epochs')})")
    tr.add_argument("--batch-size", type=positive_int, help=f"default: {defaults('batch_size')}")
    tr.add_argument("--lr", dest="learning_rate", type=positive_float,
                    help=f"the encoder's learning rate (default: {defaults('learning_rate')})")
    tr.add_argument("--head-lr", dest="head_learning_rate", type=positive_float,
                    help="learning rate of the new head (default: "
                    f"{defaults('head_learning_rate')}); a higher one than --lr lets a freshly initialised head "
                    "keep up with a gently tuned encoder")
    tr.add_argument("--warmup-ratio", type=fraction, default=t.warmup_ratio, help="share of steps for LR warm-up")
    tr.add_argument("--patience", type=non_negative_int, help=f"early-stopping patience in epochs (default: "
                    f"{defaults('patience')})")
    tr.add_argument("--max-steps", type=positive_int, default=t.max_steps, help="cap on optimizer steps (tests)")
    tr.add_argument("--codebook", help="a codebook CSV (e_code, major_label, sub_label_codebook) to check against "
                    "the built-in E10-E69 table; a mismatch is an error naming the rows")
    tr.add_argument("--class-weights", action="store_true", help="weight the loss by inverse class frequency")
    tr.add_argument("--dropout", type=fraction, default=d.dropout, help="dropout before the final linear layer")
    tr.add_argument("--feature-norm", action=argparse.BooleanOptionalAction, help="batch-normalise the pooled "
                    "vector before the classifier: near-parallel sentence vectors (multilingual-e5) then separate in "
                    "a few steps (default: on for kote, off otherwise; main.py --quick uses it)")
    tr.add_argument("--freeze-embeddings", default=d.freeze_embeddings, choices=["auto", "yes", "no", "used"],
                    help="freeze the word-embedding matrix (auto: when it holds over 3/4 of the encoder's "
                         "parameters, as in multilingual-e5-small: 96M of 118M; used: frozen, but the rows "
                         "of the tokens in the training data are tuned)")
    tr.add_argument("--similarity-credit", type=fraction, default=d.similarity_credit,
                    help="weighted-F1 credit for a wrong sub label in the right major class")
    tr.add_argument("--max-train-rows", type=positive_int, help="sample this many training dialogues/rows (quick runs)")
    tr.add_argument("--only-labels", type=lambda s: tuple(x.strip() for x in s.split(",") if x.strip()),
                    help="comma-separated <major>/<sub> labels, or one-per-major (each major class's most frequent "
                    "label): train and test on their dialogues only (quick runs; main.py --quick uses one-per-major)")
    tr.add_argument("--max-eval-rows", type=positive_int, help="keep only this many validation/test rows (quick runs)")
    tr.add_argument("--lora", action="store_true", help="train LoRA adapters (peft) instead of the whole encoder")
    tr.add_argument("--qlora", action="store_true", help="LoRA on a 4-bit encoder (bitsandbytes; CUDA only)")
    tr.add_argument("--lora-r", type=positive_int, default=d.lora_r, help=f"LoRA rank (default: {d.lora_r})")
    tr.add_argument("--lora-alpha", type=positive_int, default=d.lora_alpha,
                    help=f"LoRA alpha (default: {d.lora_alpha})")
    tr.add_argument("--lora-dropout", type=fraction, default=d.lora_dropout, help="LoRA dropout")


def add_score_options(sc: argparse.ArgumentParser) -> None:
    s = ScoreConfig()
    sc.add_argument("--lyrics", help="songs CSV with song_id and lyrics (default: <data-dir>/"
                    f"{LYRICS_FILES[0]}, else <data-dir>/{LYRICS_FILES[1]})")
    sc.add_argument("--model", dest="model_dir", default=s.model_dir, help="trained model folder "
                    "(default: <out>/saved_model/emotion)")
    sc.add_argument("--halves", action="store_true", help="also write results/song_halves.csv (first and second "
                    "half of each song's lyrics)")
    sc.add_argument("--batch-size", type=positive_int,
                    help="chunks per inference batch (default: 64 on a CPU, 256 on a GPU)")
    sc.add_argument("--max-songs", type=positive_int, help="score only the first N songs (quick runs)")
    sc.add_argument("--embeddings", action=argparse.BooleanOptionalAction, default=s.embeddings,
                    help="also save each song's `features` (the fine-tuned model's vector before its classifier), "
                    "`generic` (the untuned base encoder's mean-pooled embedding) and, when the model folder has a "
                    "mood encoder (`lyrics_emotion.py mood`), `mood` in results/song_emotions.embeddings.npz, for "
                    "recommend.py --representation features|generic|mood|hybrid; each encoder runs once more per "
                    "chunk (default: on)")
    sc.add_argument("--generic", action=argparse.BooleanOptionalAction, default=s.generic,
                    help="with --embeddings, also run the untuned encoder for `generic` vectors (a baseline; "
                    "main.py skips it; default: on)")


def add_mood_options(mo: argparse.ArgumentParser) -> None:
    m = MoodConfig()
    mo.add_argument("--texts", type=positive_int, default=m.texts,
                    help=f"comments seen while tuning, 32 per step (default: {m.texts})")
    mo.add_argument("--korean-texts", choices=KOREAN_TEXTS, default=m.korean_texts,
                    help="the comments the Korean model's mood encoder is tuned on: `both` (default) KOTE's Korean "
                    "comments, each at the mean valence/arousal of its labels, together with GoEmotions' English "
                    "ones (GoEmotions' alone, with a warning, when <data-dir>/kote/ is missing); `kote` "
                    "KOTE's alone; `goemotions` GoEmotions' alone")


def parse_args(argv: list[str] | None = None) -> tuple[RunContext, EmotionTrainConfig | ScoreConfig | MoodConfig]:
    p = new_parser(__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="fine-tune the emotion classifier", description=__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    sc = sub.add_parser("score", help="score every song's lyrics with a trained model")
    mo = sub.add_parser("mood", help="tune a mood encoder beside each trained model (for --representation mood)")
    add_run_options(tr)
    add_run_options(sc, seed=False)  # scoring samples nothing
    add_run_options(mo, out="output root of the trained models (default: .)")
    for q in (tr, sc):
        add_common_options(q)
    add_train_options(tr)
    add_score_options(sc)
    add_mood_options(mo)
    args = p.parse_args(argv)
    ctx = run_context(args)
    if args.command == "score":
        return ctx, config_from_args(ScoreConfig, args)
    if args.command == "mood":
        return ctx, config_from_args(MoodConfig, args)
    if args.codebook:
        check_codebook_file(Path(args.codebook))
    train = config_from_args(TrainConfig, args, **{f: v for f, v in asdict(TRAIN_DEFAULTS[args.dataset]).items()
                                                    if getattr(args, f, None) is None})
    dataset_default = {} if args.feature_norm is not None else {"feature_norm": FULL_EMOTION[args.dataset].feature_norm}
    return ctx, config_from_args(EmotionTrainConfig, args, train=train, **dataset_default)


def print_summary(metrics: dict) -> None:
    t = metrics["test"]
    if LABELS60 in t:
        b = metrics["baselines"][TFIDF_CHARS]
        print(f"emotion ({metrics['head']}): test accuracy 60 labels {t[LABELS60][ACCURACY]:.3f}, 6 classes "
              f"{t[MAJOR6][ACCURACY]:.3f} (TF-IDF {b[LABELS60][ACCURACY]:.3f} / "
              f"{b[MAJOR6][ACCURACY]:.3f})")
    elif LABELS_TUNED in t:
        b = metrics["baselines"][TFIDF_CHARS_OVR]["tuned"]
        print(f"kote: test macro-F1 {len(metrics['labels'])} labels {t[LABELS_TUNED][MACRO_F1]:.3f} (at 0.5: "
              f"{t[LABELS_AT_HALF][MACRO_F1]:.3f}; TF-IDF {b[MACRO_F1]:.3f}; majority "
              f"{metrics['baselines'][MAJORITY][MACRO_F1]:.3f})")
    else:
        print(f"goemotions: test macro-F1 28 labels {t[LABELS28_TUNED][MACRO_F1]:.3f} (at 0.5: "
              f"{t[LABELS28_AT_HALF][MACRO_F1]:.3f}), Ekman {t[EKMAN7_TUNED][MACRO_F1]:.3f}")


def main(argv: list[str] | None = None):
    ctx, cfg = parse_args(argv)
    with ctx.hold():  # one run per output root
        return run_task(ctx, cfg)


def run_task(ctx: RunContext, cfg):
    if isinstance(cfg, ScoreConfig):
        return score_songs(ctx, cfg)  # lyrics -> chunks -> probabilities -> one vector per song (and half)
    if isinstance(cfg, MoodConfig):
        return tune_mood_encoders(ctx, cfg)  # GoEmotions quadrants -> a tuned copy of each model's base encoder
    metrics = train_emotion(ctx, cfg)  # corpus -> split -> baselines -> heads -> test metrics -> saved model
    if is_main_process():
        print_summary(metrics)
    return metrics


if __name__ == "__main__":
    run_cli(main)
