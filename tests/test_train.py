from dataclasses import replace

import pytest
import torch

from qlib.graph import build_norm_adj
from qlib.metrics import evaluate
from qlib.models import LightGCN, LightGCNConfig
from qlib.train import TrainConfig, evaluation_split, fit, seed_everything

CFG = TrainConfig(epochs=30, batch_size=256, lr=0.01, eval_every=5, eval_ks=(5, 10), select_split="test",
                  select_metric="recall@10", progress=False)


def make_model(data, seed=0, dim=16):
    seed_everything(seed)
    return LightGCN(build_norm_adj(data.train), data.n_users, data.n_items, LightGCNConfig(dim=dim, n_layers=2))


def test_training_beats_the_untrained_model(synth):
    model = make_model(synth)
    target, exclude = evaluation_split(synth, "test")
    before = evaluate(model.scorer(), target, exclude, ks=(10,))["recall@10"]
    res = fit(model, synth, CFG)
    after = evaluate(model.scorer(), target, exclude, ks=(10,))["recall@10"]
    assert after > before + 0.1, (before, after)
    assert res.best_value == pytest.approx(after)  # the model holds the best evaluation's parameters
    assert res.history[-1]["epoch"] == 30


def test_same_seed_same_numbers(synth):
    a = fit(make_model(synth), synth, CFG)
    b = fit(make_model(synth), synth, CFG)
    assert a.select_metrics == b.select_metrics and a.best_epoch == b.best_epoch


def test_killed_run_resumes_to_identical_result(synth, tmp_path):
    cfg = replace(CFG, checkpoint_dir=str(tmp_path / "ckpt"))
    straight = fit(make_model(synth), synth, replace(CFG))
    # "kill" after the first evaluation (its checkpoint survives), then resume to 30
    fit(make_model(synth), synth, replace(cfg, epochs=30, max_wall_time_s=0.0))  # stops after first eval
    resumed = fit(make_model(synth, seed=123), synth, cfg)  # a different init is overwritten by the checkpoint
    assert resumed.select_metrics == straight.select_metrics
    assert resumed.best_epoch == straight.best_epoch
    assert straight.resumed_from_epoch == 0 and resumed.resumed_from_epoch == CFG.eval_every


def test_checkpoint_with_other_settings_is_refused(synth, tmp_path):
    cfg = replace(CFG, epochs=5, checkpoint_dir=str(tmp_path))
    fit(make_model(synth), synth, cfg)
    with pytest.raises(ValueError, match="different settings"):
        fit(make_model(synth), synth, replace(cfg, lr=0.5))


def test_checkpoint_of_another_model_layout_is_refused_with_the_fix(synth, tmp_path):
    cfg = replace(CFG, epochs=5, checkpoint_dir=str(tmp_path))
    fit(make_model(synth), synth, cfg)
    with pytest.raises(ValueError, match="does not fit this model.*delete it"):
        fit(make_model(synth, dim=8), synth, cfg)    # same settings, another parameter shape


def test_clean_protocol_selects_on_validation(synth_clean, synth):
    res = fit(make_model(synth_clean), synth_clean, replace(CFG, select_split="valid"))
    assert all(k.startswith("valid_") for h in res.history for k in h if "@" in k)
    with pytest.raises(ValueError, match="no validation split"):
        fit(make_model(synth), synth, replace(CFG, select_split="valid"))


def test_nan_loss_stops_with_a_clear_error(synth):
    model = make_model(synth)
    with torch.no_grad():
        model.embedding[0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        fit(model, synth, replace(CFG, epochs=1))


def test_target_stops_early(synth):
    res = fit(make_model(synth), synth, replace(CFG, target=0.0))
    assert res.stopped == "target" and res.epochs_run == CFG.eval_every


def test_compiled_loss_matches_eager(synth):
    a, b = make_model(synth), make_model(synth)
    b.compile_loss()
    u, p, n = torch.tensor([0, 1, 2, 3]), torch.tensor([5, 6, 7, 8]), torch.tensor([9, 10, 11, 12])
    la, lb = a.loss(u, p, n), b.loss(u, p, n)
    for k in la:
        torch.testing.assert_close(la[k], lb[k], rtol=1e-5, atol=1e-7)
    sum(la.values()).backward()
    sum(lb.values()).backward()
    torch.testing.assert_close(a.embedding.grad, b.embedding.grad, rtol=1e-5, atol=1e-7)


def test_l2_term_by_row_counts_equals_the_gathered_rows():
    """sum_sq_rows (the heads' L2 term, a speed lever) has the value and gradient of gathering the rows,
    repeated rows included."""
    from qlib.models.base import l2_reg, sum_sq_rows

    gen = torch.Generator().manual_seed(0)
    table = torch.randn(50, 8, generator=gen, dtype=torch.float64, requires_grad=True)
    idx = [torch.randint(0, 50, (200,), generator=gen) for _ in range(3)]  # many repeats
    fast = 0.5 * sum_sq_rows(table, *idx) / 200
    (g_fast,) = torch.autograd.grad(fast, table)
    slow = l2_reg(*(table[i] for i in idx))
    (g_slow,) = torch.autograd.grad(slow, table)
    assert fast.item() == pytest.approx(slow.item(), rel=1e-12)
    assert torch.allclose(g_fast, g_slow, rtol=1e-12, atol=1e-14)
    assert (g_slow[torch.cat(idx).unique()] != 0).all() and fast.item() > 0


@pytest.mark.parametrize("same_table", [True, False])
def test_row_dots_in_chunks_equals_the_gathered_product(monkeypatch, same_table):
    """row_dots (the heads' scores, a speed lever) has the value and gradients of (x[a] * y[b]).sum(1), over
    chunk boundaries, with repeated rows and with x and y the same table (LEGCF's h) or two (user, item)."""
    import qlib.models.base as base

    monkeypatch.setattr(base, "ROW_DOTS_CHUNK_ELEMENTS", 7 * 8)   # 7 rows a chunk: 300 rows span 43 chunks
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(40, 8, generator=gen, dtype=torch.float64, requires_grad=True)
    y = x if same_table else torch.randn(30, 8, generator=gen, dtype=torch.float64, requires_grad=True)
    a = torch.randint(0, 40, (300,), generator=gen)
    b = torch.randint(0, y.shape[0], (300,), generator=gen)
    w = torch.randn(300, generator=gen, dtype=torch.float64)
    fast = base.row_dots(x, a, y, b)
    slow = (x[a] * y[b]).sum(1)
    torch.testing.assert_close(fast, slow, rtol=0, atol=0)
    params = (x,) if same_table else (x, y)
    g_fast = torch.autograd.grad((w * fast).sum(), params)
    g_slow = torch.autograd.grad((w * slow).sum(), params)
    for gf, gs in zip(g_fast, g_slow):
        torch.testing.assert_close(gf, gs, rtol=1e-12, atol=1e-12)
        assert gf.abs().sum() > 0
    assert torch.autograd.gradcheck(lambda xx: base.row_dots(xx, a[:20], xx, b[:20] % 40), (x.detach().requires_grad_(),))
