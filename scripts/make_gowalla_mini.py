"""Build the embedded ``gowalla-mini`` dataset from the full gowalla split.

Steps: load gowalla (protocol ``paper``) with :func:`qlib.data.load_dataset`; draw a seeded
(``numpy.random.default_rng(SEED)``) sample of ``SAMPLE_USERS`` users without replacement; keep
their train and test interactions; filter to a fixed point, keeping items with at least
``MIN_ITEM_INTERACTIONS`` interactions (train + test) and users with at least
``MIN_USER_TRAIN`` train and ``MIN_USER_TEST`` test interactions; re-index users and items
contiguously in the order of their gowalla ids; write LightGCN-format ``train.txt.gz`` and
``test.txt.gz`` (gzip level 9, mtime 0, so the bytes are reproducible) and ``SOURCE.md``
into ``qlib/data_files/gowalla-mini/``. Every interaction keeps its train/test membership.

Run: ``python scripts/make_gowalla_mini.py [--data-dir D] [--out-dir O]``. It prints the block
to paste into ``GOWALLA_MINI`` in ``qlib/datasets_registry.py``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from qlib.data import load_dataset  # noqa: E402

SEED = 0
SAMPLE_USERS = 10_000
MIN_ITEM_INTERACTIONS = 10
MIN_USER_TRAIN = 10
MIN_USER_TEST = 1
DEFAULT_OUT_DIR = REPO_ROOT / "qlib" / "data_files" / "gowalla-mini"


def sample_users(n_users: int, size: int, seed: int) -> np.ndarray:
    """Sorted ids of a seeded uniform sample of ``size`` users without replacement."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_users, size=size, replace=False))


def core_filter(train: sp.csr_matrix, test: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (user, item) masks that survive the iterated core filter (a fixed point)."""
    users = np.ones(train.shape[0], dtype=bool)
    items = np.ones(train.shape[1], dtype=bool)
    while True:
        sub_train = train[users][:, items]
        sub_test = test[users][:, items]
        item_counts = np.asarray(sub_train.sum(0) + sub_test.sum(0)).ravel()
        user_train = np.asarray(sub_train.sum(1)).ravel()
        user_test = np.asarray(sub_test.sum(1)).ravel()
        keep_items = item_counts >= MIN_ITEM_INTERACTIONS
        keep_users = (user_train >= MIN_USER_TRAIN) & (user_test >= MIN_USER_TEST)
        if keep_items.all() and keep_users.all():
            return users, items
        users[np.flatnonzero(users)[~keep_users]] = False
        items[np.flatnonzero(items)[~keep_items]] = False


def adjacency_text(mat: sp.csr_matrix) -> bytes:
    """LightGCN adjacency-list text, one line per user, items ascending."""
    mat = mat.tocsr()
    mat.sort_indices()
    out = io.StringIO()
    for user in range(mat.shape[0]):
        row = mat.indices[mat.indptr[user]:mat.indptr[user + 1]]
        out.write(" ".join([str(user), *map(str, row.tolist())]) + "\n")
    return out.getvalue().encode("ascii")


def gzip_bytes(content: bytes) -> bytes:
    """gzip -9 -n equivalent: level 9, mtime 0, no file name."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=buffer, mtime=0) as handle:
        handle.write(content)
    return buffer.getvalue()


def build(data_dir=None) -> dict:
    """Sample, filter and re-index gowalla; the two texts and the statistics."""
    full = load_dataset("gowalla", protocol="paper", data_dir=data_dir)
    chosen = sample_users(full.n_users, SAMPLE_USERS, SEED)
    train, test = full.train[chosen], full.test[chosen]
    users, items = core_filter(train, test)
    train, test = train[users][:, items], test[users][:, items]
    texts = {"train": adjacency_text(train), "test": adjacency_text(test)}
    return {
        "texts": texts,
        "source_files": full.files,
        "stats": {
            "users": int(train.shape[0]), "items": int(train.shape[1]),
            "n_train": int(train.nnz), "n_test": int(test.nnz),
            "interactions": int(train.nnz + test.nnz),
            "density": (train.nnz + test.nnz) / (train.shape[0] * train.shape[1]),
        },
    }


def source_markdown(stats: dict, hashes: dict, source_files: dict) -> str:
    """SOURCE.md: provenance plus a machine-readable ``| key | value |`` table."""
    rows = [
        ("script", "scripts/make_gowalla_mini.py"), ("seed", SEED), ("sample_users", SAMPLE_USERS),
        ("min_item_interactions", MIN_ITEM_INTERACTIONS), ("min_user_train", MIN_USER_TRAIN),
        ("min_user_test", MIN_USER_TEST),
        *((key, stats[key]) for key in ("users", "items", "interactions", "n_train", "n_test")),
        ("density", f"{stats['density']:.6f}"),
        *((key, value) for key, value in hashes.items()),
    ]
    sources = "\n".join(f"- `{rel}` sha256 `{info['sha256']}`" for rel, info in source_files.items())
    table = "\n".join(f"| {key} | {value} |" for key, value in rows)
    return f"""# gowalla-mini

A small, seeded subset of the LightGCN/NGCF gowalla split (see `shared/data/MANIFEST.md`,
section 1), shipped with the package for tests and smoke runs. Built by
`scripts/make_gowalla_mini.py`: a uniform sample of {SAMPLE_USERS} users
(`numpy.random.default_rng({SEED})`), their train and test interactions, then an iterated filter
to a fixed point keeping items with >= {MIN_ITEM_INTERACTIONS} interactions (train + test) and
users with >= {MIN_USER_TRAIN} train and >= {MIN_USER_TEST} test interactions. Users and items
are re-indexed contiguously in the order of their gowalla ids; each interaction keeps its
train/test membership. Files are LightGCN adjacency lists, gzip level 9 with mtime 0.

Source files read:
{sources}

| key | value |
|---|---|
{table}
"""


def write(out_dir: Path, result: dict) -> dict:
    """Write the gz files and SOURCE.md; return the hashes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    hashes = {}
    for split, text in result["texts"].items():
        packed = gzip_bytes(text)
        (out_dir / f"{split}.txt.gz").write_bytes(packed)
        hashes[f"{split}_sha256"] = hashlib.sha256(text).hexdigest()
        hashes[f"{split}_sha256_gz"] = hashlib.sha256(packed).hexdigest()
        hashes[f"{split}_gz_bytes"] = len(packed)
    source = source_markdown(result["stats"], hashes, result["source_files"])
    (out_dir / "SOURCE.md").write_text(source, encoding="utf-8")
    return hashes


def registry_block(stats: dict, hashes: dict) -> str:
    """The ``GOWALLA_MINI`` dict literal for ``qlib/datasets_registry.py``."""
    keys = ["users", "items", "n_train", "n_test"]
    lines = [f'    "{key}": {stats[key]},' for key in keys]
    lines += [f'    "{key}": "{hashes[key]}",' for key in
              ("train_sha256", "train_sha256_gz", "test_sha256", "test_sha256_gz")]
    return "GOWALLA_MINI = {\n" + "\n".join(lines) + "\n}"


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="data directory holding gowalla/")
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR)
    args = parser.parse_args(argv)
    result = build(args.data_dir)
    hashes = write(args.out_dir, result)
    print(result["stats"])
    print({key: value for key, value in hashes.items() if key.endswith("bytes")})
    print(registry_block(result["stats"], hashes))


if __name__ == "__main__":
    main()
