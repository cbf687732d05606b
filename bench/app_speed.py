"""How fast the local app answers a free text on a full-size catalogue, against the naive ways.

    python bench/app_speed.py --out /tmp/quick          # the quick run's saved emotion model
    python bench/app_speed.py --model-dir saved_model/emotion --songs 8250 --queries 20

The catalogue is synthetic unless --vectors is given: 8,250 songs (the real catalogue's size) with Dirichlet
emotion probabilities over the model's labels and random `features` of the model's width, in the default
representation (features). Measured, all on this machine in one run:

- cold start: a fresh process that imports, loads the vectors and the model, and answers one text (the app's
  start, `recommend.py --serve`, does the same before it listens);
- warm: the running app (make_server on a free port) answering texts over HTTP, median and worst;
- naive, in process: the same call with every cache cleared first (vectors and model reloaded per query);
- naive, one command per query: `python recommend.py --text ...` in a fresh process, as without the app;
- 50 clients at once, mixed (page, info, search, an emotion, a song, three texts, each asked by several at
  once, as a shared link is): errors and p95 on the app's server (backlog 128, timeouts, identical queries
  answered once) beside the same app on http.server's naive settings (backlog 5, no timeouts);
- with --explorer: the explorer page built from OUT's artifacts, its size, and the time headless Chromium takes
  to make it interactive (search, neighbours and filters answering), median of 5 loads.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import OrderedDict
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TEXTS = ["비 오는 날 헤어진 연인이 그리워", "오늘은 정말 행복하고 신나는 하루였어", "I feel lonely tonight",
         "친구가 약속을 어겨서 너무 화가 나", "시험에 떨어질까 봐 불안해", "고마운 사람들 덕분에 힘이 나",
         "아무도 나를 이해하지 못하는 것 같아", "So grateful for this sunny morning"]


def synthetic_catalogue(folder: Path, model_dir: Path, n: int, seed: int = 0) -> Path:
    """results/song_emotions.csv (+ .embeddings.npz, representation.json) of n songs over the model's labels."""
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
    from moodpipe.models.emotion_predictor import load_emotion_predictor
    width = load_emotion_predictor(str(model_dir)).model.classifier.in_features
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(len(labels), 0.3), size=n)
    df = pd.DataFrame({"song_id": np.arange(1, n + 1).astype(str), "song_name": [f"song {i}" for i in range(n)],
                       "artist": [f"artist {i % 997}" for i in range(n)], "year": 2000 + np.arange(n) % 24})
    df = pd.concat([df, pd.DataFrame(probs, columns=[f"emo:{c}" for c in labels])], axis=1)
    path = folder / "results" / "song_emotions.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
    np.savez(path.with_suffix(".embeddings.npz"), song_id=df.song_id.to_numpy(dtype=str),
             features=rng.normal(size=(n, width)).astype(np.float32))
    (path.parent / "representation.json").write_text(json.dumps({"representation": "features"}))
    return path


def cold_start(vectors: Path, model_dir: Path) -> float:
    """Seconds for a fresh process to import, load everything and answer one text (App.warm_up)."""
    code = ("import time; t = time.perf_counter(); from pathlib import Path; from moodpipe.report.app import App; "
            "from moodpipe.context import RunContext; "
            f"App(RunContext(Path({str(vectors.parents[1])!r})), vectors={str(vectors)!r}, "
            f"model_dir={str(model_dir)!r}).warm_up(); print(time.perf_counter() - t)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])
    if done.returncode:
        raise SystemExit(f"error: the cold-start process failed:\n{done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def warm_queries(app, texts: list[str]) -> list[float]:
    """Seconds per text asked of the running app over HTTP."""
    from moodpipe.report.app_server import make_server
    server = make_server(app, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/api/recommend?"
    times = []
    try:
        for text in texts:
            app.answers.clear()  # a new question each time: the answer cache plays no part
            start = time.perf_counter()
            with urllib.request.urlopen(base + urlencode({"text": text}), timeout=120) as response:
                assert len(json.loads(response.read())["rows"]) == 10
            times.append(time.perf_counter() - start)
    finally:
        server.shutdown()
        server.server_close()
    return times


def mixed_urls(base: str, texts: list[str], emotion: str, n: int = 50) -> list[str]:
    """n requests cycling through the page, info, a search, an emotion, a song and three texts."""
    kinds = ["/", "/api/info", f"/api/search?{urlencode({'q': 'song 1'})}",
             f"/api/recommend?{urlencode({'emotion': emotion})}", "/api/recommend?song_id=7",
             *[f"/api/recommend?{urlencode({'text': t})}" for t in texts[:3]]]
    return [base + kinds[i % len(kinds)] for i in range(n)]


def concurrent_mixed(app, texts: list[str], backlog: int | None = None) -> tuple[int, float, float]:
    """(errors, p95 seconds, worst) of 50 mixed requests sent at once; backlog: the naive server's listen queue."""
    from concurrent.futures import ThreadPoolExecutor

    from moodpipe.report.app_server import make_server
    app.answers.clear()  # every query computed afresh in each run
    server = make_server(app, port=0)
    if backlog is not None:  # the server before: http.server's settings, every query computed on its own
        from moodpipe.recommend.queries import recommend
        app = dataclasses.replace(app, answers=OrderedDict())
        app.recommended = lambda cfg: recommend_alone(app, cfg, recommend)
        handler, address = type(server.RequestHandlerClass.__name__, (server.RequestHandlerClass,), {"app": app}), \
            server.server_address
        server.server_close()
        naive = type("NaiveHandler", (handler,), {"timeout": None})
        server = type("Naive", (ThreadingHTTPServer,), {"request_queue_size": backlog, "daemon_threads": True})(
            address, naive)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    urls = mixed_urls(base, texts, (app.info()["majors"] or app.info()["emotions"])[0])

    def timed(url: str) -> float | None:
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(url, timeout=120) as response:
                response.read()
        except OSError:  # refused, reset or timed out: an error
            return None
        return time.perf_counter() - start

    try:
        with ThreadPoolExecutor(len(urls)) as pool:
            times = list(pool.map(timed, urls))
    finally:
        server.shutdown()
        server.server_close()
    ok = sorted(t for t in times if t is not None)
    return len(times) - len(ok), ok[int(0.95 * (len(ok) - 1))] if ok else float("nan"), max(ok, default=float("nan"))


def recommend_alone(app, cfg, recommend) -> dict:
    with app.lock:
        return recommend(app.ctx, cfg)


def naive_in_process(app, texts: list[str]) -> list[float]:
    """Seconds per text when every cache is cleared first: the vectors and the model reloaded each time."""
    from moodpipe.models import emotion_predictor
    from moodpipe.recommend import catalogue
    times = []
    for text in texts:
        catalogue._read_catalogue.cache_clear()
        emotion_predictor._load_predictor.cache_clear()
        app.answers.clear()
        start = time.perf_counter()
        app.answer({"text": [text]})
        times.append(time.perf_counter() - start)
    return times


def naive_command(vectors: Path, model_dir: Path, texts: list[str]) -> list[float]:
    """Seconds per text as one `python recommend.py --text` process each."""
    times = []
    for text in texts:
        start = time.perf_counter()
        subprocess.run([sys.executable, "recommend.py", "--text", text, "--vectors", str(vectors), "--model-dir",
                        str(model_dir), "--device", "cpu"], capture_output=True, check=True,
                       cwd=Path(__file__).resolve().parents[1])
        times.append(time.perf_counter() - start)
    return times


def explorer_load(out: Path, loads: int = 5) -> tuple[int, int, float]:
    """(page bytes, Plotly file bytes, median ms until the page is interactive) of OUT's explorer page."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    from moodpipe.report.explorer import PLOTLY_FILE, write_explorer
    with tempfile.TemporaryDirectory() as tmp:
        page = write_explorer(out, path=Path(tmp) / "explorer.html")
        options = Options()
        options.binary_location = "/usr/bin/chromium"
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp}/profile"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        times = []
        try:
            for _ in range(loads):
                driver.get(page.as_uri())
                times.append(WebDriverWait(driver, 60).until(lambda d: d.execute_script(
                    "return window.explorerReady")))
        finally:
            driver.quit()
        return page.stat().st_size, (page.parent / PLOTLY_FILE).stat().st_size, statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=".", help="output root whose saved_model/emotion is used (default: .)")
    p.add_argument("--model-dir", help="a saved emotion model (default: OUT/saved_model/emotion)")
    p.add_argument("--vectors", help="a real song-vector CSV instead of the synthetic catalogue")
    p.add_argument("--songs", type=int, default=8250, help="synthetic catalogue size (default: 8,250)")
    p.add_argument("--queries", type=int, default=16, help="warm queries (default: 16)")
    p.add_argument("--naive", type=int, default=3, help="naive queries of each kind (default: 3)")
    p.add_argument("--explorer", action="store_true", help="only measure the explorer page built from OUT")
    args = p.parse_args()
    if args.explorer:
        size, plotly, ready = explorer_load(Path(args.out))
        print(f"explorer page: {size / 1e3:.0f} KB (Plotly beside it, loaded after: {plotly / 1e6:.1f} MB); "
              f"interactive after {ready / 1e3:.2f} s (median of 5 loads in headless Chromium)")
        return
    from moodpipe.context import RunContext
    from moodpipe.report.app import App
    model_dir = Path(args.model_dir or Path(args.out) / "saved_model" / "emotion")
    if not (model_dir / "config.json").is_file():
        raise SystemExit(f"error: no saved emotion model in {model_dir}: run `python main.py --quick --out DIR` "
                         "and pass --out DIR (or --model-dir)")
    with tempfile.TemporaryDirectory() as tmp:
        vectors = Path(args.vectors) if args.vectors else synthetic_catalogue(Path(tmp), model_dir, args.songs)
        n = len(pd.read_csv(vectors, usecols=[0]))
        print(f"{n:,} songs ({'real: ' + str(vectors) if args.vectors else 'synthetic'}), model {model_dir}")
        cold = cold_start(vectors, model_dir)
        app = App(RunContext(vectors.parents[1]), vectors=str(vectors), model_dir=str(model_dir))
        app.warm_up()
        texts = (TEXTS * (args.queries // len(TEXTS) + 1))[:args.queries]
        warm = warm_queries(app, texts)
        crowd = concurrent_mixed(app, texts)
        crowd_naive = concurrent_mixed(app, texts, backlog=5)
        reload = naive_in_process(app, texts[:args.naive])
        command = naive_command(vectors, model_dir, texts[:args.naive])
    median = statistics.median(warm)
    print(f"cold start (fresh process: imports, vectors, model, first answer): {cold:.2f} s")
    print(f"warm text query over HTTP: median {median:.3f} s, worst {max(warm):.3f} s ({len(warm)} queries)")
    print(f"naive, caches cleared per query: median {statistics.median(reload):.2f} s "
          f"-> the warm app is {statistics.median(reload) / median:.1f}x faster")
    print(f"naive, `recommend.py --text` per query: median {statistics.median(command):.2f} s "
          f"-> the warm app is {statistics.median(command) / median:.1f}x faster")
    for name, (errors, p95, worst) in (("the app's server (backlog 128, timeouts)", crowd),
                                       ("before: backlog 5, no timeouts, each query computed", crowd_naive)):
        print(f"50 mixed requests at once, {name}: {errors} errors, p95 {p95:.2f} s, worst {worst:.2f} s")
    print(f"target: warm <= 1 s: {'met' if median <= 1 else 'NOT met'}; 50 at once: no error and p95 < 2 s: "
          f"{'met' if crowd[0] == 0 and crowd[1] < 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
