"""The experiments behind each table of the book, with their paper settings.

Each function returns :class:`qlib.experiment.Experiment` objects; notebooks run them through
:func:`qlib.experiment.run_experiment` at a profile. Settings and their sources:

- LightGCN paper (He et al. 2020, Table 3): d = 64, L = 3, lambda = 1e-4, early stopping on test
  Recall@20 (the NGCF/LightGCN protocol) -> ``protocol="paper"``; a ``clean`` twin selects on validation.
- L2Q-GCN paper, Table 2 LightGCN row: L = 2 (the paper compares two-layer networks) and d = 128 (the only
  LightGCN dimension the paper states, Fig. 5 / App. Table 3), lambda = 1e-4, K in {20, 40, 60, 80, 100},
  best epoch on the test set (the authors' code line) -> ``protocol="paper"``.
"""
from __future__ import annotations


from .experiment import Experiment
from .models import L2QGCN, L2QGCNConfig, LightGCN, LightGCNConfig
from .recipes import fast_recipe

__all__ = ["lightgcn_factory", "lightgcn_paper_experiments", "l2q_lightgcn_experiments", "L2Q_KS",
           "L2Q_DIMS", "l2q_config", "l2q_factory", "l2q_experiments", "L2Q_ABLATIONS", "l2q_ablation_experiments",
           "l2q_layer_experiments", "l2q_dim_experiments"]

L2Q_KS = (20, 40, 60, 80, 100)


def _recipe(epochs: int | None):
    return fast_recipe(select_metric="recall@20", **({} if epochs is None else {"epochs": epochs}))


def lightgcn_factory(config: LightGCNConfig):
    """A model factory (data, adj) -> LightGCN with ``config``."""
    return lambda data, adj: LightGCN(adj, data.n_users, data.n_items, config)


def lightgcn_paper_experiments(datasets=("gowalla", "yelp2018"), protocols=("paper",), epochs: int | None = None):
    """LightGCN at the LightGCN paper's setting (d = 64, L = 3), fast recipe."""
    cfg = LightGCNConfig(dim=64, n_layers=3, reg=1e-4)
    out = []
    for ds in datasets:
        for protocol in protocols:
            out.append(Experiment(
                paper="LightGCN", table="Table 3", method="LightGCN", dataset=ds, protocol=protocol,
                model_factory=lightgcn_factory(cfg), model_config=cfg,
                train=_recipe(epochs), eval_ks=(20,),
                notes="LightGCN paper setting: d=64, L=3, lambda=1e-4; fast CPU recipe"))
    return out


def l2q_lightgcn_experiments(datasets=("ml-1m", "gowalla", "yelp2018", "pinterest"), epochs: int | None = None):
    """The LightGCN row of L2Q-GCN's Table 2 (L = 2, d = 128), fast recipe, test-set selection."""
    cfg = LightGCNConfig(dim=128, n_layers=2, reg=1e-4)
    return [Experiment(
        paper="L2Q-GCN", table="Table 2", method="LightGCN", dataset=ds, protocol="paper",
        model_factory=lightgcn_factory(cfg), model_config=cfg,
        train=_recipe(epochs), eval_ks=L2Q_KS,
        notes="L2Q-GCN's LightGCN baseline: L=2, d=128 (the dimension the paper states for LightGCN), "
              "lambda=1e-4; fast CPU recipe; NDCG reported in both conventions")
        for ds in datasets]


# Appendix Table 2: embedding size per dataset and variant (B = 2048, lr 1e-3, lambda 1e-4, L = 2 for all)
L2Q_DIMS = {"end": {"ml-1m": 256, "gowalla": 64, "pinterest": 64, "yelp2018": 64},
            "anl": {"ml-1m": 256, "gowalla": 256, "pinterest": 128, "yelp2018": 256}}


def l2q_config(dataset: str, variant: str, **overrides) -> L2QGCNConfig:
    """L2Q-GCN at appendix Table 2's setting for ``dataset``: c = d = the printed embedding size, L = 2,
    lambda = 1e-4 (datasets outside the table, e.g. the embedded one, take Gowalla's)."""
    dim = L2Q_DIMS[variant].get(dataset, L2Q_DIMS[variant]["gowalla"])
    return L2QGCNConfig(**{"variant": variant, "emb_dim": dim, "code_dim": dim, "n_layers": 2, "reg": 1e-4,
                           **overrides})


def l2q_factory(config: L2QGCNConfig):
    """A model factory (data, adj) -> L2QGCN with ``config``."""
    return lambda data, adj: L2QGCN(adj, data.n_users, data.n_items, config)


def _l2q_experiment(ds: str, variant: str, table: str, row: str, cfg: L2QGCNConfig, epochs: int | None,
                    note: str, also: tuple = ()) -> Experiment:
    return Experiment(
        paper="L2Q-GCN", table=table, method=f"L2Q-GCN_{variant}", variant=row, dataset=ds, protocol="paper",
        model_factory=l2q_factory(cfg), model_config=cfg, train=_recipe(epochs), eval_ks=L2Q_KS, also=also,
        notes=f"{note}; c = d = {cfg.code_dim}, L = {cfg.n_layers}, lambda = {cfg.reg:g}; fast CPU recipe; best epoch "
              "on the test set (the authors' protocol)"
              + ("; annealing: first half of the epochs unquantized, never selected" if cfg.anneal else ""))


def l2q_experiments(datasets=("ml-1m", "gowalla", "yelp2018", "pinterest"), variants=("end", "anl"),
                    epochs: int | None = None):
    """The L2Q-GCN_end / _anl rows of Table 2 at appendix Table 2's setting. Each run also serves Table 3's
    ``Best`` row, appendix Table 4's ``L=2`` row and appendix Table 5's row of its own size."""
    out = []
    for ds in datasets:
        for v in variants:
            cfg = l2q_config(ds, v)
            also = (("Table 3", "Best"), ("Appendix Table 4", "L=2"), ("Appendix Table 5", f"d={cfg.code_dim}"))
            out.append(_l2q_experiment(ds, v, "Table 2", "", cfg, epochs, "appendix Table 2 setting", also))
    return out


#: Table 3's ablations: (variant, row label, config overrides, what it removes)
L2Q_ABLATIONS = (
    ("end", "w/o TQ", {"layerwise": False}, "one code of the final (mean) embedding instead of layer-wise codes"),
    ("end", "w/o L_bpr", {"use_bpr": False}, "no BPR loss on the quantized scores (W keeps its initialisation)"),
    ("end", "w/o L_rec", {"use_rec": False}, "no reconstruction loss on the full-precision last layer"),
    ("anl", "w/o RAF", {"rescale": "none"}, "no rescaling factors"),
    ("anl", "w/in LF", {"rescale": "learned"}, "learned rescaling factors instead of the computed ||.||_1/d"),
    ("anl", "w/o AT", {"anneal": False}, "no annealing: quantized from the first epoch"),
)


def l2q_ablation_experiments(datasets=("ml-1m", "gowalla", "yelp2018", "pinterest"), epochs: int | None = None):
    """Table 3: each ablation of L2Q-GCN_end / _anl at the dataset's appendix Table 2 setting (its ``Best``
    row is the Table 2 run)."""
    return [_l2q_experiment(ds, v, "Table 3", row, l2q_config(ds, v, **over), epochs, f"ablation {row}: {what}")
            for ds in datasets for v, row, over, what in L2Q_ABLATIONS]


def l2q_layer_experiments(datasets=("ml-1m", "gowalla", "yelp2018", "pinterest"), layers=(1, 3, 4),
                          variants=("end", "anl"), epochs: int | None = None):
    """Appendix Table 4: L = 1..4 at the dataset's size (L = 2 is the Table 2 run)."""
    return [_l2q_experiment(ds, v, "Appendix Table 4", f"L={n}", l2q_config(ds, v, n_layers=n), epochs,
                            f"layer sweep L = {n}")
            for ds in datasets for v in variants for n in layers]


def l2q_dim_experiments(datasets=("ml-1m", "gowalla", "yelp2018", "pinterest"), dims=(64, 128, 256, 512),
                        variants=("end", "anl"), epochs: int | None = None):
    """Appendix Table 5: c = d in 64..512 at L = 2 (the dataset's own size is the Table 2 run, skipped here)."""
    out = []
    for ds in datasets:
        for v in variants:
            for d in dims:
                if d != l2q_config(ds, v).code_dim:
                    out.append(_l2q_experiment(ds, v, "Appendix Table 5", f"d={d}",
                                               l2q_config(ds, v, emb_dim=d, code_dim=d), epochs, f"size sweep d = {d}"))
    return out


def for_profile(experiments, profile: str):
    """The experiments a profile runs: all of them at ``full``; on the embedded dataset (smoke, quick)
    one per distinct (paper, table, protocol) setting, since every dataset maps to the same data."""
    from .recipes import get_profile

    if not get_profile(profile).use_embedded_data:
        return list(experiments)
    seen, unique = set(), []
    for e in experiments:
        key = (e.paper, e.table, e.method, e.variant, e.protocol)
        if key not in seen:
            seen.add(key)
            unique.append(e)
    return unique
