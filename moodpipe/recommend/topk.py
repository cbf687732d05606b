"""Exact top-k by cosine: a blocked numpy search whose memory stays under a budget whatever the catalogue
size, and the same search through FAISS (IndexFlatIP) for users who have it. Both return the k best items
per query, best first, ties resolved to the lower index, with masks and per-query exclusions.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from moodpipe.files import InputError

# Each query keeps its k best so far, and a chunk of items is only searched above the k-th of them. The first
# chunk has no bar yet: its own k-th best (np.partition) is the bar. Chunks then double in size up to the
# budget, so each brings about k new candidates per query.
FIRST_CHUNK = 256
# a chunk with more candidates than this share of its cells first raises the bar to its own k-th best per query,
# and if that leaves too many (mostly equal values) takes its rows a few at a time: candidates cost 20 bytes
# each (row, item, similarity) and their re-scoring 16 bytes per dimension, in batches of RESCORE_BATCH
DENSE_SHARE = 1 / 32
RESCORE_BATCH = 4096
# Threads pull tasks (a block of queries x a shard of the items) from one queue; several per thread keep both
# cores busy to the end when the other's thread is held up by another job. A shard has at least MIN_SHARD
# items: smaller ones spend more on their first chunks and the merge than they balance.
TASKS_PER_THREAD = 4
BLOCK_QUERIES = 256
MIN_SHARD = 2**14


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Unit-length rows (float32 stays float32); a zero or non-finite row has no direction."""
    x = np.asarray(x)
    x = x.astype(np.result_type(x.dtype, np.float32), copy=False)
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))  # no n x d temporary, unlike np.linalg.norm
    bad = ~np.isfinite(norms) | (norms == 0)
    if bad.any():
        raise ValueError(f"row {np.flatnonzero(bad)[0]} is zero or not finite: cosine is undefined")
    return x / norms[:, None]


def one_blas_thread() -> contextlib.AbstractContextManager:
    """Our threads each run their own products: BLAS threads on top would only oversubscribe the cores
    (on 2 shared cores they made the blocked loop 3-30x slower). A no-op without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits  # installed with scikit-learn
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def default_threads() -> int:
    """One thread per core this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def top_k_rows(s: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of the k largest entries of each row, best first; ties go to the lower index.

    >>> top_k_rows(np.array([[0.5, 0.9, 0.5, 0.1]]), 2)
    (array([[1, 0]]), array([[0.9, 0.5]]))
    """
    n = s.shape[1]
    part = np.argpartition(s, n - k, axis=1)[:, n - k:] if k < n else np.tile(np.arange(n), (len(s), 1))
    vals = np.take_along_axis(s, part, axis=1)
    # argpartition keeps an arbitrary subset of the values equal to the k-th largest: redo those rows exactly
    kth = vals.min(axis=1)
    for r in np.flatnonzero(np.add.reduce(s >= kth[:, None], axis=1, dtype=np.int32) > k):
        cand = np.flatnonzero(s[r] >= kth[r])
        part[r] = cand[np.lexsort((cand, -s[r, cand]))][:k]
        vals[r] = s[r, part[r]]
    order = np.lexsort((part, -vals), axis=1)
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(vals, order, axis=1)


def merge_columns(idx: np.ndarray, sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best of lists laid side by side in item order (each sorted, ties by index): ties between lists
    resolve by column position, which is item order, as in one pass over all items."""
    pos, best = top_k_rows(sims, k)
    return np.take_along_axis(idx, pos, axis=1), best


@dataclass
class Exclusions:
    """exclude_same for one block of queries: item j is out for query i when any pair of keys match."""
    pairs: Sequence[tuple[np.ndarray, np.ndarray]]  # (query keys of the block, item keys of all items)

    def apply_dense(self, s: np.ndarray, lo: int) -> None:
        for q_keys, i_keys in self.pairs:
            s[q_keys[:, None] == i_keys[None, lo:lo + s.shape[1]]] = -np.inf

    def keep(self, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
        keep = np.ones(len(rows), bool)
        for q_keys, i_keys in self.pairs:
            keep &= q_keys[rows] != i_keys[items]
        return keep


def order_by_row_then_best(rows: np.ndarray, sims: np.ndarray) -> np.ndarray:
    """Stable order by query, then similarity, best first: entries that tie keep their order, so they must come
    in item order. float32 packs both keys into one uint64, which sorts much faster than a lexsort."""
    if sims.dtype != np.float32:
        return np.lexsort((-sims, rows))
    bits = (0 - sims).view(np.uint32)  # 0 - x, not -x: a similarity of -0.0 must tie with 0.0
    # IEEE floats sort as unsigned ints once negatives have every bit flipped and positives the sign bit set
    ordered = np.where(bits >> 31, ~bits, bits | np.uint32(0x80000000))
    return np.argsort((rows.astype(np.uint64) << np.uint64(32)) | ordered, kind="stable")


def exact_dots(q: np.ndarray, x: np.ndarray, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
    """q[rows] . x[items], pair by pair, bit for bit the same wherever the pair sat in a block: BLAS rounds one
    product differently at different places in its output (measured: copies of an item stopped tying between
    thread counts), so every similarity that is kept is recomputed here, in float64 from exact float32 products."""
    out = np.empty(len(rows), q.dtype)
    for a in range(0, len(rows), RESCORE_BATCH):
        pairs = slice(a, a + RESCORE_BATCH)
        out[pairs] = (q[rows[pairs]].astype(np.float64) * x[items[pairs]]).sum(axis=1)
    return out


def product_tolerance(q: np.ndarray) -> float:
    """How far a BLAS product of unit vectors can be from exact_dots: d roundings in the sum, one in the result,
    with room to spare."""
    return (q.shape[1] + 2) * float(np.finfo(q.dtype).eps)


class RunningTopK:
    """The k best items so far for each query of a block, best first, ties by index; fed in item order."""

    def __init__(self, n_rows: int, k: int, dtype: np.dtype) -> None:
        self.k = k
        self.idx = np.full((n_rows, k), -1, np.int64)
        self.sims = np.full((n_rows, k), -np.inf, dtype)

    def kth(self) -> np.ndarray:
        """Per query (a column), the k-th best so far: a later item must beat it, since a tie goes to the
        earlier, lower index."""
        return self.sims[:, -1:]

    def add(self, rows: np.ndarray, items: np.ndarray, sims: np.ndarray) -> None:
        """Merge candidates (row, item, sim) in row-major item order, all after every item kept so far."""
        n_rows, k = self.idx.shape
        # kept entries first: they are sorted and have the lower indices, so a stable sort keeps ties in order
        all_rows = np.concatenate([np.repeat(np.arange(n_rows), k), rows])
        all_idx = np.concatenate([self.idx.ravel(), items])
        all_sims = np.concatenate([self.sims.ravel(), sims])
        order = order_by_row_then_best(all_rows, all_sims)
        per_row = np.bincount(rows, minlength=n_rows) + k
        take = order[(np.cumsum(per_row) - per_row)[:, None] + np.arange(k)]  # the first k of each row
        self.idx, self.sims = all_idx[take], all_sims[take]


def chunk_bounds(lo: int, hi: int, first: int, largest: int) -> list[tuple[int, int]]:
    """[lo, hi) cut into chunks that double from `first` up to `largest` items."""
    bounds, size = [], first
    while lo < hi:
        bounds.append((lo, min(lo + size, hi)))
        lo, size = lo + size, min(2 * size, largest)
    return bounds


def chunk_kth(s: np.ndarray, k: int) -> np.ndarray:
    """Each row's k-th largest value, as a column: np.partition moves values only, faster than argpartition."""
    n = s.shape[1]
    return np.partition(s, n - k, axis=1)[:, n - k:n - k + 1] if k < n else np.full((len(s), 1), -np.inf, s.dtype)


@dataclass
class Block:
    """One block of queries against the items: what scanning a chunk needs besides the chunk."""
    q: np.ndarray
    x: np.ndarray
    exclusions: Exclusions
    top: RunningTopK
    tolerance: float

    def add_candidates(self, above: np.ndarray, first_row: int, lo: int) -> None:
        """The entries marked in `above` (rows first_row..., items lo...), less exclusions, re-scored exactly."""
        rows, cols = np.divmod(np.flatnonzero(above), above.shape[1])
        rows, items = rows + first_row, cols + lo
        keep = self.exclusions.keep(rows, items)
        rows, items = rows[keep], items[keep]
        self.top.add(rows, items, exact_dots(self.q, self.x, rows, items))

    def scan_chunk(self, s: np.ndarray, lo: int) -> None:
        """Add one chunk of products (items lo, lo + 1, ...) to the running top k, looking only at the few
        entries that can beat the k-th best so far (allowing for BLAS's rounding)."""
        floor = self.top.kth() - self.tolerance
        above = s >= floor
        n_above = np.count_nonzero(above)
        if n_above > DENSE_SHARE * s.size:  # the first chunk, or one better than all before
            self.exclusions.apply_dense(s, lo)
            # k entries reach the chunk's own k-th best, so the k best are within two tolerances of it
            floor = np.maximum(floor, chunk_kth(s, self.top.k) - 2 * self.tolerance)
            above = s >= floor
            n_above = np.count_nonzero(above)
        limit = max(DENSE_SHARE * s.size, 4 * self.top.k * len(s))
        step = len(s) if n_above <= limit else max(1, int(limit // s.shape[1]))  # mostly ties: rows a few at a time
        for r in range(0, len(s), step):
            self.add_candidates(above[r:r + step], r, lo)


def search_block(q: np.ndarray, x: np.ndarray, lo: int, hi: int, k: int, chunk: int,
                 exclusions: Exclusions) -> tuple[np.ndarray, np.ndarray]:
    """Top k of items [lo, hi) for a block of queries: (indices, sims), (len(q), k), best first."""
    block = Block(q, x, exclusions, RunningTopK(len(q), k, q.dtype), product_tolerance(q))
    buffer = np.empty((len(q), chunk), q.dtype)
    for a, b in chunk_bounds(lo, hi, min(chunk, max(FIRST_CHUNK, 4 * k)), chunk):
        s = buffer[:, :b - a]
        np.matmul(q, x[a:b].T, out=s)
        block.scan_chunk(s, a)
    return block.top.idx, block.top.sims


@dataclass
class Plan:
    """How the search is cut: query blocks, item shards per block, chunk size, threads."""
    row_bounds: list[tuple[int, int]]
    item_bounds: list[tuple[int, int]]
    chunk: int
    threads: int


def even_bounds(n: int, parts: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, n, parts + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def plan_search(n_queries: int, n_items: int, k: int, itemsize: int, block_rows: int | None,
                block_items: int | None, memory_mb: int, threads: int) -> Plan:
    # per similarity: itself, a boolean "above the bar", in a first chunk a partitioned copy, in a chunk of ties
    # argpartition's int64 index; each thread holds one block. 2M cells (8 MB in float32) per thread keep the
    # products in cache for the scan (bench/recommend_scale.py times the budgets)
    cells = max(1, min(2**21, memory_mb * 2**20 // (threads * (2 * itemsize + 10))))
    if block_rows is None:
        # blocks of at most BLOCK_QUERIES queries, as many as a multiple of the threads so that each gets the
        # same work
        blocks = -(-n_queries // BLOCK_QUERIES)
        blocks = -(-blocks // threads) * threads if blocks > 1 else 1
        block_rows = -(-n_queries // blocks)
    block_rows = max(1, min(block_rows, cells // k))  # a chunk holds at least k items
    row_bounds = [(a, min(a + block_rows, n_queries)) for a in range(0, n_queries, block_rows)]
    chunk = block_items or max(k, cells // block_rows)
    # items cut into shards too (merged at the end) until each thread has several tasks to pull
    wanted = -(-TASKS_PER_THREAD * threads // len(row_bounds)) if threads > 1 else 1
    shards = max(1, min(wanted, n_items // MIN_SHARD))
    return Plan(row_bounds, even_bounds(n_items, shards), chunk, threads)


def topk_cosine(queries: np.ndarray, items: np.ndarray, k: int, block_rows: int | None = None,
                block_items: int | None = None, memory_mb: int = 256, item_mask: np.ndarray | None = None,
                exclude_same: Sequence[tuple[np.ndarray, np.ndarray]] = (),
                threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k items by cosine for every query: (indices, sims), each (n_queries, min(k, n_items)).

    Blocks of queries x chunks of items, so memory stays under memory_mb whatever the catalogue size. Each
    query keeps its k best so far and a chunk is searched only above the k-th of them (a few entries per query
    once the first chunks are in), so nearly all the time goes to the matrix products. Query blocks, or item
    shards when there are few queries, run on `threads` threads (default: one per core), with one BLAS thread
    each; results do not depend on the thread count.
    item_mask: items allowed at all. exclude_same: (query_keys, item_keys) pairs; item j is skipped for
    query i when query_keys[i] == item_keys[j] (the song itself, its artist). Unfilled slots: -1 / -inf.

    >>> idx, sim = topk_cosine(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0], [2.0, 0.0], [1.0, 1.0]]), 2)
    >>> idx.tolist(), sim.round(3).tolist()
    ([[1, 2]], [[1.0, 0.707]])
    """
    q, x = normalize_rows(queries), normalize_rows(items)
    dtype = np.result_type(q, x)
    q, x = q.astype(dtype, copy=False), x.astype(dtype, copy=False)
    k_out = min(k, len(x))
    idx, sims = np.full((len(q), k_out), -1, np.int64), np.full((len(q), k_out), -np.inf, dtype)
    pairs = [(np.asarray(q_keys), np.asarray(i_keys)) for q_keys, i_keys in exclude_same]
    # a mask is applied once, by searching the allowed items only; indices are mapped back at the end
    allowed = np.arange(len(x)) if item_mask is None else np.flatnonzero(np.asarray(item_mask, bool))
    if item_mask is not None:
        x, pairs = x[allowed], [(q_keys, i_keys[allowed]) for q_keys, i_keys in pairs]
    k = min(k_out, len(x))
    if k == 0 or len(q) == 0:
        return idx, sims
    threads = max(1, threads or default_threads())
    plan = plan_search(len(q), len(x), k, dtype.itemsize, block_rows, block_items, memory_mb, threads)
    idx[:, :k], sims[:, :k] = search_all(q, x, k, plan, pairs)
    found = ~np.isneginf(sims)
    idx[found] = allowed[idx[found]]
    idx[~found] = -1
    return idx, sims


def search_all(q: np.ndarray, x: np.ndarray, k: int, plan: Plan,
               pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Every (query block, item shard) of the plan on its threads, then each block's shards merged."""

    def run(task: tuple[tuple[int, int], tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
        (start, stop), (lo, hi) = task
        exclusions = Exclusions([(q_keys[start:stop], i_keys) for q_keys, i_keys in pairs])
        return search_block(q[start:stop], x, lo, hi, min(k, hi - lo), plan.chunk, exclusions)

    tasks = [(rows, shard) for rows in plan.row_bounds for shard in plan.item_bounds]
    with one_blas_thread():
        if plan.threads == 1 or len(tasks) == 1:
            found = [run(task) for task in tasks]
        else:  # numpy and BLAS release the GIL: the threads run on their own cores
            with ThreadPoolExecutor(plan.threads) as pool:
                found = list(pool.map(run, tasks))
    idx, sims = np.empty((len(q), k), np.int64), np.empty((len(q), k), q.dtype)
    shards = len(plan.item_bounds)
    for b, (start, stop) in enumerate(plan.row_bounds):
        parts = found[b * shards:(b + 1) * shards]  # in item order, as merge_columns needs
        idx[start:stop], sims[start:stop] = merge_columns(np.hstack([i for i, _ in parts]),
                                                          np.hstack([s for _, s in parts]), k)
    return idx, sims


def topk_cosine_faiss(queries: np.ndarray, items: np.ndarray, k: int, item_mask: np.ndarray | None = None,
                      exclude_same: Sequence[tuple[np.ndarray, np.ndarray]] = ()) -> tuple[np.ndarray, np.ndarray]:
    """topk_cosine through a FAISS IndexFlatIP on unit vectors (exact, float32); for very large catalogues."""
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # it logs every CPU feature it probes
    try:
        import faiss  # optional: only --index faiss needs it
    except ImportError:
        raise InputError("--index faiss needs FAISS: pip install faiss-cpu (or use --index blocked)") from None
    q, x = normalize_rows(queries).astype(np.float32), normalize_rows(items).astype(np.float32)
    allowed = np.arange(len(x)) if item_mask is None else np.flatnonzero(item_mask)
    k = min(k, len(x))
    idx, sims = np.full((len(q), k), -1, np.int64), np.full((len(q), k), -np.inf, np.float32)
    if len(allowed) == 0:
        return idx, sims
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(np.ascontiguousarray(x[allowed]))
    # ask for enough extra neighbours that excluded ones (the song itself, its artist) cannot crowd out k
    extra = sum(int(np.unique(i_keys[allowed], return_counts=True)[1].max()) for _, i_keys in exclude_same)
    found_sims, found = index.search(q, min(k + extra, len(allowed)))
    found = np.where(found >= 0, allowed[np.maximum(found, 0)], -1)
    found_sims[found < 0] = -np.inf
    for q_keys, i_keys in exclude_same:
        found_sims[(found >= 0) & (q_keys[:, None] == i_keys[found])] = -np.inf
    order = np.lexsort((found, -found_sims), axis=1)[:, :k]  # ties -> lower index, as in topk_cosine
    m = order.shape[1]  # < k when fewer items are allowed
    idx[:, :m], sims[:, :m] = np.take_along_axis(found, order, 1), np.take_along_axis(found_sims, order, 1)
    idx[np.isneginf(sims)] = -1
    return idx, sims
