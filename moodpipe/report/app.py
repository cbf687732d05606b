"""The local app (`python recommend.py --serve`): a page and a JSON API over the same `recommend` call the CLI
makes, with the song vectors and the saved emotion predictor loaded once and kept warm. This module answers
queries; moodpipe.report.app_server serves them over HTTP.

    GET /                      the app page (moodpipe/report/app_template.html)
    GET /explorer              results/explorer.html, when it has been built
    GET /api/info              the catalogue: size, representations, emotion names, quick run or not
    GET /api/search?q=         up to 10 songs whose title or artist contains q (case, spaces, punctuation aside)
    GET /api/recommend?...     one query: text= | emotion= (repeatable) | song_id= | song=, with representation=,
                               exclude_same_artist=1, year_from=, year_to=, top=, toward= (repeatable), steps=
    GET /api/playlist.csv?...  the same query's songs as a playlist file (also playlist.m3u8, UTF-8 M3U)
    POST /api/recommend        the same, the query form-encoded or as JSON in the body (for long texts)

Every failure is JSON {"error": one line} with 400 (bad query), 404 (no such page or song) or 503 (no song
vectors or no saved model yet); a bad value gets the words recommend.py's option would print, without the
server's paths; the server keeps serving. Ranking is never redone here: rows, scores and
"shared emotions" are recommend()'s, so they equal `recommend.py`'s for the same query.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

from moodpipe.cli import positive_int, year, year_order_problem
from moodpipe.context import RunContext
from moodpipe.contract import TOP_K
from moodpipe.files import InputError, read_json
from moodpipe.paths import Layout
from moodpipe.recommend.catalogue import load_catalogue, major_of, normalize_title, readable
from moodpipe.recommend.queries import RecommendConfig, recommend
from moodpipe.recommend.representations import REPRESENTATIONS, available, hybrid_for, representation_for
from moodpipe.report.emotion_names import glossed
from moodpipe.report.recommendations import EXPLANATIONS, column_titles, score_column

log = logging.getLogger("pipeline")

MAX_TEXT = 2000  # characters: a few paragraphs; longer texts are refused rather than scored for a minute
MAX_TOP, MAX_STEPS = 100, 20  # a page of songs; a path a person reads (the command line has no limit)
STEPS = 5  # recommend.py --steps's default
CACHED_ANSWERS = 256  # recent results kept (a few MB)
YES, NO = ("1", "true", "on", "yes"), ("", "0", "false", "off", "no")
QUERY_KEYS = ("text", "emotion", "song_id", "song")  # exactly one per query


class AppError(Exception):
    """A query the app cannot answer: its HTTP status and one line for the person who asked."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class App:
    """The song vectors and the saved emotion model of one output root, loaded once; answers queries on the
    command's RunContext (its output root, and its device for text queries)."""
    ctx: RunContext
    vectors: str | None = None
    model_dir: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # one query at a time: torch, BLAS
    answers: OrderedDict = field(default_factory=OrderedDict, repr=False)  # recent results, by query and files

    @property
    def out(self) -> Path:
        return self.ctx.out

    @property
    def vectors_path(self) -> Path:
        return Path(self.vectors) if self.vectors else Layout(Path(self.out)).song_vectors

    @property
    def model_path(self) -> Path:
        return Path(self.model_dir) if self.model_dir else Layout(Path(self.out)).korean_model

    def catalogue(self) -> tuple:
        if not self.vectors_path.is_file():
            raise AppError(503, f"no song vectors at {self.vectors_path}: run `python main.py` (or "
                           "`python lyrics_emotion.py score`) first, or start the app with --vectors FILE")
        try:
            return load_catalogue(self.vectors_path)  # cached: read once while the files are unchanged
        except InputError as e:
            raise AppError(503, str(e)) from None

    def warm_up(self) -> None:
        """Load the vectors and the emotion model now, so the first person to ask does not wait for them."""
        self.catalogue()
        if (self.model_path / "config.json").is_file():
            self.answer({"text": ["warm up"]})
        else:
            log.warning("app: no saved emotion model in %s: text queries will say so", self.model_path)

    def info(self) -> dict:
        meta, probs, columns, catalogue = self.catalogue()
        run = Layout(Path(self.out)).run_json
        majors = list(dict.fromkeys(m for m in map(major_of, columns) if m))
        return {"n_songs": len(meta), "representations": {r: REPRESENTATIONS[r] for r in
                                                          available(catalogue, hybrid_for(self.vectors_path))},
                "default_representation": representation_for(None, self.vectors_path, catalogue),
                "majors": majors, "emotions": [readable(c) for c in columns],
                "text_model": (self.model_path / "config.json").is_file(),
                "quick": bool(run.is_file() and read_json(run).get("quick")),
                "explorer": Layout(Path(self.out)).explorer.is_file(), "explanations": EXPLANATIONS,
                "glosses": {name: glossed(name) for name in [*majors, *map(readable, columns)]}}

    def search(self, q: str, limit: int = 10) -> list[dict]:
        meta = self.catalogue()[0]
        key = normalize_title(q)
        if not key:
            return []
        titles, artists = meta.song.map(normalize_title), meta.artist.map(normalize_title)
        rank = np.where(titles == key, 0, np.where(titles.str.startswith(key), 1,
                        np.where(titles.str.contains(key, regex=False), 2,
                                 np.where(artists.str.contains(key, regex=False), 3, 9))))
        rows = [i for i in np.lexsort((titles.str.len(), rank)) if rank[i] < 9][:limit]
        return [song_dict(meta, i) for i in rows]

    def config(self, params: dict[str, list[str]]) -> RecommendConfig:
        """The RecommendConfig of a query string, checked; AppError(400) names what is wrong."""
        given = [k for k in QUERY_KEYS if any(v.strip() for v in params.get(k, []))]
        if "text" in params and not any(v.strip() for v in params["text"]):
            raise AppError(400, "the text is empty: type a sentence about how you feel")
        if len(given) != 1:
            raise AppError(400, "ask one thing: text=, emotion=, song_id= or song= (got "
                           f"{', '.join(given) or 'none'})")
        text = one(params, "text")
        if text is not None and len(text) > MAX_TEXT:
            raise AppError(400, f"the text has {len(text):,} characters; the app reads at most {MAX_TEXT:,}")
        toward = [v.strip() for v in params.get("toward", []) if v.strip()]
        if toward and given[0] == "emotion":
            raise AppError(400, "a mood path starts from a text or a song, not from emotions")
        space = one(params, "representation")
        if space and space not in REPRESENTATIONS:
            raise AppError(400, f"argument --representation: invalid choice: {space!r} (choose from "
                           f"{', '.join(map(repr, REPRESENTATIONS))})")
        year_from, year_to = option(params, "year_from", year), option(params, "year_to", year)
        if year_order_problem(year_from, year_to):
            raise AppError(400, year_order_problem(year_from, year_to))
        return RecommendConfig(
            vectors=str(self.vectors_path), model_dir=str(self.model_path),
            text=text.strip() if text else None, song_id=one(params, "song_id"), song=one(params, "song"),
            emotions=[v.strip() for v in params.get("emotion", []) if v.strip()], toward=toward,
            representation=space or None, exclude_same_artist=flag(params, "exclude_same_artist"),
            year_from=year_from, year_to=year_to, top=at_most(option(params, "top", positive_int, TOP_K), MAX_TOP,
                                                              "top", "songs"),
            steps=(at_most(option(params, "steps", positive_int, STEPS), MAX_STEPS, "steps", "steps") if toward
                   else STEPS))

    def recommended(self, cfg: RecommendConfig) -> dict:
        """recommend()'s result, computed once per query while the files are unchanged: the same query asked by
        many at once (a shared link, the page and then its playlist) waits for one answer instead of queueing."""
        files = [p for p in (self.vectors_path, self.model_path / "config.json") if p.is_file()]
        key = (repr(cfg), tuple(p.stat().st_mtime_ns for p in files))
        with self.lock:
            if key not in self.answers:
                self.answers[key] = recommend(self.ctx, cfg)
                while len(self.answers) > CACHED_ANSWERS:
                    self.answers.popitem(last=False)
            self.answers.move_to_end(key)
            return self.answers[key]

    def public(self, message: str) -> str:
        """A message without the server's own paths: the output root and the files under it read relative."""
        for path in (self.vectors_path, self.model_path):
            if not path.resolve().is_relative_to(Path(self.out).resolve()):
                message = message.replace(str(path), path.name)
        for root in sorted({str(Path(self.out)), str(Path(self.out).resolve())}, key=len, reverse=True):
            if root not in (".", "/"):
                message = message.replace(root + "/", "").replace(root, ".")
        return message

    def answer(self, params: dict[str, list[str]]) -> dict:
        """recommend()'s result for a query string (and the result itself, for playlists)."""
        cfg = self.config(params)
        _, probs, columns, _ = self.catalogue()
        if cfg.text is not None and not (self.model_path / "config.json").is_file():
            raise AppError(503, f"no saved emotion model in {self.model_path}, so text cannot be scored: train it "
                           "with `python lyrics_emotion.py train` (or `python main.py`); emotions and songs work")
        try:
            result = self.recommended(cfg)
        except InputError as e:
            raise AppError(404 if str(e).startswith(("no song with song_id", "no song titled")) else 400,
                           str(e)) from None
        return {**view(result, probs, columns), "command": command(cfg, self.out),
                "link": "/?" + urlencode(params, True), "_result": result}


def one(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[-1] if values else None


def option(params: dict[str, list[str]], name: str, parse: Callable[[str], int], default: int | None = None):
    """A number checked by the type recommend.py gives its option, refused in argparse's words."""
    value = (one(params, name) or "").strip()
    if not value:
        return default
    try:
        return parse(value)
    except argparse.ArgumentTypeError as e:
        raise AppError(400, f"argument --{name.replace('_', '-')}: {e}") from None


def at_most(value: int, limit: int, name: str, what: str) -> int:
    if value > limit:
        raise AppError(400, f"argument --{name}: the app lists at most {limit} {what}, got {value}; the command "
                       "line lists more")
    return value


def flag(params: dict[str, list[str]], name: str) -> bool:
    value = (one(params, name) or "").strip().lower()
    if value not in YES + NO:
        raise AppError(400, f"{name} is 1 or 0 (true or false), not {value!r}")
    return value in YES


def song_dict(meta, i: int) -> dict:
    year = meta.year.iloc[i]
    return {"song_id": meta.song_id.iloc[i], "song": meta.song.iloc[i], "artist": meta.artist.iloc[i],
            "year": None if np.isnan(year) else int(year)}


def view(result: dict, probs: np.ndarray, columns: list[str]) -> dict:
    """What the page shows of a result: rows with their score, the column titles and the explanation, and a
    text's emotion profile against the catalogue average."""
    score = score_column(result)
    rows = [{"rank": int(r["rank"]), "song_id": r["song_id"], "song": r["song"], "artist": r["artist"],
             "year": None if r["year"] is None or r["year"] != r["year"] else int(r["year"]),
             "score": float(r[score]), "why": r["shared_emotions"]}
            for r in result["table"].astype(object).where(result["table"].notna(), None).to_dict("records")]
    return {"kind": result["score"], "queries": result["queries"], "representation": result["representation"],
            "note": result["note"], "rows": rows, "columns": column_titles(result),
            "explanation": EXPLANATIONS[result["score"]],
            "profile": profile(result["query_probs"], probs, columns) if result["query_probs"] else None}


def profile(text_probs: list[float], probs: np.ndarray, columns: list[str], top: int = 8) -> dict:
    """A text's share of each major class and its strongest sub-emotions, each beside the catalogue average."""
    p, mean = np.asarray(text_probs), probs.mean(axis=0)
    majors = list(dict.fromkeys(m for m in map(major_of, columns) if m))
    groups = [[j for j, c in enumerate(columns) if major_of(c) == m] for m in majors]
    strongest = np.argsort(-p, kind="stable")[:top]
    share = lambda x, g: float(x[g].sum() / max(x.sum(), 1e-12))  # noqa: E731  (multi-label rows sum past 1)
    return {"majors": [[m, share(p, g), share(mean, g)] for m, g in zip(majors, groups, strict=True)],
            "subs": [[readable(columns[j]), float(p[j]), float(mean[j])] for j in strongest]}


def command(cfg: RecommendConfig, out: Path = Path(".")) -> str:
    """The recommend.py command that gives the same answer."""
    args = ["python", "recommend.py"]
    for name, flag in (("text", "--text"), ("song_id", "--song-id"), ("song", "--song")):
        if getattr(cfg, name) is not None:
            args += [flag, getattr(cfg, name)]
    args += [x for e in cfg.emotions for x in ("--emotion", e)] + [x for e in cfg.toward for x in ("--toward", e)]
    defaults = {f.name: f.default for f in fields(RecommendConfig)}
    for name in ("representation", "year_from", "year_to", "top"):
        if getattr(cfg, name) not in (None, defaults[name]):
            args += [f"--{name.replace('_', '-')}", str(getattr(cfg, name))]
    if cfg.toward and cfg.steps != defaults["steps"]:
        args += ["--steps", str(cfg.steps)]
    if cfg.exclude_same_artist:
        args.append("--exclude-same-artist")
    if out != Path("."):
        args += ["--out", str(out)]
    return shlex.join(args)
