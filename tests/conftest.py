"""Shared fixtures: small synthetic interaction data (seconds, no data directory needed)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from qlib.data import Dataset


def synthetic_dataset(n_users: int = 60, n_items: int = 80, n_clusters: int = 4, seed: int = 0,
                      protocol: str = "paper") -> Dataset:
    """Users prefer items of their own cluster, so a trained model beats random ranking."""
    rng = np.random.default_rng(seed)
    ucl = rng.integers(0, n_clusters, n_users)
    icl = np.arange(n_items) % n_clusters
    train_r, train_c, test_r, test_c, val_r, val_c = [], [], [], [], [], []
    for u in range(n_users):
        own = np.flatnonzero(icl == ucl[u])
        other = np.flatnonzero(icl != ucl[u])
        items = np.unique(np.concatenate([rng.choice(own, 12, replace=False), rng.choice(other, 2, replace=False)]))
        rng.shuffle(items)
        test, rest = items[:3], items[3:]
        if protocol == "clean":
            val_r += [u]; val_c += [rest[0]]; rest = rest[1:]
        train_r += [u] * len(rest); train_c += list(rest)
        test_r += [u] * len(test); test_c += list(test)
    m = lambda r, c: sp.csr_matrix((np.ones(len(r), np.float32), (r, c)), shape=(n_users, n_items))
    return Dataset(name="synthetic", protocol=protocol, seed=seed, n_users=n_users, n_items=n_items,
                   train=m(train_r, train_c), test=m(test_r, test_c),
                   valid=m(val_r, val_c) if protocol == "clean" else None, files={})


@pytest.fixture
def synth():
    return synthetic_dataset()


@pytest.fixture
def synth_clean():
    return synthetic_dataset(protocol="clean")


@pytest.fixture
def repo_script():
    """Load a script of the repository (``scripts/...``, ``bench/...``) as a module, without running it."""
    def load(relpath: str):
        path = Path(__file__).resolve().parent.parent / relpath
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load
