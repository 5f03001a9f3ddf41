
import pytest
import torch

from qlib.graph import build_norm_adj
from qlib.metrics import evaluate
from qlib.models import L2QGCN, L2QGCNConfig
from qlib.quantizers import SignSTE, binary_codes, l1_scale, sign_ste
from qlib.train import TrainConfig, evaluation_split, fit, seed_everything


def test_sign_ste_forward_and_clipped_backward():
    x = torch.tensor([-2.0, -0.5, 0.0, 0.3, 1.0, 1.5], requires_grad=True)
    q = sign_ste(x)
    assert q.tolist() == [-1, -1, 1, 1, 1, 1]
    q.backward(torch.full_like(x, 3.0))
    assert x.grad.tolist() == [0, 3, 3, 3, 3, 0]  # passes where |x| <= 1 (Eq. 10)
    assert binary_codes(q).tolist() == [0, 0, 1, 1, 1, 1]


def test_l1_scale_is_mean_abs_without_gradient():
    x = torch.tensor([[1.0, -3.0], [0.5, 0.5]], requires_grad=True)
    s = l1_scale(x)
    assert s.squeeze(1).tolist() == [2.0, 0.5] and not s.requires_grad


def test_disabled_quantizer_is_identity():
    m = SignSTE()
    m.enabled = False
    x = torch.randn(5)
    assert torch.equal(m(x), x)


def make(data, **kw):
    seed_everything(0)
    cfg = L2QGCNConfig(emb_dim=16, code_dim=16, n_layers=2, **kw)
    return L2QGCN(build_norm_adj(data.train), data.n_users, data.n_items, cfg)


def test_end_codes_are_binary_and_anl_codes_are_rescaled(synth):
    end = make(synth, variant="end")
    u, i = end.forward()
    assert set(torch.unique(end.codes()[1]).tolist()) == {-1.0, 1.0}
    anl = make(synth, variant="anl")
    anl.on_epoch_start(10, 10)  # past the annealing point: quantized
    q = anl.codes()[0]
    layers = anl._layers()
    h = layers[0] @ anl.transform
    torch.testing.assert_close(q, torch.sign(h) * h.abs().mean(1, keepdim=True))


def test_annealing_switches_quantization_on_halfway(synth):
    m = make(synth, variant="anl")
    m.on_epoch_start(4, 10)
    assert not m.quantize.enabled
    m.on_epoch_start(5, 10)
    assert m.quantize.enabled
    end = make(synth, variant="end")
    end.on_epoch_start(0, 10)
    assert end.quantize.enabled


def test_storage_bits_follow_eq14(synth):
    n = synth.n_users + synth.n_items
    assert make(synth, variant="end").storage_bits() == 3 * n * 16
    assert make(synth, variant="anl").storage_bits() == 3 * n * (16 + 32)
    assert make(synth, variant="end", layerwise=False).storage_bits() == n * 16
    fp32 = 32 * n * 16
    assert fp32 / make(synth, variant="end").storage_bits() == pytest.approx(32 / 3)  # r_end = 32/(L+1)


def test_loss_parts_follow_the_ablation_switches(synth):
    u, p, n = torch.tensor([0, 1]), torch.tensor([2, 3]), torch.tensor([4, 5])
    assert set(make(synth).loss(u, p, n)) == {"bpr", "rec", "reg"}
    assert set(make(synth, use_rec=False).loss(u, p, n)) == {"bpr", "reg"}
    assert set(make(synth, use_bpr=False).loss(u, p, n)) == {"rec", "reg"}
    with pytest.raises(ValueError, match="at least one"):
        make(synth, use_rec=False, use_bpr=False)
    assert make(synth, variant="anl", rescale="learned").learned_scale.shape == (synth.n_users + synth.n_items, 3)


def test_l2q_gcn_learns_on_synthetic_data(synth):
    m = make(synth, variant="end")
    target, exclude = evaluation_split(synth, "test")
    before = evaluate(m.scorer(), target, exclude, ks=(10,))["recall@10"]
    fit(m, synth, TrainConfig(epochs=40, batch_size=256, lr=0.01, eval_every=10, eval_ks=(10,),
                              select_split="test", select_metric="recall@10", progress=False))
    after = evaluate(m.scorer(), target, exclude, ks=(10,))["recall@10"]
    assert after > before + 0.05, (before, after)


def test_annealing_phase_is_never_selected(synth):
    m = make(synth, variant="anl")
    res = fit(m, synth, TrainConfig(epochs=20, batch_size=256, lr=0.01, eval_every=2, eval_ks=(10,),
                                    select_split="test", select_metric="recall@10", progress=False))
    assert res.best_epoch > 10  # quantization switches on at epoch 10 (0-based), the first selectable eval is 12
    assert [h["selectable"] for h in res.history if "selectable" in h] == [False] * 5 + [True] * 5
