"""Device choice: errors that name the fix, the CPU path explicit, and (where torch sees a GPU) the same
experiment on CUDA giving the CPU's numbers up to floating-point order."""
import pytest
import torch
from torch import nn

from qlib import catalog
from qlib.devices import describe_device, module_device, peak_memory_mib, resolve_device
from qlib.experiment import run_experiment

HAS_CUDA = torch.cuda.is_available()


def test_resolve_device_names_cpu_and_auto():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if HAS_CUDA else "cpu")
    assert resolve_device(None) == resolve_device("auto")
    assert "threads" in describe_device("cpu")
    assert peak_memory_mib(torch.device("cpu")) is None


@pytest.mark.parametrize("spec", ["tpu", "not-a-device", "mps"])
def test_resolve_device_rejects_what_it_cannot_use(spec):
    with pytest.raises(ValueError, match="'auto', 'cpu' or 'cuda"):
        resolve_device(spec)


@pytest.mark.skipif(HAS_CUDA, reason="checks the message on a machine without a GPU")
def test_asking_for_cuda_without_a_gpu_says_what_to_use_instead():
    with pytest.raises(ValueError, match="sees no CUDA GPU; use 'cpu'"):
        resolve_device("cuda")


def test_module_device_reads_parameters_then_buffers():
    assert module_device(nn.Linear(2, 2)) == torch.device("cpu")
    holder = nn.Module()
    holder.register_buffer("b", torch.zeros(1))
    assert module_device(holder) == torch.device("cpu")
    assert module_device(nn.Module()) == torch.device("cpu")


def test_explicit_cpu_device_is_the_default_path(tmp_path):
    exp = catalog.lightgcn_paper_experiments(("gowalla",))[0]
    a = run_experiment(exp, profile="smoke", results_root=tmp_path / "a", device="cpu")
    b = run_experiment(exp, profile="smoke", results_root=tmp_path / "b", device=None if not HAS_CUDA else "cpu")
    assert a["metrics"] == b["metrics"]
    assert a["provenance"]["device"].startswith("cpu (")


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
@pytest.mark.parametrize("build", [lambda: catalog.lightgcn_paper_experiments(("gowalla",))[0],
                                   lambda: catalog.legcf_table2_experiments(("gowalla",))[0]],
                         ids=["LightGCN", "LEGCF"])
def test_cuda_run_matches_the_cpu_run(build, tmp_path):
    exp = build()
    cpu = run_experiment(exp, profile="smoke", results_root=tmp_path / "cpu", device="cpu")
    gpu = run_experiment(exp, profile="smoke", results_root=tmp_path / "gpu", device="cuda")
    assert gpu["provenance"]["device"].startswith("cuda:")
    for key in ("recall@20", "ndcg@20"):
        assert gpu["metrics"][key] == pytest.approx(cpu["metrics"][key], abs=0.01)


def test_run_full_refuses_an_unusable_device_before_running_anything():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "scripts" / "run_full.py"
    out = subprocess.run([sys.executable, str(script), "lightgcn-paper", "--device", "tpu"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "use 'auto', 'cpu' or 'cuda" in out.stderr


def test_gpu_scripts_parse_and_refuse_to_run_without_a_code_state(tmp_path):
    import os
    import subprocess
    from pathlib import Path

    scripts = Path(__file__).resolve().parent.parent / "scripts"
    for name in ("gpu_prepare.sh", "gpu_run.sh"):
        assert subprocess.run(["bash", "-n", str(scripts / name)]).returncode == 0
    env = {k: v for k, v in os.environ.items() if k != "QLIB_CODE_STATE"}
    out = subprocess.run(["bash", str(scripts / "gpu_run.sh"), "10", "lightgcn-paper"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "QLIB_CODE_STATE" in out.stderr


def test_cut_checkpoints_are_packed_smallest_first_and_finished_runs_left_out(tmp_path):
    import os
    import subprocess
    import tarfile
    import time
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "scripts" / "pack_cut_checkpoints.sh"
    old = tmp_path / "runs" / "full" / "old_run"          # written before the marker: not this call's
    old.mkdir(parents=True)
    (old / "last.pt").write_bytes(b"x" * 1024)
    past = time.time() - 3600
    os.utime(old, (past, past))
    marker = tmp_path / "marker"
    marker.write_text("")
    os.utime(marker, (past + 60, past + 60))
    (tmp_path / "results" / "full").mkdir(parents=True)
    sizes = {"small_cut": 8, "large_cut": 64, "finished": 8, "no_checkpoint": 0}
    for name, kb in sizes.items():
        d = tmp_path / "runs" / "full" / name
        d.mkdir()
        if kb:
            (d / "last.pt").write_bytes(os.urandom(kb * 1024))
    (tmp_path / "results" / "full" / "finished.json").write_text("{}")   # its record came back

    def pack(max_kb):
        (tmp_path / "out" / "checkpoints.tgz").unlink(missing_ok=True)
        res = subprocess.run(["bash", str(script), str(tmp_path / "out"), str(marker), str(max_kb)],
                             cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        return res.stdout.split()

    assert pack(1000) == ["runs/full/small_cut", "runs/full/large_cut"]
    with tarfile.open(tmp_path / "out" / "checkpoints.tgz") as tar:
        assert {m.name for m in tar.getmembers() if m.isfile()} == {
            "runs/full/small_cut/last.pt", "runs/full/large_cut/last.pt"}
    assert pack(40) == ["runs/full/small_cut"]          # the larger one does not fit beside it
    assert pack(4) == [] and not (tmp_path / "out" / "checkpoints.tgz").exists()
