"""Training recipes and run profiles.

``paper_recipe`` is the public LightGCN code's recipe (mini-batches of 2,048 triples, Adam 1e-3, full
propagation for every mini-batch). ``fast_recipe`` is this project's CPU recipe (very large batches made cheap
by compiling the dense part of the loss, a learning rate and schedule chosen on validation data; see
bench/tune_fast_recipe.py, bench/train_speed.py and the book's training-speed page).

Profiles say how much of an experiment runs:
- ``smoke``: seconds, embedded dataset, a couple of epochs (CI: proves the notebook runs end to end);
- ``quick``: minutes, embedded dataset, enough epochs for meaningful numbers (``make book``);
- ``full``: the paper's dataset and setting; results are recorded in ``results/full``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from .train import TrainConfig

__all__ = ["paper_recipe", "fast_recipe", "Profile", "PROFILES", "get_profile", "EMBEDDED_DATASET"]

EMBEDDED_DATASET = "gowalla-mini"


def paper_recipe(**overrides) -> TrainConfig:
    """LightGCN-PyTorch's recipe: batch 2048, Adam lr 1e-3, evaluation every 10 epochs, up to 1000 epochs."""
    return replace(TrainConfig(epochs=1000, batch_size=2048, lr=1e-3, eval_every=10), **overrides)


FAST_BATCH_SIZE = 262144
FAST_LR = 1e-1
FAST_EPOCHS = 400


def fast_recipe(**overrides) -> TrainConfig:
    """This project's CPU recipe: batches of 262,144 triples with the dense part of the loss compiled
    (torch.compile), Adam lr 0.1 decayed to 0 by a cosine over 400 epochs, evaluation every 10 epochs.
    Chosen as the best final validation Recall@20 of a sweep on a validation split carved from Gowalla's
    training data (bench/tune_fast_recipe.py; results/bench/tune_fast_recipe_gowalla.json)."""
    base = TrainConfig(epochs=FAST_EPOCHS, batch_size=FAST_BATCH_SIZE, lr=FAST_LR, lr_schedule="cosine",
                       eval_every=10, compile=True)
    return replace(base, **overrides)


@dataclass(frozen=True)
class Profile:
    name: str
    use_embedded_data: bool      # run on the embedded dataset instead of the paper's
    max_epochs: int | None       # cap on epochs (None = the recipe's own)
    eval_every: int | None       # override of the evaluation period

    def apply(self, cfg: TrainConfig) -> TrainConfig:
        """The recipe as this profile runs it."""
        changes = {}
        if self.max_epochs is not None:
            changes["epochs"] = min(cfg.epochs, self.max_epochs)
        if self.eval_every is not None:
            changes["eval_every"] = self.eval_every
        if self.name != "full":
            # no progress bars; no compiling: the embedded dataset fits in one or two batches per epoch, so
            # compiling costs more than it saves
            changes.update(progress=False, compile=False)
        return replace(cfg, **changes)

    def dataset(self, name: str) -> str:
        return EMBEDDED_DATASET if self.use_embedded_data else name


PROFILES = {
    "smoke": Profile("smoke", use_embedded_data=True, max_epochs=2, eval_every=1),
    "quick": Profile("quick", use_embedded_data=True, max_epochs=20, eval_every=5),
    "full": Profile("full", use_embedded_data=False, max_epochs=None, eval_every=None),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}") from None
