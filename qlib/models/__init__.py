"""Models sharing the protocol of :class:`qlib.models.base.RecModel`; one file per method."""
from .base import RecModel
from .lightgcn import LightGCN, LightGCNConfig

__all__ = ["RecModel", "LightGCN", "LightGCNConfig"]
from .l2q_gcn import L2QGCN, L2QGCNConfig  # noqa: E402

__all__ += ["L2QGCN", "L2QGCNConfig"]
