"""Would blending the fine-tuned emotion model with the TF-IDF baseline help? An accuracy experiment.

    python bench/emotion_blend.py --out /tmp/runs/cmp2      # the output root of a `lyrics_emotion.py train` run

Reads the split that run used (<out>/data/processed/emotion_{train,val,test}.csv) and its saved model
(<out>/saved_model/emotion), refits the TF-IDF char 1-4-gram + logistic-regression baseline on the
same training dialogues, and mixes the two probability vectors: p = w * model + (1 - w) * tfidf.
w is chosen on validation accuracy (60 labels); the test set is read once, for the chosen w, and
printed next to both parts alone. The 6-class figures sum each side's 60 probabilities per major class.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moodpipe.device import precision_for  # noqa: E402
from moodpipe.metrics import fit_tfidf, major_classes, major_probabilities  # noqa: E402
from moodpipe.predict import predict_logits, softmax  # noqa: E402
from moodpipe.scoring import load_emotion_model  # noqa: E402


def tfidf_probabilities(train: pd.DataFrame, parts: list[pd.DataFrame], n_labels: int) -> list[np.ndarray]:
    """The baseline of moodpipe.metrics.emotion_baselines, as probabilities over all n_labels."""
    model = fit_tfidf(train.text, train.label_id, analyzer="char")
    out = []
    for part in parts:
        probs = np.zeros((len(part), n_labels))
        probs[:, model.classes_] = model.predict_proba(part.text.tolist())  # a label unseen in train stays 0
        out.append(probs)
    return out


def accuracies(probs: np.ndarray, y: np.ndarray, major_of: np.ndarray) -> tuple[float, float]:
    major_pred = major_probabilities(probs, major_of).argmax(1)
    return float((probs.argmax(1) == y).mean()), float((major_pred == major_of[y]).mean())


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output root of the training run to read")
    a = p.parse_args(argv)
    root = Path(a.out)
    parts = {k: pd.read_csv(root / "data" / "processed" / f"emotion_{k}.csv") for k in ("train", "val", "test")}
    model, tokenizer = load_emotion_model(str(root / "saved_model" / "emotion"))
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    _, major_of = major_classes(names)
    tfidf = dict(zip(("val", "test"), tfidf_probabilities(parts["train"], [parts["val"], parts["test"]], len(names)),
                     strict=True))
    neural = {k: softmax(predict_logits(model, tokenizer, parts[k].text.tolist(), precision=precision_for("cpu"),
                                        max_length=model.config.train_max_length)) for k in ("val", "test")}
    y = {k: parts[k].label_id.to_numpy() for k in ("val", "test")}

    weights = np.round(np.arange(0, 1.0001, 0.1), 1)
    val = [accuracies(w * neural["val"] + (1 - w) * tfidf["val"], y["val"], major_of)[0] for w in weights]
    best = float(weights[int(np.argmax(val))])
    rows = {"tfidf alone": 0.0, f"blend, w={best} (best on validation)": best,
            f"model alone ({model.config.head})": 1.0}
    print(f"| test (n={len(y['test'])}) | acc (60) | acc (6) |\n|---|---|---|")
    result = {}
    for name, w in rows.items():
        acc60, acc6 = accuracies(w * neural["test"] + (1 - w) * tfidf["test"], y["test"], major_of)
        result[name] = {"w": w, "acc60": acc60, "acc6": acc6}
        print(f"| {name} | {acc60:.3f} | {acc6:.3f} |")
    print("validation acc (60) by w: " + ", ".join(f"{w}: {v:.3f}" for w, v in zip(weights, val, strict=True)))
    return result


if __name__ == "__main__":
    main()
