import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from qlib.metrics import evaluate, ranking_metrics


def brute_force(ranked, truth, k, ndcg):
    rec, nd, prec = [], [], []
    for row, t in zip(ranked, truth):
        t = set(int(x) for x in t)
        if not t:
            continue
        hits_all = [1 if int(i) in t else 0 for i in row]
        hits = hits_all[:k]
        rec.append(sum(hits) / len(t))
        prec.append(sum(hits) / k)
        dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
        n_ideal = min(k, len(t)) if ndcg == "standard" else min(k, sum(hits_all))
        idcg = sum(1 / math.log2(r + 2) for r in range(n_ideal))
        nd.append(dcg / idcg if idcg > 0 else 0.0)
    return {"recall": np.mean(rec), "ndcg": np.mean(nd), "precision": np.mean(prec)}


@pytest.mark.parametrize("ndcg", ["standard", "hits"])
@pytest.mark.parametrize("k,width", [(5, 5), (5, 20), (20, 20)])
def test_ranking_metrics_match_brute_force(ndcg, k, width):
    rng = np.random.default_rng(1)
    n_items = 50
    ranked = np.stack([rng.permutation(n_items)[:width] for _ in range(40)])
    truth = [rng.choice(n_items, rng.integers(0, 12), replace=False) for _ in range(40)]
    got = ranking_metrics(ranked, truth, k, ndcg=ndcg)
    want = brute_force(ranked, truth, k, ndcg)
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=1e-12, abs=1e-12)


def test_hits_ndcg_is_at_least_standard():
    rng = np.random.default_rng(2)
    ranked = np.stack([rng.permutation(30) for _ in range(25)])
    truth = [rng.choice(30, 8, replace=False) for _ in range(25)]
    std = ranking_metrics(ranked, truth, 5, "standard")["ndcg"]
    hits = ranking_metrics(ranked, truth, 5, "hits")["ndcg"]
    assert hits >= std > 0


def test_perfect_ranking_scores_one():
    ranked = np.array([[3, 1, 0, 2], [2, 0, 1, 3]])
    truth = [np.array([3, 1]), np.array([2])]
    m = ranking_metrics(ranked, truth, 2)
    assert m["recall"] == 1.0 and m["ndcg"] == 1.0 and m["precision"] == pytest.approx(0.75)


def test_ranking_metrics_rejects_bad_input():
    with pytest.raises(ValueError, match="NDCG convention"):
        ranking_metrics(np.zeros((1, 3), int), [np.array([1])], 2, ndcg="ideal")
    with pytest.raises(ValueError, match="rows"):
        ranking_metrics(np.zeros((2, 3), int), [np.array([1])], 2)
    with pytest.raises(ValueError, match="fewer than k"):
        ranking_metrics(np.zeros((1, 3), int), [np.array([1])], 5)
    with pytest.raises(ValueError, match="no user"):
        ranking_metrics(np.zeros((1, 3), int), [np.array([], int)], 2)


def test_evaluate_masks_training_items_and_matches_ranking_metrics():
    rng = np.random.default_rng(3)
    n_users, n_items = 30, 40
    scores = torch.from_numpy(rng.normal(size=(n_users, n_items)).astype(np.float32))
    train = sp.random(n_users, n_items, density=0.2, random_state=4, format="csr")
    train.data[:] = 1
    test = sp.random(n_users, n_items, density=0.1, random_state=5, format="csr")
    test = (test - test.multiply(train)).tocsr()
    test.eliminate_zeros()
    test.data[:] = 1
    got = evaluate(lambda u: scores[u].clone(), test, [train], ks=(5, 10), batch_size=7)
    # brute force: mask, sort, compare
    masked = scores.numpy().copy()
    masked[train.toarray() > 0] = -np.inf
    ranked = np.argsort(-masked, axis=1, kind="stable")[:, :10]
    truth = [test.indices[test.indptr[u]:test.indptr[u + 1]] for u in range(n_users)]
    keep = [u for u in range(n_users) if len(truth[u])]
    for k in (5, 10):
        ref = ranking_metrics(ranked[keep], [truth[u] for u in keep], k)
        ref_h = ranking_metrics(ranked[keep], [truth[u] for u in keep], k, ndcg="hits")
        assert got[f"recall@{k}"] == pytest.approx(ref["recall"])
        assert got[f"ndcg@{k}"] == pytest.approx(ref["ndcg"])
        assert got[f"precision@{k}"] == pytest.approx(ref["precision"])
        assert got[f"ndcg_hits@{k}"] == pytest.approx(ref_h["ndcg"])
    # no training item is ever recommended
    assert not any(train[u, i] for u in range(n_users) for i in ranked[u] if np.isfinite(masked[u, i]) is False)
