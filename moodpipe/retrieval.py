"""Exact top-k by cosine: a blocked numpy search whose memory stays under a budget whatever the catalogue
size, and the same search through FAISS (IndexFlatIP) for users who have it. Both return the k best items
per query, best first, ties resolved to the lower index, with masks and per-query exclusions.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence

import numpy as np

from moodpipe.files import InputError


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
    """Products with 60 columns are memory-bound: more BLAS threads only spin, and on a busy machine they made
    the blocked loop 3-30x slower (measured on 2 shared cores). A no-op without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits  # installed with scikit-learn
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


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


def topk_cosine(queries: np.ndarray, items: np.ndarray, k: int, block_rows: int | None = None,
                block_items: int | None = None, memory_mb: int = 256, item_mask: np.ndarray | None = None,
                exclude_same: Sequence[tuple[np.ndarray, np.ndarray]] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k items by cosine for every query: (indices, sims), each (n_queries, min(k, n_items)).

    Blocks of queries x chunks of items: each chunk keeps its own top k (argpartition), the chunks' winners are
    merged, so memory stays under memory_mb whatever the catalogue size, and a block stays near the CPU cache.
    item_mask: items allowed at all. exclude_same: (query_keys, item_keys) pairs; item j is skipped for
    query i when query_keys[i] == item_keys[j] (the song itself, its artist). Unfilled slots: -1 / -inf.

    >>> idx, sim = topk_cosine(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0], [2.0, 0.0], [1.0, 1.0]]), 2)
    >>> idx.tolist(), sim.round(3).tolist()
    ([[1, 2]], [[1.0, 0.707]])
    """
    q, x = normalize_rows(queries), normalize_rows(items)
    dtype = np.result_type(q, x)
    q, x = q.astype(dtype, copy=False), x.astype(dtype, copy=False)
    k = min(k, len(x))
    # per similarity: itself, argpartition's int64 index, two boolean masks. 2M cells (8 MB in float32) measured
    # faster than bigger blocks: the products stay in cache for argpartition.
    cells = max(1, min(2**21, memory_mb * 2**20 // (dtype.itemsize + 10)))
    block_rows = block_rows or max(1, min(len(q), 256, cells // k))
    block_items = block_items or max(k, cells // block_rows)
    blocked = None if item_mask is None else ~np.asarray(item_mask, bool)
    idx, sims = np.full((len(q), k), -1, np.int64), np.full((len(q), k), -np.inf, dtype)
    with one_blas_thread():
        for start in range(0, len(q), block_rows):
            stop = min(start + block_rows, len(q))
            found_idx, found_sims = [], []
            for lo in range(0, len(x), block_items):
                hi = min(lo + block_items, len(x))
                s = q[start:stop] @ x[lo:hi].T
                if blocked is not None:
                    s[:, blocked[lo:hi]] = -np.inf
                for q_keys, i_keys in exclude_same:
                    s[q_keys[start:stop, None] == i_keys[None, lo:hi]] = -np.inf
                i, v = top_k_rows(s, min(k, hi - lo))
                found_idx.append(i + lo)
                found_sims.append(v)
            # chunks are in item order and each is sorted with ties by index, so a tie between chunks resolves by
            # column position = by item index, as in one pass over all items
            pos, sims[start:stop] = top_k_rows(np.hstack(found_sims), k)
            idx[start:stop] = np.take_along_axis(np.hstack(found_idx), pos, axis=1)
    idx[np.isneginf(sims)] = -1
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
