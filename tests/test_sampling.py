import numpy as np
import pytest
import scipy.sparse as sp

from qlib.sampling import TripleSampler


def train_matrix():
    m = sp.random(50, 30, density=0.3, random_state=0, format="csr")
    m.data[:] = 1
    return sp.csr_matrix(m)


@pytest.mark.parametrize("kind,n_neg", [("lightgcn", 1), ("legcf", 5)])
def test_triples_are_valid(kind, n_neg):
    train = train_matrix()
    s = TripleSampler(train, kind, n_neg)
    t = s.sample(seed=1, epoch=0)
    dense = train.toarray()
    u, p, n = t.users.numpy(), t.pos.numpy(), t.neg.numpy()
    assert len(t) == train.nnz * (n_neg if kind == "legcf" else 1)
    assert dense[u, p].all(), "positives must be training interactions"
    assert not dense[u, n].any(), "negatives must not be training interactions"


def test_legcf_negatives_are_distinct_per_positive():
    train = train_matrix()
    s = TripleSampler(train, "legcf", 5)
    # rows are shuffled; regroup by drawing without the shuffle: check distinctness via the private helper
    rng = np.random.default_rng(0)
    users = s.active_users[:20]
    neg = s._negatives(rng, users, 5)
    assert all(len(set(row)) == 5 for row in neg)


def test_sampling_is_a_pure_function_of_seed_and_epoch():
    s = TripleSampler(train_matrix())
    a, b, c = s.sample(3, 7), s.sample(3, 7), s.sample(3, 8)
    assert np.array_equal(a.users.numpy(), b.users.numpy()) and np.array_equal(a.neg.numpy(), b.neg.numpy())
    assert not np.array_equal(a.users.numpy(), c.users.numpy())


def test_sampler_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown sampler"):
        TripleSampler(train_matrix(), "bigear")
    with pytest.raises(ValueError, match="no interactions"):
        TripleSampler(sp.csr_matrix((3, 4), dtype=np.float32))
    full = sp.csr_matrix(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="every item"):
        TripleSampler(full)


def test_batches_are_equal_sized_and_cover_every_row():
    t = TripleSampler(train_matrix()).sample(0, 0)
    sizes = [len(u) for u, _, _ in t.batches(100)]
    assert len(sizes) == -(-len(t) // 100) and max(sizes) - min(sizes) <= 1 and sum(sizes) == len(t)
    assert max(sizes) <= 100
