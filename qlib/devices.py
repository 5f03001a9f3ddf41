"""Where a run trains: choosing the torch device and naming it in records.

Models are always built on the CPU, with the seed's draws, and then moved, so a seed gives the same initial
parameters and the same sampled triples on every device; only floating-point summation order differs
between a CPU and a GPU run (records name the device they ran on).
"""
from __future__ import annotations

import itertools

import torch
from torch import nn

__all__ = ["resolve_device", "describe_device", "module_device", "reset_peak_memory", "peak_memory_mib"]

DEVICE_TYPES = ("cpu", "cuda")


def resolve_device(spec: str | torch.device | None = None) -> torch.device:
    """``None`` or ``"auto"``: the current CUDA GPU when torch sees one, else the CPU. Otherwise the named
    device (``"cpu"``, ``"cuda"``, ``"cuda:1"``), checked to exist."""
    if spec is None or (isinstance(spec, str) and spec == "auto"):
        return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    try:
        dev = torch.device(spec)
    except RuntimeError as err:
        raise ValueError(f"unknown device {spec!r} ({err}); use 'auto', 'cpu' or 'cuda[:index]'") from None
    if dev.type not in DEVICE_TYPES:
        raise ValueError(f"device {spec!r} is not supported here; use 'auto', 'cpu' or 'cuda[:index]'")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {spec!r} was asked for, but this torch ({torch.__version__}, CUDA build "
                             f"{torch.version.cuda}) sees no CUDA GPU; use 'cpu' or 'auto'")
        index = torch.cuda.current_device() if dev.index is None else dev.index
        if index >= torch.cuda.device_count():
            raise ValueError(f"device {spec!r}: only {torch.cuda.device_count()} CUDA GPU(s) visible")
        dev = torch.device("cuda", index)
    return dev


def describe_device(device: str | torch.device | None = "cpu") -> str:
    """How records name the device: ``"cpu (2 threads)"`` or ``"cuda:0 (NVIDIA H200)"``."""
    dev = resolve_device(device)
    if dev.type == "cuda":
        return f"cuda:{dev.index} ({torch.cuda.get_device_name(dev.index)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def module_device(module: nn.Module) -> torch.device:
    """The device of a module's first parameter or buffer (the CPU for a module that holds none)."""
    for t in itertools.chain(module.parameters(), module.buffers()):
        return t.device
    return torch.device("cpu")


def reset_peak_memory(device: torch.device) -> None:
    """Start a new peak-memory window on a GPU (a no-op on the CPU, whose peak is the process's RSS)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mib(device: torch.device) -> float | None:
    """The GPU memory peak since :func:`reset_peak_memory`, in MiB; ``None`` on the CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return None
