"""The local app (`python recommend.py --serve`): a page and a JSON API over the same `recommend` call the CLI
makes, with the song vectors and the saved emotion predictor loaded once and kept warm.

    GET /                      the app page (moodpipe/report/app_template.html)
    GET /explorer              results/explorer.html, when it has been built
    GET /api/info              the catalogue: size, representations, emotion names, quick run or not
    GET /api/search?q=         up to 10 songs whose title or artist contains q (case, spaces, punctuation aside)
    GET /api/recommend?...     one query: text= | emotion= (repeatable) | song_id= | song=, with representation=,
                               exclude_same_artist=1, year_from=, year_to=, top=, toward= (repeatable), steps=
    GET /api/playlist.csv?...  the same query's songs as a playlist file (also playlist.m3u)
    POST /api/recommend        the same, the query form-encoded or as JSON in the body (for long texts)

Every failure is JSON {"error": one line} with 400 (bad query), 404 (no such page or song) or 503 (no song
vectors or no saved model yet); the server keeps serving. Ranking is never redone here: rows, scores and
"shared emotions" are recommend()'s, so they equal `recommend.py`'s for the same query.
"""

from __future__ import annotations

import json
import logging
import shlex
import threading
from dataclasses import dataclass, field, fields
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import numpy as np

from moodpipe.files import InputError, read_json
from moodpipe.paths import Layout
from moodpipe.recommend.catalogue import load_catalogue, major_of, normalize_title, readable
from moodpipe.recommend.queries import RecommendConfig, recommend
from moodpipe.recommend.representations import REPRESENTATIONS, available, hybrid_for, representation_for
from moodpipe.report.recommendations import EXPLANATIONS, column_titles, playlist_csv, playlist_m3u, score_column

log = logging.getLogger("pipeline")

PAGE = Path(__file__).with_name("app_template.html")
MAX_TEXT = 2000  # characters: a few paragraphs; longer texts are refused rather than scored for a minute
MAX_TOP, MAX_STEPS = 100, 20
MAX_BODY = 1 << 20  # bytes of a POSTed query
QUERY_KEYS = ("text", "emotion", "song_id", "song")  # exactly one per query


class AppError(Exception):
    """A query the app cannot answer: its HTTP status and one line for the person who asked."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class App:
    """The song vectors and the saved emotion model of one output root, loaded once; answers queries."""
    out: Path
    vectors: str | None = None
    model_dir: str | None = None
    device: str = "auto"
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # one query at a time: torch, BLAS

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
                "explorer": Layout(Path(self.out)).explorer.is_file(), "explanations": EXPLANATIONS}

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
            raise AppError(400, f"unknown representation {space!r}; choose from {', '.join(REPRESENTATIONS)}")
        return RecommendConfig(
            out=str(self.out), vectors=str(self.vectors_path), model_dir=str(self.model_path), device=self.device,
            text=text.strip() if text else None, song_id=one(params, "song_id"), song=one(params, "song"),
            emotions=[v.strip() for v in params.get("emotion", []) if v.strip()], toward=toward,
            representation=space or None,
            exclude_same_artist=one(params, "exclude_same_artist") in ("1", "true", "on"),
            year_from=integer(params, "year_from"), year_to=integer(params, "year_to"),
            top=min(integer(params, "top") or 10, MAX_TOP), steps=min(integer(params, "steps") or 5, MAX_STEPS))

    def answer(self, params: dict[str, list[str]]) -> dict:
        """recommend()'s result for a query string (and the result itself, for playlists)."""
        cfg = self.config(params)
        _, probs, columns, _ = self.catalogue()
        if cfg.text is not None and not (self.model_path / "config.json").is_file():
            raise AppError(503, f"no saved emotion model in {self.model_path}, so text cannot be scored: train it "
                           "with `python lyrics_emotion.py train` (or `python main.py`); emotions and songs work")
        try:
            with self.lock:
                result = recommend(cfg)
        except InputError as e:
            raise AppError(404 if str(e).startswith(("no song with song_id", "no song titled")) else 400,
                           str(e)) from None
        return {**view(result, probs, columns), "command": command(cfg), "link": "/?" + urlencode(params, True),
                "_result": result}


def one(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[-1] if values else None


def integer(params: dict[str, list[str]], name: str) -> int | None:
    value = (one(params, name) or "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise AppError(400, f"{name} must be a whole number, not {value!r}") from None


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


def command(cfg: RecommendConfig) -> str:
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
    if cfg.out != ".":
        args += ["--out", cfg.out]
    return shlex.join(args)


# ----------------------------------------------------------------------------- HTTP

class Handler(BaseHTTPRequestHandler):
    app: App  # set on the subclass make_server builds
    server_version = "moodpipe-app"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        url = urlsplit(self.path)
        self.answer_safely(lambda: self.route(url.path, parse_qs(url.query, keep_blank_values=True)))

    def do_POST(self) -> None:  # noqa: N802
        self.answer_safely(lambda: self.route(urlsplit(self.path).path, self.posted()))

    def posted(self) -> dict[str, list[str]]:
        """A POSTed query: JSON ({"text": "...", "emotion": ["슬픔"]}) or a form, as parse_qs would give it."""
        size = int(self.headers.get("Content-Length") or 0)
        if size > MAX_BODY:
            raise AppError(413, f"the query is {size:,} bytes; the app reads at most {MAX_BODY:,}")
        body = self.rfile.read(size).decode("utf-8", errors="replace")
        if not (self.headers.get("Content-Type") or "").startswith("application/json"):
            return parse_qs(body, keep_blank_values=True)
        try:
            given = json.loads(body or "{}")
        except json.JSONDecodeError as e:
            raise AppError(400, f"the body is not JSON: {e.msg} at character {e.pos}") from None
        if not isinstance(given, dict):
            raise AppError(400, "the body must be a JSON object of query fields")
        return {k: [str(x) for x in v] if isinstance(v, list) else [str(v)] for k, v in given.items()}

    def answer_safely(self, answer) -> None:
        try:
            answer()
        except AppError as e:
            self.send_json({"error": str(e)}, e.status)
        except Exception as e:  # a bug must not end the server nor show a stack trace to the person asking
            log.exception("app: %s failed", self.path)
            self.send_json({"error": f"internal error ({type(e).__name__}); the server log has the details"}, 500)

    def route(self, path: str, params: dict[str, list[str]]) -> None:
        if path in ("/", "/index.html"):
            self.send(PAGE.read_bytes(), "text/html; charset=utf-8")
        elif path == "/explorer":
            page = Layout(Path(self.app.out)).explorer
            if not page.is_file():
                raise AppError(404, f"no explorer page at {page}: build it with `python generate_graphs.py`")
            self.send(page.read_bytes(), "text/html; charset=utf-8")
        elif path == "/api/info":
            self.send_json(self.app.info())
        elif path == "/api/search":
            self.send_json({"songs": self.app.search(one(params, "q") or "")})
        elif path == "/api/recommend":
            answer = self.app.answer(params)
            answer.pop("_result")
            self.send_json(answer)
        elif path in ("/api/playlist.csv", "/api/playlist.m3u"):
            result = self.app.answer(params)["_result"]
            csv = path.endswith(".csv")
            body = playlist_csv(result) if csv else playlist_m3u(result)
            self.send(body.encode("utf-8"), "text/csv; charset=utf-8" if csv else "audio/x-mpegurl; charset=utf-8",
                      {"Content-Disposition": f"attachment; filename=playlist.{'csv' if csv else 'm3u'}"})
        else:
            raise AppError(404, f"no page {path}; try / or /api/recommend?text=...")

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a request line over 64 KB, a bad request) as JSON too."""
        hint = "; POST long texts to /api/recommend" if code == 414 else ""
        self.close_connection = True
        self.send_json({"error": f"{message or HTTPStatus(code).phrase}{hint}"}, code)

    def send_json(self, obj: dict, status: int = 200) -> None:
        self.send(json.dumps(obj, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8",
                  status=status)

    def send(self, body: bytes, content_type: str, headers: dict | None = None, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's signature)
        log.info("app: %s", format % args)


def make_server(app: App, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A server for the app (port 0: any free port; server.server_address says which)."""
    handler = type("AppHandler", (Handler,), {"app": app})
    return ThreadingHTTPServer((host, port), handler)


def serve(app: App, host: str = "127.0.0.1", port: int = 8000) -> dict:
    """recommend.py --serve: load once, then answer until Ctrl-C."""
    try:
        app.warm_up()
    except AppError as e:  # start anyway: the page says what is missing, and the files may appear
        log.warning("app: %s", e)
    try:
        server = make_server(app, host, port)
    except OSError as e:
        raise InputError(f"cannot listen on {host}:{port}: {e.strerror}; pass another --port") from None
    url = f"http://{host}:{server.server_address[1]}/"
    print(f"moodpipe app: {url} (Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return {"url": url, "status": HTTPStatus.OK}
