import numpy as np
import pytest
import scipy.sparse as sp
import torch

from qlib.graph import build_norm_adj, sym_spmm
from qlib.propagation import combine_layers, layer_weights, propagate


def small_train():
    m = sp.random(7, 9, density=0.35, random_state=1, format="csr")
    m.data[:] = 1
    m[0, :] = 0  # an isolated user must not produce NaN
    m.eliminate_zeros()
    return sp.csr_matrix(m)


def dense_norm_adj(train):
    n_u, n_i = train.shape
    a = np.zeros((n_u + n_i, n_u + n_i))
    a[:n_u, n_u:] = train.toarray()
    a[n_u:, :n_u] = train.toarray().T
    deg = a.sum(1)
    d = np.zeros_like(deg)
    d[deg > 0] = deg[deg > 0] ** -0.5
    return d[:, None] * a * d[None, :]


def test_norm_adj_matches_dense_formula():
    train = small_train()
    adj = build_norm_adj(train)
    np.testing.assert_allclose(adj.to_dense().numpy(), dense_norm_adj(train), rtol=1e-6, atol=1e-7)
    assert adj.layout == torch.sparse_csr


def test_symmetric_spmm_gradient_equals_dense():
    train = small_train()
    adj = build_norm_adj(train)
    dense = torch.from_numpy(dense_norm_adj(train)).float()
    x = torch.randn(adj.shape[0], 4, requires_grad=True)
    x2 = x.detach().clone().requires_grad_(True)
    w = torch.randn(adj.shape[0], 4)
    (sym_spmm(adj, sym_spmm(adj, x)) * w).sum().backward()
    (dense @ (dense @ x2) * w).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-5, atol=1e-6)


def test_propagate_returns_every_layer_and_combinations():
    train = small_train()
    adj = build_norm_adj(train)
    x = torch.randn(adj.shape[0], 3)
    layers = propagate(adj, x, 3)
    assert len(layers) == 4 and torch.equal(layers[0], x)
    dense = torch.from_numpy(dense_norm_adj(train)).float()
    torch.testing.assert_close(layers[2], dense @ dense @ x, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(combine_layers(layers, "mean"), sum(layers) / 4)
    torch.testing.assert_close(combine_layers(layers, "sum"), sum(layers))
    w = layer_weights(3)
    assert w == [0.25, 0.5, 0.75, 1.0]
    torch.testing.assert_close(combine_layers(layers, "weighted"), sum(a * b for a, b in zip(w, layers)))
    cat = combine_layers(layers, "concat", w)
    assert cat.shape == (adj.shape[0], 12)
    torch.testing.assert_close(cat[:, 3:6], 0.5 * layers[1])
    with pytest.raises(ValueError, match="unknown layer combination"):
        combine_layers(layers, "max")
