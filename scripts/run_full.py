"""Run full-profile experiments from the catalog in the background, resumably.

Each named group runs its experiments one after another in this process (records land in results/full,
checkpoints under runs/full so a killed run resumes). Running two groups in two processes with one torch
thread each uses a 2-core machine better than one process with two threads (sparse products scale poorly).

    nohup python scripts/run_full.py lightgcn-paper --threads 1 > runs/lightgcn-paper.log 2>&1 &
    python scripts/run_full.py --list
    python scripts/run_full.py legcf-table2 --missing      # unrecorded runs (seeds 2020-2022), estimated times
    python scripts/run_full.py legcf-table2 --device cuda  # on a GPU (default: auto); see scripts/gpu_run.sh
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


DATASETS = ("ml-1m", "gowalla", "yelp2018")
LEGCF_DATASETS = ("gowalla",)   # the only LEGCF dataset whose training split is held here


def groups():
    """Group name -> function returning the experiments (or analysis jobs: callables) to run in order."""
    from qlib import catalog, legcf_analysis

    return {
        "lightgcn-paper": lambda: catalog.lightgcn_paper_experiments(("gowalla", "yelp2018"), ("paper",)),
        "lightgcn-clean": lambda: catalog.lightgcn_paper_experiments(("gowalla",), ("clean",)),
        "lightgcn-long": lambda: catalog.lightgcn_paper_experiments(("gowalla", "yelp2018"), ("paper",), epochs=catalog.LIGHTGCN_LONG_EPOCHS),
        "lightgcn-longer": lambda: catalog.lightgcn_paper_experiments(("yelp2018",), ("paper",), epochs=catalog.LIGHTGCN_LONGER_EPOCHS),
        "lightgcn-tuned": lambda: catalog.lightgcn_tuned_experiments(),
        "lightgcn-tuned-longer": lambda: catalog.lightgcn_tuned_experiments(("yelp2018",), epochs=catalog.LIGHTGCN_LONGER_EPOCHS),
        "l2q-lightgcn": lambda: catalog.l2q_lightgcn_experiments(DATASETS),
        "l2q-table2": lambda: catalog.l2q_experiments(DATASETS),
        "l2q-ablation": lambda: catalog.l2q_ablation_experiments(DATASETS),
        "l2q-layers": lambda: catalog.l2q_layer_experiments(DATASETS),
        "l2q-dims": lambda: catalog.l2q_dim_experiments(DATASETS),
        "l2q-clean": lambda: (catalog.l2q_lightgcn_experiments(DATASETS, protocols=("clean",))
                              + catalog.l2q_experiments(DATASETS, protocols=("clean",))),
        "l2q-baselines": lambda: catalog.l2q_baseline_experiments(DATASETS),
        "l2q-lsh": lambda: [_lsh(ds) for ds in DATASETS],
        "l2q-resources": lambda: [_resources(ds) for ds in DATASETS],
        "l2q-landscape": lambda: [_landscape(catalog.l2q_experiments(("ml-1m",), ("end",))[0])],
        "legcf-table2": lambda: catalog.legcf_table2_experiments(LEGCF_DATASETS),
        "legcf-ablation": lambda: catalog.legcf_ablation_experiments(LEGCF_DATASETS),
        "legcf-backbone": lambda: catalog.legcf_backbone_experiments(LEGCF_DATASETS),
        "legcf-ngcf-readings": lambda: catalog.legcf_ngcf_reading_experiments(LEGCF_DATASETS),
        "legcf-sensitivity": lambda: legcf_analysis.sensitivity_experiments(LEGCF_DATASETS),
        "legcf-fig3": lambda: [_legcf_fig3(ds) for ds in LEGCF_DATASETS],
        "legcf-fig2": lambda: [_legcf_fig2(ds) for ds in LEGCF_DATASETS],
        "legcf-fidelity": lambda: [_legcf_fidelity(e) for e in (catalog.legcf_table2_experiments(LEGCF_DATASETS)
                                                                 + catalog.legcf_ablation_experiments(LEGCF_DATASETS)
                                                                 + catalog.legcf_backbone_experiments(LEGCF_DATASETS)
                                                                 + catalog.legcf_ngcf_reading_experiments(LEGCF_DATASETS))
                                   if e.method == "LEGCF"],
    }


def _resources(dataset: str):
    def job(seed: int, force: bool, device) -> str:
        from qlib.l2q_analysis import resource_records

        rows = resource_records(dataset, profile="full", seed=seed)
        return f"resources {dataset}: " + ", ".join(
            f"{r['method']} {r['metrics']['embedding_size']:.2f} MiB {r['metrics']['inference_time']:.1f} s" for r in rows)
    job.dataset = dataset
    return job


def _lsh(dataset: str):
    def job(seed: int, force: bool, device) -> str:
        from qlib.l2q_analysis import lsh_record

        r = lsh_record(dataset, profile="full", seed=seed)
        return f"LSH {dataset}: recall@20 {r['metrics']['recall@20']:.4f} -> {r['_path']}"
    job.dataset = dataset
    return job


def _landscape(exp):
    def job(seed: int, force: bool, device) -> str:
        from qlib.l2q_analysis import landscape_record

        r = landscape_record(exp, profile="full", seed=seed)
        return f"landscape {exp.dataset} {exp.method}: {r['metrics']} -> {r['_path']}"
    job.dataset = exp.dataset
    return job


def _legcf_table2_run(dataset: str):
    from qlib import catalog

    return next(e for e in catalog.legcf_table2_experiments((dataset,)) if e.method == "LEGCF")


def _finished_here(exp, seed: int) -> bool:
    """A full-profile run of ``exp`` is recorded and its weights or checkpoint are on this machine."""
    from qlib.experiment import RUNS_ROOT
    from qlib.record import RESULTS_ROOT, record_key

    key = record_key({**exp.label(), "seed": seed})
    return (RESULTS_ROOT / "full" / f"{key}.json").exists() and (RUNS_ROOT / "full" / key).exists()


def _legcf_fig3(dataset: str):
    def job(seed: int, force: bool, device) -> str:
        from qlib.legcf_analysis import assignment_weights

        exp = _legcf_table2_run(dataset)
        if not _finished_here(exp, seed):   # an analysis of a finished run: it never trains or resumes one
            return f"LEGCF Fig. 3 {dataset}: Table 2's LEGCF run (seed {seed}) is not finished on this machine"
        r = assignment_weights(exp, profile="full", seed=seed)
        return f"LEGCF Fig. 3 {dataset}: {r['metrics']} -> {r['_path']}"
    job.dataset = dataset
    return job


def _legcf_fidelity(exp):
    def job(seed: int, force: bool, device) -> str:
        from qlib.legcf_analysis import fidelity_record

        if not _finished_here(exp, seed):   # an analysis of a finished run: it never trains or resumes one
            return f"update fidelity {exp.table} {exp.variant or 'LEGCF'}: no finished run on this machine"
        r = fidelity_record(exp, profile="full", seed=seed)
        return f"update fidelity {exp.table} {exp.variant or 'LEGCF'}: {r['metrics']}"
    job.dataset = exp.dataset
    job.method = exp.method
    return job


def _legcf_fig2(dataset: str):
    def job(seed: int, force: bool, device) -> str:
        from qlib.legcf_analysis import training_snapshots

        r = training_snapshots(_legcf_table2_run(dataset), profile="full", seed=seed, group_by="initial",
                               device=device)
        return f"LEGCF Fig. 2 {dataset}: {r['metrics']} -> {r['_path']}"
    job.dataset = dataset
    return job


SEEDS = (2020, 2021, 2022)


def missing_runs(experiments, seeds, records: list[dict] | None = None) -> list[dict]:
    """The (experiment, seed) pairs of ``experiments`` without a current full-profile record (absent, or
    recorded with other settings), each with the wall time its nearest recorded relative took (same table,
    method, variant and dataset, else same method, dataset and backbone, else same method and dataset; the
    median, with the device it ran on; a relative of another embedding dimension is scaled linearly to this
    run's), else the same method on other datasets scaled by their numbers of training interactions.
    ``records``: the full-profile records, when the caller has loaded them already."""
    import statistics

    from qlib.experiment import resolved_train_config, settings_changed
    from qlib.record import load_records, record_key

    records = load_records("full") if records is None else records
    by_key = {Path(r["_path"]).stem: r for r in records}
    # training runs only: a measurement record (resources, inference time) of the same method takes seconds
    recorded = [r for r in records if r.get("wall_time_s") and "history" in r]
    n_train = {r["dataset"]: (r.get("dataset_stats") or {}).get("n_train") for r in records
               if (r.get("dataset_stats") or {}).get("n_train")}

    def field(config, *names):   # a model config: a dataclass or a plain dict (tables)
        for name in names:
            value = config.get(name) if isinstance(config, dict) else getattr(config, name, None)
            if value is not None:
                return value
        return None

    def backbone(config) -> str | None:
        return field(config, "backbone")

    def width(config) -> int | None:   # the embedding dimension, whatever the model calls it
        return field(config, "emb_dim", "dim")

    def estimate(exp) -> tuple[float | None, str]:
        own, own_d = backbone(exp.model_config), width(exp.model_config)
        own_epochs = exp.train.epochs

        def scaled(r) -> tuple[float, str]:
            """A relative's wall time, scaled linearly to this run's embedding dimension (propagation and
            scoring cost grow with d) when the two differ: a lower bound scaling up where a d x d transform
            dominates (L2Q-GCN's W above d = 128), an upper bound scaling down; and to this run's number of
            epochs (a stretched schedule trains and evaluates that many more epochs). The second value names
            what was scaled ("" when nothing)."""
            wall, what = r["wall_time_s"], []
            d = width(r.get("config", {}).get("model") or {})
            if own_d and d and d != own_d:
                wall, what = wall * own_d / d, what + [f"d={own_d}"]
            epochs = ((r.get("config") or {}).get("train") or {}).get("epochs")
            if own_epochs and epochs and epochs != own_epochs:
                wall, what = wall * own_epochs / epochs, what + [f"{own_epochs} epochs"]
            return wall, " and ".join(what)

        for basis, same in (("same setting", lambda r: (r["table"], r["variant"]) == (exp.table, exp.variant)),
                            ("same backbone", lambda r: own is not None
                             and backbone(r.get("config", {}).get("model") or {}) == own),
                            ("other settings of the method", lambda r: True)):
            walls = [(*scaled(r), r["provenance"].get("device", "?")) for r in recorded
                     if (r["paper"], r["method"], r["dataset"]) == (exp.paper, exp.method, exp.dataset) and same(r)]
            if walls:
                what = next((s for _, s, _ in walls if s), "")
                note = f", scaled to {what}" if what else ""
                return statistics.median(w for w, _, _ in walls), f"{walls[0][2].split(' (')[0]}, {basis}{note}"
        # last resort: the method on other datasets, scaled by their training interactions (an epoch's
        # batches and propagation grow with them; full-ranking evaluation grows faster, with users x items)
        own_n = n_train.get(exp.dataset)
        walls = [(scaled(r)[0] * own_n / n_train[r["dataset"]], r["provenance"].get("device", "?")) for r in recorded
                 if own_n and (r["paper"], r["method"]) == (exp.paper, exp.method) and r["dataset"] != exp.dataset
                 and n_train.get(r["dataset"])]
        if walls:
            return (statistics.median(w for w, _ in walls),
                    f"{walls[0][1].split(' (')[0]}, the method on other datasets, scaled by training interactions")
        return None, ""

    out = []
    for exp in experiments:
        for seed in seeds:
            existing = by_key.get(record_key({**exp.label(), "seed": seed}))
            why = "no record"
            if existing is not None:
                changed = settings_changed(existing, resolved_train_config(exp, "full", seed), exp.model_config)
                if not changed:
                    continue
                why = "settings changed: " + ", ".join(changed)
            wall, device = estimate(exp)
            out.append({"paper": exp.paper, "table": exp.table, "method": exp.method, "variant": exp.variant,
                        "dataset": exp.dataset, "seed": seed, "why": why,
                        "est_min": None if wall is None else round(wall / 60, 1), "est_device": device})
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("groups", nargs="*")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=None, help="default 2020 (with --missing: all of 2020-2022)")
    p.add_argument("--force", action="store_true")
    p.add_argument("--list", action="store_true")
    p.add_argument("--missing", action="store_true",
                   help="list the groups' experiments without a current record, with estimated times; train nothing")
    p.add_argument("--datasets", nargs="*", default=None, help="only these datasets (e.g. to split a group across processes)")
    p.add_argument("--methods", nargs="*", default=None, help="only these methods (e.g. L2Q-GCN_end)")
    p.add_argument("--variants", nargs="*", default=None,
                   help="only these variants, by their exact label as --missing prints it "
                        "(e.g. 'backbone=NGCF, update_aggregation=mean, normalize=False')")
    p.add_argument("--device", default="auto",
                   help="where experiments train: auto (a CUDA GPU when torch sees one, else the CPU), cpu, cuda[:i]; "
                        "analysis jobs run on the CPU, except Fig. 2's training (legcf-fig2)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    table = groups()
    if args.list or not args.groups:
        print("groups:", ", ".join(table))
        return 0
    unknown = [g for g in args.groups if g not in table]
    if unknown:
        raise SystemExit(f"unknown group(s) {', '.join(unknown)}; choose from {', '.join(table)}")

    def selected(name):
        for exp in table[name]():
            if args.datasets and exp.dataset not in args.datasets:
                continue
            if args.methods and getattr(exp, "method", None) not in args.methods:
                continue
            if args.variants and getattr(exp, "variant", None) not in args.variants:
                continue
            yield exp

    if args.missing:
        from qlib.record import load_records

        seeds = SEEDS if args.seed is None else (args.seed,)
        records = load_records("full")
        rows = [{"group": name, **row} for name in args.groups
                for row in missing_runs([e for e in selected(name) if not callable(e)], seeds, records)]
        for r in rows:
            est = f"~{r['est_min']} min ({r['est_device']})" if r["est_min"] is not None else "no estimate"
            print(f"{r['group']:18} {r['table']:17} {r['method']:13} {r['variant'] or '-':38} {r['dataset']:9} "
                  f"seed {r['seed']}  {est}  [{r['why']}]")
        total = sum(r["est_min"] or 0 for r in rows)
        print(f"{len(rows)} run(s) missing; estimated {total / 60:.1f} h at the recorded runs' pace "
              f"({sum(r['est_min'] is None for r in rows)} without an estimate)")
        return 0
    args.seed = 2020 if args.seed is None else args.seed

    import torch

    import qlib.l2q_analysis  # noqa: F401  (everything a job may import lazily, imported now)
    from qlib.experiment import run_experiment
    from qlib.record import code_state

    from qlib.devices import describe_device, resolve_device

    commit, dirty = code_state()   # the code this process runs; every record it writes names it
    print(f"running the code of commit {commit}{' (with uncommitted changes)' if dirty else ''}", flush=True)
    try:
        device = resolve_device(args.device)
    except ValueError as err:
        raise SystemExit(str(err)) from None

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"training on {describe_device(device)}", flush=True)
    for name in args.groups:
        for exp in selected(name):
            t0 = time.perf_counter()
            if callable(exp):
                print(exp(args.seed, args.force, device), f"({time.perf_counter() - t0:.0f} s)", flush=True)
                continue
            rec = run_experiment(exp, profile="full", seed=args.seed, force=args.force, device=device)
            m = rec["metrics"]
            print(f"{exp.paper} / {exp.table} / {exp.method} {exp.variant} / {exp.dataset} / {exp.protocol}: "
                  f"recall@20 {m['recall@20']:.4f} ndcg@20 {m['ndcg@20']:.4f} ndcg_hits@20 {m['ndcg_hits@20']:.4f} "
                  f"(best epoch {rec['best_epoch']}, {time.perf_counter() - t0:.0f} s) -> {rec['_path']}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
