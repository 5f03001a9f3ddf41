"""The baselines of L2Q-GCN's Table 2: NGCF, NeuMF, HashNet, HashGNN (hard / soft), Quant-gumbel, LSH."""
import numpy as np
import pytest
import torch

from qlib.graph import build_norm_adj
from qlib.metrics import evaluate
from qlib.models import (
    NGCF,
    FixedCodes,
    HashGNN,
    HashGNNConfig,
    HashNet,
    HashNetConfig,
    LightGCN,
    LightGCNConfig,
    NeuMF,
    NeuMFConfig,
    NGCFConfig,
    QuantGumbel,
    QuantGumbelConfig,
    lsh_codes,
)
from qlib.models.hashgnn import guidance_beta
from qlib.models.hashnet import continuation_beta
from qlib.models.quant_gumbel import annealed_temperature, gumbel_sign
from qlib.train import TrainConfig, evaluation_split, fit, seed_everything

D = 8  # embedding / code width of the small models
U, P, N = torch.tensor([0, 1, 2, 3]), torch.tensor([0, 5, 9, 13]), torch.tensor([2, 7, 11, 17])


@pytest.fixture
def adj(synth):
    return build_norm_adj(synth.train)


def make(name, data, adj, seed=0, **kw):
    seed_everything(seed)
    n_u, n_i = data.n_users, data.n_items
    if name == "ngcf":
        return NGCF(adj, n_u, n_i, NGCFConfig(dim=D, n_layers=2, **kw))
    if name == "neumf":
        return NeuMF(n_u, n_i, NeuMFConfig(gmf_dim=D, mlp_dims=(2 * D, D, 4), **kw))
    if name == "hashnet":
        return HashNet(adj, n_u, n_i, HashNetConfig(emb_dim=D, code_dim=D, **kw))
    if name in ("hashgnn", "hashgnn_soft", "hashgnn_rerank"):
        variant = {"hashgnn": {}, "hashgnn_soft": {"variant": "soft"},
                   "hashgnn_rerank": {"variant": "soft", "soft_eval": "rerank", "rerank_k": 30}}[name]
        return HashGNN(adj, n_u, n_i, HashGNNConfig(emb_dim=D, hidden_dim=D, code_dim=D, beta_step=0.1,
                                                    beta_every=1, **variant, **kw))
    if name == "gumbel":
        return QuantGumbel(adj, n_u, n_i, QuantGumbelConfig(emb_dim=D, code_dim=D, **kw))
    raise KeyError(name)


def random_recall(data, k=20):
    """Expected recall@k of a uniformly random ranking of each test user's non-training items."""
    users = np.flatnonzero(np.diff(data.test.indptr))
    candidates = data.n_items - np.diff(data.train.indptr)[users]
    return float(np.mean(np.minimum(1.0, k / candidates)))


def is_binary(x):
    return bool(((x == 1) | (x == -1)).all())


# ----------------------------------------------------------------------------------------------- NGCF

def test_ngcf_shapes_dropout_normalisation_and_storage(synth, adj):
    m = make("ngcf", synth, adj, mess_dropout=0.5)
    u, i = m.forward()
    assert u.shape == (synth.n_users, 3 * D) and i.shape == (synth.n_items, 3 * D)
    assert not torch.equal(m.forward()[0], u)  # message dropout is active in training
    m.eval()
    u1, u2 = m.forward()[0], m.forward()[0]
    assert torch.equal(u1, u2)
    norms = u1[:, D:2 * D].norm(dim=1)
    torch.testing.assert_close(norms, torch.ones_like(norms))  # layer outputs are L2-normalised
    torch.testing.assert_close(u1[:, :D], m.embedding[: synth.n_users])  # the ego layer is not
    parts = make("ngcf", synth, adj).loss(U, P, N)
    assert set(parts) == {"bpr", "reg"} and all(torch.isfinite(v) for v in parts.values())
    n = synth.n_users + synth.n_items
    assert m.storage_bits() == 32 * (n * D + 2 * 2 * (D * D + D))  # ego table + (W1, b1, W2, b2) per layer


def test_ngcf_rejects_bad_config(synth, adj):
    with pytest.raises(ValueError, match="mess_dropout"):
        make("ngcf", synth, adj, mess_dropout=1.0)
    with pytest.raises(ValueError, match="at least one"):
        NGCF(adj, synth.n_users, synth.n_items, NGCFConfig(n_layers=0))


# ----------------------------------------------------------------------------------------------- NeuMF

def test_neumf_scorer_matches_pairwise_scores_in_any_chunking(synth, adj):
    m = make("neumf", synth, adj)
    users = torch.tensor([0, 3, 7])
    full = m.scorer()(users)
    assert full.shape == (3, synth.n_items)
    pairs_u, pairs_i = users.repeat_interleave(synth.n_items), torch.arange(synth.n_items).repeat(3)
    with torch.no_grad():
        expected = m.score(pairs_u, pairs_i).view(3, synth.n_items)
    torch.testing.assert_close(full, expected)
    m.config.score_budget = 5  # one item per chunk
    torch.testing.assert_close(m.scorer()(users), expected)


def test_neumf_losses_shapes_and_storage(synth, adj):
    m = make("neumf", synth, adj)
    u, i = m.forward()
    assert u.shape == (synth.n_users, D + D) and i.shape == (synth.n_items, D + D)  # [GMF | MLP half]
    bce = m.loss(U, P, N)
    assert set(bce) == {"bce"} and torch.isfinite(bce["bce"])
    with torch.no_grad():
        sp, sn = m.score(U, P), m.score(U, N)
    expected = -(torch.log(torch.sigmoid(sp)) + torch.log(1 - torch.sigmoid(sn))).mean()
    torch.testing.assert_close(bce["bce"].detach(), expected)
    assert set(make("neumf", synth, adj, loss="bpr", reg=1e-3).loss(U, P, N)) == {"bpr", "reg"}
    n_params = (synth.n_users + synth.n_items) * (D + D) + (2 * D * D + D) + (D * 4 + 4) + (D + 4 + 1)
    assert m.storage_bits() == 32 * n_params
    with pytest.raises(ValueError, match="unknown loss"):
        make("neumf", synth, adj, loss="hinge")
    with pytest.raises(ValueError, match="even"):
        NeuMF(4, 4, NeuMFConfig(mlp_dims=(7, 4)))


# --------------------------------------------------------------------------------------------- HashNet

def test_hashnet_relaxes_in_training_and_signs_in_evaluation(synth, adj):
    m = make("hashnet", synth, adj)
    m.on_epoch_start(30, 100)
    assert float(m.beta) == pytest.approx(continuation_beta(30, 1.0, 0.1, 0.5)) == pytest.approx(2.0)
    x = m.hash_inputs().detach()
    u, i = m.forward()
    torch.testing.assert_close(u.detach(), torch.tanh(2.0 * x[: synth.n_users]))
    m.eval()
    u, i = m.forward()
    assert u.shape == (synth.n_users, D) and is_binary(u) and is_binary(i)
    assert torch.equal(u, torch.where(x[: synth.n_users] >= 0, 1.0, -1.0))
    assert m.storage_bits() == (synth.n_users + synth.n_items) * D
    m.train()
    parts = m.loss(U, P, N)
    assert set(parts) == {"bpr", "reg"} and all(torch.isfinite(v) for v in parts.values())


def test_hashnet_beta_grows_across_epochs_and_rejects_bad_schedules(synth, adj):
    m = make("hashnet", synth, adj)
    betas = []
    for epoch in (0, 10, 100, 1000):
        m.on_epoch_start(epoch, 1000)
        betas.append(float(m.beta))
    assert betas[0] == 1.0 and betas == sorted(betas) and betas[-1] == pytest.approx(101 ** 0.5)
    assert "beta" in m.state_dict()  # the selected state carries its beta
    with pytest.raises(ValueError, match="continuation"):
        make("hashnet", synth, adj, beta_init=0.0)


# --------------------------------------------------------------------------------------------- HashGNN

def test_hashgnn_codes_guidance_schedule_and_loss(synth, adj):
    m = make("hashgnn", synth, adj)
    assert [guidance_beta(e, 0.02, 2, 1.0) for e in (0, 1, 2, 3, 4)] == [0.0, 0.0, 0.02, 0.02, 0.04]
    assert guidance_beta(500, 0.02, 2, 1.0) == 1.0  # stays at beta_max
    m.on_epoch_start(3, 10)
    assert float(m.beta) == pytest.approx(0.3)
    m.eval()
    u, i = m.forward()
    assert u.shape == (synth.n_users, D) and i.shape == (synth.n_items, D) and is_binary(u) and is_binary(i)
    zu, zi = m.continuous()
    assert max(zu.abs().max(), zi.abs().max()) < 1 and torch.equal(u, torch.where(zu >= 0, 1.0, -1.0))
    assert torch.equal(i, torch.where(zi >= 0, 1.0, -1.0))
    assert m.storage_bits() == (synth.n_users + synth.n_items) * D
    m.train()
    parts = m.loss(U, P, N)
    assert set(parts) == {"rec", "bpr"} and all(torch.isfinite(v) for v in parts.values())
    m.on_epoch_start(100, 100)  # beta = 1: every row uses its code; STE still trains the encoder
    sum(m.loss(U, P, N).values()).backward()
    assert m.embedding.grad is not None and m.embedding.grad.abs().sum() > 0
    assert set(make("hashgnn", synth, adj, reg=1e-4).loss(U, P, N)) == {"rec", "bpr", "reg"}


def test_hashgnn_soft_bernoulli_mixes_codes_and_continuous(synth, adj):
    users = torch.arange(synth.n_users)
    hard = make("hashgnn", synth, adj)
    all_codes = make("hashgnn_soft", synth, adj, soft_code_prob=1.0)
    all_cont = make("hashgnn_soft", synth, adj, soft_code_prob=0.0)
    torch.testing.assert_close(all_codes.scorer()(users), hard.scorer()(users))
    zu, zi = all_cont.continuous()
    torch.testing.assert_close(all_cont.scorer()(users), (zu @ zi.t()).detach())
    n = synth.n_users + synth.n_items
    assert all_codes.storage_bits() == n * D + n and all_cont.storage_bits() == n * 32 * D + n
    half = make("hashgnn_soft", synth, adj)
    half.on_epoch_start(5, 10)  # beta = 0.5 is the evaluation's P(code) when soft_code_prob is None
    mu, mi = half._soft_mask()
    n_code = int(mu.sum() + mi.sum())
    assert 0.3 * n < n_code < 0.7 * n
    assert half.storage_bits() == n_code * D + (n - n_code) * 32 * D + n
    torch.testing.assert_close(half.scorer()(users), half.scorer()(users))  # the draw is fixed


def test_hashgnn_soft_rerank_orders_code_candidates_by_continuous_scores(synth, adj):
    m = make("hashgnn_rerank", synth, adj)
    u = torch.tensor([0, 1])
    scores = m.scorer()(u)
    with torch.no_grad():
        zu, zi = m.continuous()
        codes_u, codes_i = m.code(zu[u]), m.code(zi)
        cand = torch.topk(codes_u @ codes_i.t(), 30, dim=1).indices
    for row in range(2):
        top = torch.topk(scores[row], 30).indices
        assert set(top.tolist()) == set(cand[row].tolist())
        cont = zu[u[row]] @ zi[top].t()
        assert torch.all(cont[:-1] >= cont[1:] - 1e-6)  # re-ranked by the continuous inner product
    assert m.storage_bits() == (synth.n_users + synth.n_items) * 33 * D


def test_hashgnn_rejects_bad_config(synth, adj):
    with pytest.raises(ValueError, match="variant"):
        make("hashgnn", synth, adj, variant="medium")
    with pytest.raises(ValueError, match="soft_eval"):
        make("hashgnn", synth, adj, soft_eval="faiss")
    with pytest.raises(ValueError, match="soft_code_prob"):
        make("hashgnn_soft", synth, adj, soft_code_prob=1.5)


# ---------------------------------------------------------------------------------------- Quant-gumbel

def test_gumbel_sign_relaxes_and_hardens():
    torch.manual_seed(0)
    h = torch.randn(2000)
    soft = gumbel_sign(h, 1.0)
    assert soft.abs().max() < 1 and not is_binary(soft)
    cold = gumbel_sign(h, 1e-3)
    assert (cold.abs() > 0.99).float().mean() > 0.99  # tau -> 0: one-hot, i.e. bits in {-1, +1}
    # logits (h, -h): P(bit = +1) = sigmoid(2h), so the mean hard bit is tanh(h)
    bits = gumbel_sign(torch.full((40000,), 0.5), 1e-3).sign()
    assert float(bits.mean()) == pytest.approx(float(torch.tanh(torch.tensor(0.5))), abs=0.02)
    big = torch.tensor([8.0, -8.0, 12.0])
    assert torch.equal(torch.sign(gumbel_sign(big, 0.1)), torch.sign(big))


def test_quant_gumbel_temperature_schedule(synth, adj):
    taus = [annealed_temperature(e, 1.0, 0.5, 0.1, 3) for e in range(8)]
    assert taus == [1.0, 1.0, 1.0, 0.5, 0.25, 0.125, 0.1, 0.1]
    m = make("gumbel", synth, adj)
    m.on_epoch_start(0, 100)
    t0 = float(m.tau)
    m.on_epoch_start(50, 100)
    assert t0 == 1.0 and float(m.tau) == pytest.approx(max(0.97 ** 41, 0.1))
    assert "tau" in m.state_dict()
    with pytest.raises(ValueError, match="temperature"):
        make("gumbel", synth, adj, tau_decay=1.5)


def test_quant_gumbel_codes_loss_and_storage(synth, adj):
    m = make("gumbel", synth, adj)
    parts = m.loss(U, P, N)
    assert set(parts) == {"bpr", "rec", "reg"} and all(torch.isfinite(v) for v in parts.values())
    sum(parts.values()).backward()
    assert m.transform.grad.abs().sum() > 0  # gradients reach W through the relaxation
    m.eval()
    codes = m.codes()
    assert len(codes) == 3 and all(is_binary(c) for c in codes)
    u, _ = m.forward()
    torch.testing.assert_close(u, sum(codes)[: synth.n_users] / 3)  # mean of the layer codes, as L2Q-GCN
    assert m.storage_bits() == 3 * (synth.n_users + synth.n_items) * D


# ------------------------------------------------------------------------------------------------- LSH

def test_lsh_identical_vectors_collide_and_codes_are_deterministic():
    torch.manual_seed(0)
    e = torch.randn(5, 16)
    e = torch.cat([e, e[:2]])  # rows 5, 6 repeat rows 0, 1
    c = lsh_codes(e, 32, seed=3)
    assert c.shape == (7, 32) and is_binary(c)
    assert torch.equal(c[5], c[0]) and torch.equal(c[6], c[1])
    assert torch.equal(lsh_codes(e, 32, seed=3), c) and not torch.equal(lsh_codes(e, 32, seed=4), c)
    assert torch.equal(lsh_codes(2.0 * e, 32, seed=3), c)  # sign random projections ignore the scale
    with pytest.raises(ValueError):
        lsh_codes(torch.randn(3), 8)


def test_fixed_codes_scores_are_code_inner_products():
    gen = torch.Generator().manual_seed(0)
    cu = torch.where(torch.rand(6, 10, generator=gen) > 0.5, 1.0, -1.0)
    ci = torch.where(torch.rand(9, 10, generator=gen) > 0.5, 1.0, -1.0)
    m = FixedCodes(cu, ci)
    users = torch.tensor([0, 4, 5])
    torch.testing.assert_close(m.scorer()(users), cu[users] @ ci.t())
    hamming = (cu[users][:, None, :] != ci[None]).sum(-1)
    torch.testing.assert_close(m.scorer()(users), (10 - 2 * hamming).float())
    assert m.storage_bits() == (6 + 9) * 10
    with pytest.raises(ValueError, match="only -1 and \\+1"):
        FixedCodes(cu * 0.5, ci)
    with pytest.raises(TypeError):
        m.loss(users, users, users)


def test_lsh_of_a_trained_lightgcn_beats_random(synth, adj):
    seed_everything(0)
    lgc = LightGCN(adj, synth.n_users, synth.n_items, LightGCNConfig(dim=16, n_layers=2))
    fit(lgc, synth, TrainConfig(epochs=30, batch_size=512, lr=0.01, eval_every=10, progress=False, select_split="test"))
    with torch.no_grad():
        u, i = lgc.forward()
    codes = FixedCodes.from_lsh(u, i, n_bits=64, seed=0)
    target, exclude = evaluation_split(synth, "test")
    recall = evaluate(codes.scorer(), target, exclude, ks=(20,))["recall@20"]
    assert recall > random_recall(synth) + 0.2, recall


# ------------------------------------------------------------------------------------ they all train

@pytest.mark.parametrize("name", ["ngcf", "neumf", "hashnet", "hashgnn", "hashgnn_soft", "hashgnn_rerank", "gumbel"])
def test_each_baseline_trains_past_random_ranking(synth, adj, name):
    m = make(name, synth, adj)
    res = fit(m, synth, TrainConfig(epochs=30, batch_size=512, lr=0.01, eval_every=10, progress=False,
                                    select_split="test"))
    target, exclude = evaluation_split(synth, "test")
    recall = evaluate(m.scorer(), target, exclude, ks=(20,))["recall@20"]
    assert recall == pytest.approx(res.best_value)  # the model holds the selected state
    assert recall > random_recall(synth) + 0.2, (name, recall, random_recall(synth))
