"""How fast and how lean recommend.py's top-k is at scale, against the naive way.

    python bench/recommend_scale.py                              # (a) and (b), about a minute on 2 cores
    python bench/recommend_scale.py --data-dir ../shared/data    # (a) with the real song count and label names
    python bench/recommend_scale.py --items 200000               # a shorter (b)

(a) all-vs-all top-10 over the catalogue (8,250 synthetic Dirichlet 60-d vectors, or as many as the crawled
    song list under --data-dir/$DATA_DIR has): the core topk_cosine, and the whole `recommend.py --all` stage
    (read CSV, represent, top-k, explanations, write CSV). Target < 1 s.
(b) 1,000 queries vs 1,000,000 synthetic 60-d float32 vectors: ours (topk_cosine, 256 MB block budget) vs naive
    (sklearn cosine_similarity on the full matrix + argsort). Each runs in its own subprocess; its memory is
    peak RSS (VmHWM) minus RSS just before the call. Targets: >= 5x faster, < 1 GiB, same top-10 (up to
    ties). Naive needs ~12 bytes per query x item (12 GB at full size); when that would not fit comfortably in
    the memory available, it runs on the first queries only and the ratio is per query.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moodpipe.paths import resolve_data_dir  # noqa: E402
from moodpipe.recommender import RecommendConfig, recommend  # noqa: E402
from moodpipe.retrieval import topk_cosine  # noqa: E402

K = 10


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", help="data folder with lyrics/melon_songs_2000_2023.csv (default: $DATA_DIR or data/)")
    p.add_argument("--queries", type=int, default=1000, help="(b) number of queries")
    p.add_argument("--items", type=int, default=1_000_000, help="(b) number of catalogue vectors")
    p.add_argument("--memory-mb", type=int, default=256, help="(b) block budget of ours")
    p.add_argument("--worker", choices=["ours", "naive"], help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    p.add_argument("--worker-queries", type=int, help=argparse.SUPPRESS)
    return p.parse_args()


def rss_bytes(field: str = "VmRSS") -> int:
    """This process's resident memory (VmRSS) or its high-water mark (VmHWM). Not ru_maxrss: on Linux that
    keeps the high-water mark of the parent's memory from before exec (inflated ours by 0.13 GiB)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))


def mem_available_bytes() -> int:
    with open("/proc/meminfo") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable"))


def catalogue(data_dir: Path) -> tuple[int, list[str]]:
    """Song count and emotion column names: the real ones when the data folder has them."""
    songs = data_dir / "lyrics" / "melon_songs_2000_2023.csv"
    labels = data_dir / "emotion_corpus" / "emotion_label_map_E10_E69.csv"
    n = len(pd.read_csv(songs, usecols=["song_id"])) if songs.is_file() else 8250
    if labels.is_file():
        label_map = pd.read_csv(labels)
        return n, [f"emo:{m}/{s}" for m, s in zip(label_map.major_label, label_map.sub_label_codebook, strict=True)]
    return n, [f"emo:M{i // 10}/s{i % 10}" for i in range(60)]


def bench_catalogue(n: int, columns: list[str]) -> None:
    rng = np.random.default_rng(0)
    x = rng.dirichlet(np.full(len(columns), 0.3), size=n).astype(np.float32)  # float32 as in recommend()
    topk_cosine(x[:100], x, K)  # warm-up: BLAS, page faults
    runs = []
    for _ in range(3):  # median of 3: the machine is shared
        t = time.perf_counter()
        topk_cosine(x, x, K, exclude_same=[(np.arange(n), np.arange(n))])  # every song, itself excluded
        runs.append(time.perf_counter() - t)
    core = float(np.median(runs))
    with tempfile.TemporaryDirectory() as d:
        df = pd.DataFrame(x, columns=columns)
        df.insert(0, "song_id", np.arange(n))
        df.insert(1, "song_name", [f"song {i}" for i in range(n)])
        df.insert(2, "artist", [f"artist {i % 997}" for i in range(n)])
        (Path(d) / "results").mkdir()
        df.to_csv(Path(d) / "results" / "song_emotions.csv", index=False)
        t = time.perf_counter()
        recommend(RecommendConfig(out=d, all_songs=True, format="csv"))
        stage = time.perf_counter() - t
    print(f"(a) all-vs-all top-{K}, {n:,} songs x {len(columns)}: topk_cosine {core:.3f} s (median of 3) "
          f"[{'OK' if core < 1 else 'FAIL'}: < 1 s]; whole --all stage with explanations and CSV {stage:.3f} s")


def worker(method: str, workdir: Path, n_queries: int, memory_mb: int) -> None:
    """Runs in a fresh process: load the data, time one method, report its own peak memory."""
    items = np.load(workdir / "items.npy")
    queries = np.load(workdir / "queries.npy")[:n_queries]
    if method == "naive":
        from sklearn.metrics.pairwise import cosine_similarity
    before = rss_bytes()
    t = time.perf_counter()
    if method == "ours":
        idx, sims = topk_cosine(queries, items, K, memory_mb=memory_mb)
    else:
        s = cosine_similarity(queries, items)
        idx = np.argsort(np.negative(s, out=s), axis=1)[:, :K]  # negated in place: one 4-byte copy less
        sims = -np.take_along_axis(s, idx, axis=1)
    seconds = time.perf_counter() - t
    peak = rss_bytes("VmHWM")
    np.save(workdir / f"{method}_idx.npy", idx)
    np.save(workdir / f"{method}_sims.npy", sims)
    print(json.dumps({"seconds": seconds, "mem": peak - before, "queries": len(queries)}))


def run_worker(method: str, workdir: Path, n_queries: int, memory_mb: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", method, "--workdir", str(workdir), "--worker-queries",
           str(n_queries), "--memory-mb", str(memory_mb)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{method} worker failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_scale(n_queries: int, n_items: int, memory_mb: int) -> None:
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as d:
        workdir = Path(d)
        np.save(workdir / "items.npy", rng.dirichlet(np.full(60, 0.3), size=n_items).astype(np.float32))
        np.save(workdir / "queries.npy", rng.dirichlet(np.full(60, 0.3), size=n_queries).astype(np.float32))
        # naive holds a float32 similarity matrix and an int64 argsort: 12 bytes per pair, plus the data
        available = mem_available_bytes()
        fits = int(0.5 * available // (12 * n_items))
        n_naive = min(n_queries, max(1, fits))
        ours = run_worker("ours", workdir, n_queries, memory_mb)
        naive = run_worker("naive", workdir, n_naive, memory_mb)
        a, b = np.load(workdir / "ours_idx.npy")[:n_naive], np.load(workdir / "naive_idx.npy")
        sa, sb = np.load(workdir / "ours_sims.npy")[:n_naive], np.load(workdir / "naive_sims.npy")
    same = (a == b).all(axis=1)
    ties = ~same & np.isclose(sa, sb, rtol=0, atol=1e-6).all(axis=1)  # other indices, same similarities
    per_query = (naive["seconds"] / n_naive) / (ours["seconds"] / n_queries)
    gib = 2**30
    print(f"(b) {n_queries:,} queries x {n_items:,} items x 60 (float32), top-{K}")
    print(f"    ours  (blocked, {memory_mb} MB budget): {ours['seconds']:.2f} s for {n_queries:,} queries, "
          f"peak memory +{ours['mem'] / gib:.2f} GiB [{'OK' if ours['mem'] < gib else 'FAIL'}: < 1 GiB]")
    print(f"    naive (cosine_similarity + argsort): {naive['seconds']:.2f} s for {n_naive:,} queries, "
          f"peak memory +{naive['mem'] / gib:.2f} GiB")
    if n_naive < n_queries:
        need = 12 * n_queries * n_items / gib
        print(f"    (naive ran the first {n_naive:,} queries: all {n_queries:,} need ~{need:.0f} GiB, more than half "
              f"of the {available / gib:.0f} GiB available; the speed-up is per query)")
    print(f"    speed-up {per_query:.1f}x per query [{'OK' if per_query >= 5 else 'FAIL'}: >= 5x]; "
          f"top-{K} identical for {same.sum():,}/{n_naive:,} queries, {ties.sum()} more differ only by ties")
    assert (same | ties).all(), "ours and naive disagree beyond ties"


def main() -> None:
    args = parse_args()
    if args.worker:
        return worker(args.worker, Path(args.workdir), args.worker_queries, args.memory_mb)
    n, columns = catalogue(resolve_data_dir(args.data_dir))
    bench_catalogue(n, columns)
    bench_scale(args.queries, args.items, args.memory_mb)


if __name__ == "__main__":
    main()
