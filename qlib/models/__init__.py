"""Models sharing the protocol of :class:`qlib.models.base.RecModel`; one file per method."""
from .base import RecModel
from .lightgcn import LightGCN, LightGCNConfig

__all__ = ["RecModel", "LightGCN", "LightGCNConfig"]
from .l2q_gcn import L2QGCN, L2QGCNConfig  # noqa: E402

__all__ += ["L2QGCN", "L2QGCNConfig"]
from .table_lightgcn import TableLightGCN, table_lightgcn_factory  # noqa: E402

__all__ += ["TableLightGCN", "table_lightgcn_factory"]
from .legcf import LEGCF, LEGCFConfig  # noqa: E402

__all__ += ["LEGCF", "LEGCFConfig"]
from .ngcf import NGCF, NGCFConfig  # noqa: E402
from .neurcf import NeuMF, NeuMFConfig, NeurCF  # noqa: E402
from .hashnet import HashNet, HashNetConfig  # noqa: E402
from .hashgnn import HashGNN, HashGNNConfig  # noqa: E402
from .quant_gumbel import QuantGumbel, QuantGumbelConfig  # noqa: E402
from .lsh import FixedCodes, lsh_codes  # noqa: E402

__all__ += ["NGCF", "NGCFConfig", "NeuMF", "NeuMFConfig", "NeurCF", "HashNet", "HashNetConfig", "HashGNN",
            "HashGNNConfig", "QuantGumbel", "QuantGumbelConfig", "FixedCodes", "lsh_codes"]
