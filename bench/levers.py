"""Before/after timings of each training-speed lever, measured side by side in one run.

Levers: CSR vs COO sparse products; the symmetric custom autograd backward vs torch's built-in sparse
backward; vectorised vs per-row rejection negative sampling; top-k vs full sort in evaluation; batch size
(per-epoch cost); torch.compile of the dense per-triple part of the loss (a full training step); the L2
term by row counts instead of gathered rows (a full compiled step); evaluation hits by key lookup instead
of a dense mask. Prints a table and writes results/bench/levers_<ds>.json.

    python bench/levers.py [--dataset gowalla] [--smoke]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.common import add_output_args, parse_with_output, timeit  # noqa: E402


def step_fn(model, trip, lr: float = 1e-3):
    """``step(batch_size)``: one Adam step of ``model`` on the first ``batch_size`` triples of ``trip``."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)

    def step(bs: int) -> None:
        loss = sum(model.loss(trip.users[:bs], trip.pos[:bs], trip.neg[:bs]).values())
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def loop_negative_sampling(train, users, rng) -> np.ndarray:
    """The reference implementation's per-row rejection sampling (what the vectorised sampler replaces)."""
    out = np.empty(len(users), dtype=np.int64)
    n_items = train.shape[1]
    for j, u in enumerate(users):
        pos = set(train.indices[train.indptr[u]:train.indptr[u + 1]].tolist())
        while True:
            i = int(rng.integers(n_items))
            if i not in pos:
                out[j] = i
                break
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="gowalla")
    add_output_args(p)
    args = parse_with_output(p, argv)
    if args.smoke:
        args.dataset = "gowalla-mini"

    from qlib.data import load_dataset
    from qlib.experiment import device_name
    from qlib.graph import build_norm_adj, sym_spmm
    from qlib.models import LightGCN, LightGCNConfig
    from qlib.record import provenance, write_json
    from qlib.sampling import TripleSampler

    data = load_dataset(args.dataset)
    adj = build_norm_adj(data.train)
    n = adj.shape[0]
    x = torch.randn(n, 64)
    rows = []

    def add(lever, before_name, before_s, after_name, after_s, unit="s/call"):
        rows.append({"lever": lever, "before": before_name, "before_s": before_s, "after": after_name,
                     "after_s": after_s, "speedup": before_s / after_s, "unit": unit})

    coo = adj.to_sparse_coo().coalesce()
    add("sparse layout (A x, d=64)", "COO torch.sparse.mm", timeit(lambda: torch.sparse.mm(coo, x)),
        "CSR torch.sparse.mm", timeit(lambda: torch.sparse.mm(adj, x)))

    def builtin():
        xx = x.clone().requires_grad_(True)
        torch.sparse.mm(adj, torch.sparse.mm(adj, xx)).sum().backward()

    def custom():
        xx = x.clone().requires_grad_(True)
        sym_spmm(adj, sym_spmm(adj, xx)).sum().backward()

    add("backward (2 layers fwd+bwd)", "built-in sparse autograd", timeit(builtin),
        "symmetric custom autograd", timeit(custom))

    sampler = TripleSampler(data.train)
    users = sampler.active_users[np.random.default_rng(0).integers(0, len(sampler.active_users), data.train.nnz)]
    rng = np.random.default_rng(0)
    n_loop = min(len(users), 100_000)
    t_loop = timeit(lambda: loop_negative_sampling(data.train, users[:n_loop], rng), repeat=1, warmup=0)
    add("negative sampling (one epoch)", "per-row rejection loop", t_loop * len(users) / n_loop,
        "vectorised rejection", timeit(lambda: sampler.sample(0, 0), repeat=2), unit="s/epoch")

    torch.manual_seed(0)
    model = LightGCN(adj, data.n_users, data.n_items, LightGCNConfig())
    scorer = model.scorer()
    batch = torch.arange(min(1024, data.n_users))
    scores = scorer(batch)
    add("evaluation ranking (1,024 users)", "full argsort", timeit(lambda: torch.argsort(scores, dim=1, descending=True)[:, :100], repeat=2),
        "torch.topk(k=100)", timeit(lambda: torch.topk(scores, 100, dim=1), repeat=2))

    from qlib.metrics import _rows_cols, top_hits
    from qlib.train import evaluation_split

    target, _ = evaluation_split(data, "test")
    top = torch.topk(scores, 20, dim=1).indices
    users_np = batch.numpy()

    def dense_mask_hits():
        truth = torch.zeros(scores.shape, dtype=torch.bool)
        r, c = _rows_cols(target, users_np)
        truth[torch.from_numpy(r), torch.from_numpy(c)] = True
        return truth.gather(1, top)

    def key_lookup_hits():
        return top_hits(top, target, users_np)

    assert torch.equal(dense_mask_hits(), key_lookup_hits())
    add("evaluation hits (1,024 users, top 20)", "dense [b, n_items] mask", timeit(dense_mask_hits, repeat=3),
        "key lookup (torch.isin)", timeit(key_lookup_hits, repeat=3))

    trip = sampler.sample(0, 0)
    step = step_fn(model, trip)

    small, large = 2048, min(65536, len(trip))
    t_small, t_large = timeit(lambda: step(small), repeat=3), timeit(lambda: step(large), repeat=3)
    steps_small, steps_large = -(-len(trip) // small), -(-len(trip) // large)
    add("batch size (one epoch of steps)", f"batch {small}", t_small * steps_small,
        f"batch {large}", t_large * steps_large, unit="s/epoch")

    # torch.compile of the dense per-triple part of the loss, as the trainer uses it (model.compile_loss)
    huge = min(262144, len(trip))
    try:
        compiled_model = LightGCN(adj, data.n_users, data.n_items, LightGCNConfig())
        compiled_model.compile_loss()
        cstep = step_fn(compiled_model, trip)

        t0 = time.perf_counter()
        cstep(huge)
        compile_s = time.perf_counter() - t0
        t_compiled = timeit(lambda: cstep(huge), repeat=3)
        add(f"torch.compile of the loss (batch {huge} step)", "eager", timeit(lambda: step(huge), repeat=3),
            "compiled", t_compiled)
        rows[-1]["compile_time_s"] = compile_s

        from qlib.compiling import maybe_compile
        from qlib.models.base import bpr_loss, l2_reg

        def gathered_l2_head(u_all, i_all, ego, n_users, users, pos, neg):  # the head before the lever
            u, p_, n_ = u_all[users], i_all[pos], i_all[neg]
            reg = l2_reg(ego[users], ego[n_users + pos], ego[n_users + neg])
            return bpr_loss((u * p_).sum(1), (u * n_).sum(1)), reg

        gathered_model = LightGCN(adj, data.n_users, data.n_items, LightGCNConfig())
        gathered_model._head = maybe_compile(gathered_l2_head)
        gstep = step_fn(gathered_model, trip)
        gstep(huge)  # compile
        add(f"L2 term by row counts (compiled batch {huge} step)", "gathered ego rows",
            timeit(lambda: gstep(huge), repeat=3), "row counts (sum_sq_rows)", t_compiled)
    except Exception as err:  # no compiler toolchain, unsupported op, ...
        rows.append({"lever": "torch.compile of the loss", "error": f"{type(err).__name__}: {str(err)[:200]}"})

    out = {"benchmark": "levers", "dataset": args.dataset, "rows": rows,
           "provenance": provenance(device=device_name())}
    path = write_json(out, args.out / f"levers_{'smoke' if args.smoke else args.dataset}.json")
    print(f"{'lever':36} {'before':28} {'after':28} {'speed-up':>8}")
    for r in rows:
        if "error" in r:
            print(f"{r['lever']:36} not measured: {r['error'][:80]}")
        else:
            print(f"{r['lever']:36} {r['before'][:28]:28} {r['after'][:28]:28} {r['speedup']:>7.1f}x")
    print("->", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
