"""Exact top-k (moodpipe.recommend.topk): brute-force agreement with planted ties, masks and exclusions, threads."""

import numpy as np
import pytest

from moodpipe.recommend import topk
from moodpipe.recommend.topk import MIN_SHARD, normalize_rows, topk_cosine, topk_cosine_faiss


def brute_force(queries, items, k, allowed=None):
    """Every similarity, sorted best first with ties to the lower index; disallowed pairs are -inf. Computed as
    topk_cosine scores what it keeps (float64 sums of exact products), so that copies tie exactly here too."""
    q, x = normalize_rows(queries), normalize_rows(items)
    cos = np.array([(x.astype(np.float64) * row).sum(axis=1) for row in q]).astype(np.result_type(q, x))
    if allowed is not None:
        cos = np.where(allowed, cos, -np.inf)
    idx = np.argsort(-cos, axis=1, kind="stable")[:, :k]
    sims = np.take_along_axis(cos, idx, axis=1)
    return np.where(np.isneginf(sims), -1, idx), sims


def with_planted_ties(n_items, dim, seed):
    """Random items where some vectors come back as exact copies (the same cosine to every query), spread over
    the catalogue so that ties cross chunk and shard borders; some queries are items (cosine 1 to the copies)."""
    rng = np.random.default_rng(seed)
    items = rng.normal(size=(n_items, dim))
    for source in rng.choice(n_items, size=max(1, n_items // 50), replace=False):
        copies = rng.choice(n_items, size=6, replace=False)
        items[copies] = items[source]
    queries = np.vstack([rng.normal(size=(17, dim)), items[rng.choice(n_items, size=8)]])
    return queries, items


@pytest.mark.parametrize(("block_rows", "block_items", "threads"),
                         [(None, None, None), (1, None, 1), (7, 13, 2), (None, 4, 2), (5, 1000, 1)])
def test_matches_brute_force_with_planted_ties(block_rows, block_items, threads):
    queries, items = with_planted_ties(3000, 8, seed=0)
    for k in (1, 10, 40):
        idx, sims = topk_cosine(queries, items, k, block_rows=block_rows, block_items=block_items, threads=threads)
        want_idx, want_sims = brute_force(queries, items, k)
        assert np.array_equal(idx, want_idx)
        assert np.allclose(sims, want_sims)


def test_a_tie_at_the_kth_place_goes_to_the_lowest_indices():
    rng = np.random.default_rng(1)
    items = rng.normal(size=(5000, 6))
    copies = np.sort(rng.choice(np.arange(1, 5000), size=30, replace=False))
    items[copies] = items[0]
    for block_items in (None, 64, 1000):
        idx, sims = topk_cosine(items[[0]], items, 10, block_items=block_items)
        assert idx[0].tolist() == [0, *copies[:9]] and np.allclose(sims, 1.0)


def test_a_catalogue_that_only_gets_better_is_still_exact():
    # every chunk beats the k-th best so far everywhere: the search has to select whole chunks again
    rng = np.random.default_rng(2)
    query = rng.normal(size=(3, 5))
    items = rng.normal(size=(20000, 5))
    items = items[np.argsort(normalize_rows(items) @ normalize_rows(query)[0])]
    idx, sims = topk_cosine(query, items, 10, block_items=2000)
    want_idx, want_sims = brute_force(query, items, 10)
    assert np.array_equal(idx, want_idx) and np.allclose(sims, want_sims)


def test_mask_and_exclusions_equal_removing_those_items_by_hand():
    queries, items = with_planted_ties(2000, 8, seed=3)
    q_keys, i_keys = np.arange(len(queries)) % 5, np.arange(len(items)) % 5
    mask = np.arange(len(items)) % 3 != 0
    allowed = mask[None, :] & (q_keys[:, None] != i_keys[None, :])
    for block_rows, block_items, threads in ((None, None, None), (7, 13, 2), (3, 500, 1)):
        idx, sims = topk_cosine(queries, items, 10, block_rows=block_rows, block_items=block_items, threads=threads,
                                item_mask=mask, exclude_same=[(q_keys, i_keys)])
        want_idx, want_sims = brute_force(queries, items, 10, allowed)
        assert np.array_equal(idx, want_idx) and np.allclose(sims, want_sims)


def test_the_song_itself_and_its_artist_are_excluded():
    queries, items = with_planted_ties(1000, 8, seed=4)
    own = np.arange(len(items))
    artist = own // 4
    idx, _ = topk_cosine(items, items, 5, exclude_same=[(own, own), (artist, artist)])
    assert not (idx == own[:, None]).any() and not (artist[idx] == artist[:, None]).any()


def test_unfilled_slots_are_minus_one_and_minus_inf():
    rng = np.random.default_rng(5)
    items = rng.normal(size=(50, 4))
    mask = np.zeros(50, bool)
    mask[[3, 40]] = True
    idx, sims = topk_cosine(items[:2], items, 5, item_mask=mask)
    assert idx.shape == (2, 5) and (idx[:, 2:] == -1).all() and np.isneginf(sims[:, 2:]).all()
    assert sorted(idx[0, :2].tolist()) == [3, 40]
    idx, sims = topk_cosine(items[:2], items, 5, item_mask=np.zeros(50, bool))
    assert (idx == -1).all() and np.isneginf(sims).all()
    idx, _ = topk_cosine(items[:2], items[:3], 10)  # k above the catalogue size: as many columns as items
    assert idx.shape == (2, 3)


@pytest.mark.parametrize("n_queries", [1, 3, 600])
def test_one_and_two_threads_give_identical_results(n_queries):
    # few queries: the threads split the items (shards), many: the queries; float32 as recommend() uses
    queries, items = with_planted_ties(2 * MIN_SHARD + 123, 60, seed=6)
    rng = np.random.default_rng(7)
    queries = np.vstack([queries, rng.normal(size=(n_queries, 60))])[:n_queries].astype(np.float32)
    items = items.astype(np.float32)
    keys = np.arange(len(items)) % 7
    kwargs = {"item_mask": np.arange(len(items)) % 11 != 0, "exclude_same": [(np.arange(n_queries) % 7, keys)]}
    for extra in ({}, kwargs):
        one = topk_cosine(queries, items, 10, threads=1, **extra)
        two = topk_cosine(queries, items, 10, threads=2, **extra)
        assert np.array_equal(one[0], two[0]) and np.array_equal(one[1], two[1])


def test_faiss_finds_the_same_top_k_up_to_ties():
    pytest.importorskip("faiss")
    queries, items = with_planted_ties(3000, 8, seed=8)
    a, sa = topk_cosine(queries, items, 10)
    b, sb = topk_cosine_faiss(queries, items, 10)
    # FAISS keeps an arbitrary few of the copies tied at the k-th place; the similarities are the same
    assert np.allclose(sa, sb, atol=1e-5)
    differ = a != b
    assert np.allclose(sa[differ], sa[:, -1:].repeat(10, axis=1)[differ], atol=1e-5)


def test_after_the_first_chunks_only_the_entries_above_the_bar_are_looked_at(monkeypatch):
    # exact either way, but looking at every entry is what made the old search slow: count what is looked at
    seen = {"partitions": 0, "candidates": 0}
    chunk_kth, exact_dots = topk.chunk_kth, topk.exact_dots

    def counted_kth(s, k):
        seen["partitions"] += 1
        return chunk_kth(s, k)

    def counted_dots(q, x, rows, items):
        seen["candidates"] += len(rows)
        return exact_dots(q, x, rows, items)

    monkeypatch.setattr(topk, "chunk_kth", counted_kth)
    monkeypatch.setattr(topk, "exact_dots", counted_dots)
    rng = np.random.default_rng(9)
    queries, items = rng.normal(size=(50, 16)), rng.normal(size=(100_000, 16))
    idx, _ = topk_cosine(queries, items, 10, block_items=2000, threads=1)  # one block, 50+ chunks
    assert np.array_equal(idx, brute_force(queries, items, 10)[0])
    assert seen["partitions"] <= 3 and seen["candidates"] < 50 * 200  # of 5,000,000 entries


def test_a_catalogue_of_one_vector_ties_everywhere():
    # every entry ties: no bar cuts anything, so the rows are taken a few at a time
    items = np.tile(np.random.default_rng(10).normal(size=(1, 8)), (2 * MIN_SHARD + 7, 1))
    queries = np.random.default_rng(11).normal(size=(5, 8))
    for threads in (1, 2):
        idx, _ = topk_cosine(queries, items, 10, threads=threads, block_items=5000)
        assert (idx == np.arange(10)).all()
    own = np.arange(5)
    idx, _ = topk_cosine(queries, items, 3, exclude_same=[(own, np.arange(len(items)))])
    assert idx.tolist() == [[j for j in range(4) if j != i][:3] for i in range(5)]
