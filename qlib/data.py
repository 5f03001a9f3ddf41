"""Load the benchmark datasets (LightGCN adjacency-list splits) as sparse matrices.

Typical use::

    from qlib.data import load_dataset
    data = load_dataset("gowalla")                 # protocol "paper": train/test as published
    data = load_dataset("gowalla", "legcf", seed=2020)   # LEGCF: a third of each test list -> valid
    data.train, data.valid, data.test              # csr_matrix (n_users, n_items), float32 ones

Where files are looked for (:func:`data_dirs_searched`): the data directory from
:func:`resolve_data_dir`, then the cache root (``QLIB_CACHE_DIR`` or ``pooch.os_cache("qlib")``),
each holding ``<relpath>.gz`` or plain ``<relpath>`` (e.g. ``gowalla/train.txt.gz``). Every file
is verified against the hashes of :mod:`qlib.datasets_registry` before it is parsed. A missing
file is downloaded, when allowed, from its public origin (base URL overridable by
``QLIB_DATA_BASE_URL``). Parsed arrays are cached as ``<cache root>/parsed/<name>-<key>.npz``.

Custom datasets: pass a :class:`DatasetSpec` wherever a name is accepted, or register it with
:func:`register_dataset`.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import re
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from qlib.datasets_registry import (
    DATASETS,
    DEFAULT_BASE_URL,
    PACKAGE_DATA_DIR,
    DataFile,
    DatasetSpec,
    Origin,
    get_spec,
    register_dataset,
)

__all__ = [
    "DATASETS", "DataError", "DataFile", "DataFormatError", "DataUnavailableError", "Dataset",
    "DatasetSpec", "Origin", "PROTOCOLS", "cache_root", "clean_validation_sizes",
    "data_dirs_searched", "fetch", "is_available", "legcf_validation_sizes", "load_dataset",
    "ParsedAdjacency", "parse_adjacency", "register_dataset", "resolve_data_dir",
]

logger = logging.getLogger(__name__)

PROTOCOLS = ("paper", "legcf", "clean")
ENV_DATA_DIR = "QLIB_DATA_DIR"
ENV_CACHE_DIR = "QLIB_CACHE_DIR"
ENV_BASE_URL = "QLIB_DATA_BASE_URL"
_PARSE_FORMAT_VERSION = "1"
_DOWNLOAD_TIMEOUT_S = 120
_DISALLOWED_BYTES = re.compile(rb"[^0-9 \t\r\n]")


class DataError(Exception):
    """Base class of all data loading errors."""


class DataUnavailableError(DataError, FileNotFoundError):
    """A needed file is not present locally and could not be downloaded."""


class DataFormatError(DataError, ValueError):
    """A file is present but corrupt, of the wrong version, or not in the expected format."""


# --------------------------------------------------------------------------------------------
# The dataset object


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded split: binary user-item matrices plus provenance.

    All matrices are ``(n_users, n_items)`` CSR, float32 ones, sorted indices, no duplicates.
    ``valid`` is ``None`` for protocol ``"paper"``. ``files`` maps the relative path of each file
    read to ``{"sha256": <of the file as stored>, "path": <absolute path>, "verified_by": ...}``.
    """

    name: str
    protocol: str
    seed: int
    n_users: int
    n_items: int
    train: sp.csr_matrix
    test: sp.csr_matrix
    valid: sp.csr_matrix | None
    files: dict

    def stats(self) -> dict:
        """Counts of the split; ``density`` is a fraction (interactions / (users * items))."""
        n_valid = 0 if self.valid is None else int(self.valid.nnz)
        interactions = int(self.train.nnz) + n_valid + int(self.test.nnz)
        return {
            "users": self.n_users,
            "items": self.n_items,
            "interactions": interactions,
            "density": interactions / (self.n_users * self.n_items),
            "n_train": int(self.train.nnz),
            "n_valid": n_valid,
            "n_test": int(self.test.nnz),
            "users_with_test": int(np.count_nonzero(np.diff(self.test.indptr))),
        }

    def train_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """``(users, items)`` int64 arrays of the training interactions, row-major order."""
        return _csr_pairs(self.train)


def _csr_pairs(mat: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    users = np.repeat(np.arange(mat.shape[0], dtype=np.int64), np.diff(mat.indptr))
    return users, mat.indices.astype(np.int64)


def _binary_csr(indptr: np.ndarray, indices: np.ndarray, n_items: int) -> sp.csr_matrix:
    """CSR of ones from row pointers and (per row sorted, unique) column indices."""
    mat = sp.csr_matrix(
        (np.ones(len(indices), dtype=np.float32), np.asarray(indices), np.asarray(indptr)),
        shape=(len(indptr) - 1, n_items),
    )
    mat.has_sorted_indices = True
    return mat


# --------------------------------------------------------------------------------------------
# Directories


def cache_root() -> Path:
    """Cache root: ``QLIB_CACHE_DIR`` if set, else the user cache folder of ``qlib`` (the folder
    ``pooch.os_cache("qlib")`` names, taken from platformdirs directly: importing pooch, which is only
    needed to download, pulls in ``tqdm.auto`` and its widget warning in notebooks)."""
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("qlib")).expanduser()


def _shared_data_dir() -> Path:
    """``<repo root>/../shared/data`` (repo root = parent of the ``qlib`` package dir)."""
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Data directory: ``data_dir``, else ``$QLIB_DATA_DIR``, else ``../shared/data`` next to the
    repository when it exists, else the cache root (:func:`cache_root`)."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser()
    shared = _shared_data_dir()
    if shared.is_dir():
        return shared
    return cache_root()


def data_dirs_searched(spec: DatasetSpec | str, data_dir=None) -> list[Path]:
    """Directories in which the files of ``spec`` are looked for, in order."""
    spec = get_spec(spec)
    if spec.embedded:
        return [PACKAGE_DATA_DIR]
    dirs = [resolve_data_dir(data_dir), cache_root()]
    return [d for i, d in enumerate(dirs) if d not in dirs[:i]]


def _download_dir(data_dir) -> Path:
    """Downloads go to an explicitly given, writable data dir, else to the cache root."""
    explicit = data_dir if data_dir is not None else os.environ.get(ENV_DATA_DIR) or None
    if explicit is not None:
        path = Path(explicit).expanduser()
        if path.is_dir() and os.access(path, os.W_OK):
            return path
    return cache_root()


# --------------------------------------------------------------------------------------------
# Locating, verifying and downloading files


@dataclass
class _LocalFile:
    """A located, verified file. ``stored`` is the bytes on disk, ``raw`` the decompressed text."""

    relpath: str
    path: Path
    stored: bytes
    is_gz: bool
    sha256: str
    verified_by: str
    raw: bytes | None = None

    def content(self) -> bytes:
        """Uncompressed content (decompressed once, on demand)."""
        if self.raw is None:
            self.raw = _gunzip(self.stored, self.path) if self.is_gz else self.stored
        return self.raw


def _git_blob_id(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def _gunzip(stored: bytes, path: Path) -> bytes:
    try:
        return gzip.decompress(stored)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DataFormatError(
            f"{path}: the gzip file is truncated or corrupt ({type(exc).__name__}: {exc}). "
            f"Delete it and download or copy it again."
        ) from exc


def _find_local(entry: DataFile, dirs: list[Path]) -> Path | None:
    for directory in dirs:
        for candidate in (directory / f"{entry.relpath}.gz", directory / entry.relpath):
            if candidate.is_file():
                return candidate
    return None


def _mismatch(path: Path, what: str, expected: str, actual: str) -> DataFormatError:
    return DataFormatError(
        f"{path}: {what} mismatch: expected {expected}, got {actual}. The file is corrupt or a "
        f"different version; delete it and download or copy the original again."
    )


def _verify(entry: DataFile, path: Path) -> _LocalFile:
    """Read ``path`` and check it against the hashes of ``entry``."""
    stored = path.read_bytes()
    is_gz = path.name.endswith(".gz")
    digest = hashlib.sha256(stored).hexdigest()
    local = _LocalFile(entry.relpath, path, stored, is_gz, digest, verified_by="none")
    if is_gz and entry.sha256_gz:
        if local.sha256 != entry.sha256_gz:
            raise _mismatch(path, "sha256", entry.sha256_gz, local.sha256)
        local.verified_by = "sha256-gz"
    elif entry.sha256 or entry.git_blob:
        content = local.content()
        if entry.sha256:
            actual = local.sha256 if not is_gz else hashlib.sha256(content).hexdigest()
            if actual != entry.sha256:
                raise _mismatch(path, "sha256 of the raw content", entry.sha256, actual)
            local.verified_by = "sha256"
        else:
            actual = _git_blob_id(content)
            if actual != entry.git_blob:
                raise _mismatch(path, "git blob id of the raw content", entry.git_blob, actual)
            local.verified_by = "git-blob"
    else:
        logger.warning("%s: no hash recorded for %s; loading it unverified", path, entry.relpath)
    return local


def _unavailable(spec: DatasetSpec, entry: DataFile, dirs: list[Path], reason: str,
                 downloaded: bool = False) -> DataUnavailableError:
    """The one error for a missing file: what, where searched, expected hashes, origin, fix."""
    searched = ", ".join(f"{d / entry.relpath}[.gz]" for d in dirs)
    url = entry.origin.url(_base_url()) if entry.origin else "(no public origin recorded)"
    return DataUnavailableError(
        f"Data file {entry.relpath!r} of dataset {spec.name!r} is not available: {reason}.\n"
        f"  searched: {searched}\n"
        f"  expected: {entry.expected_hashes_text()}\n"
        f"  origin:   {url}\n"
        f"Fix: download it from the origin, check its hash, and put it at "
        f"<data dir>/{entry.relpath} (or gzipped as {entry.relpath}.gz), where <data dir> is one "
        f"of the searched directories or any directory named by ${ENV_DATA_DIR} (or the data_dir "
        f"argument); "
        + (f"or retry when the origin is reachable (base URL from ${ENV_BASE_URL})."
           if downloaded else "or load with download=True and network access.")
    )


def _base_url() -> str:
    return os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL


def _download(spec: DatasetSpec, entry: DataFile, dirs: list[Path], target_root: Path) -> Path:
    """Fetch the raw file of ``entry`` into ``target_root / relpath``; verify; no partial files."""
    import pooch

    if entry.origin is None:
        raise _unavailable(spec, entry, dirs, "it is missing locally and has no download origin")
    url = entry.origin.url(_base_url())
    final = target_root / entry.relpath
    try:
        target_root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target_root, prefix=".download-") as tmp:
            known = f"sha256:{entry.sha256}" if entry.sha256 else None
            logger.info("downloading %s from %s", entry.relpath, url)
            fetched = Path(pooch.retrieve(
                url, known_hash=known, fname=final.name, path=tmp, progressbar=False,
                downloader=pooch.HTTPDownloader(progressbar=False, timeout=_DOWNLOAD_TIMEOUT_S),
            ))
            if entry.git_blob and _git_blob_id(fetched.read_bytes()) != entry.git_blob:
                raise ValueError(f"git blob id of the download differs from {entry.git_blob}")
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(fetched, final)
    except Exception as exc:  # network, HTTP status, hash mismatch, disk: all mean "unavailable"
        raise _unavailable(
            spec, entry, dirs, f"download from {url} failed ({type(exc).__name__}: {exc})",
            downloaded=True,
        ) from exc
    return final


def _ensure_files(spec: DatasetSpec, data_dir, download: bool) -> list[_LocalFile]:
    """Locate (downloading if allowed) and verify every file of ``spec``."""
    dirs = data_dirs_searched(spec, data_dir)
    found = []
    for entry in spec.files:
        path = _find_local(entry, dirs)
        if path is None:
            if not download or spec.embedded:
                reason = ("not found locally and download=False" if not download
                          else "missing from the package")
                raise _unavailable(spec, entry, dirs, reason)
            path = _download(spec, entry, dirs, _download_dir(data_dir))
        found.append(_verify(entry, path))
    return found


def is_available(name: str | DatasetSpec, data_dir=None) -> bool:
    """True when every file of the dataset is present locally (no download, no hashing)."""
    spec = get_spec(name)
    dirs = data_dirs_searched(spec, data_dir)
    return all(_find_local(entry, dirs) is not None for entry in spec.files)


def fetch(name: str | DatasetSpec, data_dir=None, download: bool = True) -> dict[str, Path]:
    """Make sure the dataset's files are present and verified.

    Returns ``{relpath: local path}`` keyed by the registry's uncompressed relative path (e.g.
    ``"gowalla/train.txt"``); the path may be the ``.gz`` form. Raises like :func:`load_dataset`.
    """
    spec = get_spec(name)
    return {local.relpath: local.path for local in _ensure_files(spec, data_dir, download)}


# --------------------------------------------------------------------------------------------
# Parsing


@dataclass
class ParsedAdjacency:
    """Rows of one adjacency-list file: user id per line, item count per line, items (sorted)."""

    users: np.ndarray
    counts: np.ndarray
    items: np.ndarray


def _line_of(content: bytes, pos: int) -> int:
    return content.count(b"\n", 0, pos) + 1


def _check_characters(content: bytes, label: str) -> None:
    bad = _DISALLOWED_BYTES.search(content)
    if bad is None:
        return
    line_no = _line_of(content, bad.start())
    line = content.split(b"\n")[line_no - 1]
    token = next((t for t in line.split() if _DISALLOWED_BYTES.search(t)), line)
    text = token.decode("utf-8", "replace")
    what = (f"negative id {text!r}" if re.fullmatch(r"-\d+", text)
            else f"non-integer token {text!r}")
    raise DataFormatError(
        f"{label}, line {line_no}: {what}. Expected non-negative integer ids separated by "
        f"spaces ('user item item ...'); fix or replace the file."
    )


def parse_adjacency(content: bytes, label: str = "<data>") -> ParsedAdjacency:
    """Parse LightGCN adjacency-list text (``user item item ...`` per line) and validate it.

    Raises :class:`DataFormatError` (naming ``label`` and the line) for an empty file, a blank
    line before the end, non-integer or negative tokens, user ids not strictly increasing
    (out of order or duplicate user lines) and an item repeated within a line. Items are returned
    sorted within each line.
    """
    if not content.strip():
        raise DataFormatError(f"{label}: the file is empty. Delete it and obtain the file again.")
    _check_characters(content, label)
    lines = content.split(b"\n")
    while not lines[-1].strip():
        lines.pop()
    counts = np.fromiter((len(line.split()) for line in lines), dtype=np.int64, count=len(lines))
    if (counts == 0).any():
        line_no = int(np.argmax(counts == 0)) + 1
        raise DataFormatError(f"{label}, line {line_no}: blank line inside the file; remove it.")
    try:
        tokens = np.array(content.split(), dtype=np.int64)
    except (OverflowError, ValueError) as exc:
        raise DataFormatError(
            f"{label}: an id does not fit in 64 bits ({exc}); fix the file.") from exc
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    users = tokens[starts]
    _check_user_order(users, label)
    is_item = np.ones(len(tokens), dtype=bool)
    is_item[starts] = False
    items = tokens[is_item]
    rows = np.repeat(np.arange(len(lines), dtype=np.int64), counts - 1)
    order = np.lexsort((items, rows))
    items = items[order]
    duplicate = (np.diff(items) == 0) & (np.diff(rows) == 0)
    if duplicate.any():
        at = int(np.argmax(duplicate))
        raise DataFormatError(
            f"{label}, line {rows[at] + 1}: item {items[at]} appears twice for user "
            f"{users[rows[at]]}; each interaction must be listed once. Fix the file."
        )
    return ParsedAdjacency(users=users, counts=counts - 1, items=items)


def _check_user_order(users: np.ndarray, label: str) -> None:
    bad = np.flatnonzero(np.diff(users) <= 0)
    if len(bad):
        at = int(bad[0]) + 1
        kind = "duplicate" if users[at] == users[at - 1] else "out-of-order"
        raise DataFormatError(
            f"{label}, line {at + 1}: {kind} user line (user {users[at]} after user "
            f"{users[at - 1]}); user ids must be strictly increasing, one line per user."
        )


def _to_csr_arrays(parsed: ParsedAdjacency, n_users: int) -> tuple[np.ndarray, np.ndarray]:
    per_user = np.zeros(n_users, dtype=np.int64)
    per_user[parsed.users] = parsed.counts
    return np.concatenate(([0], np.cumsum(per_user))), parsed.items


def _check_item_range(parsed: ParsedAdjacency, n_items: int, label: str) -> None:
    bad = np.flatnonzero(parsed.items >= n_items)
    if len(bad):
        row = int(np.searchsorted(np.cumsum(parsed.counts), bad[0], side="right"))
        raise DataFormatError(
            f"{label}, line {row + 1}: item id {parsed.items[bad[0]]} is out of range for a "
            f"dataset of {n_items} items (ids 0..{n_items - 1}); the file does not belong to "
            f"this dataset."
        )


def _check_user_range(parsed: ParsedAdjacency, n_users: int, label: str) -> None:
    bad = np.flatnonzero(parsed.users >= n_users)
    if len(bad):
        raise DataFormatError(
            f"{label}, line {bad[0] + 1}: user id {parsed.users[bad[0]]} is out of range for a "
            f"dataset of {n_users} users; the file does not belong to this dataset."
        )


def _check_counts(spec: DatasetSpec, counted: dict[str, int], labels: str) -> None:
    for key, expected in spec.expected_counts().items():
        if counted[key] != expected:
            raise DataFormatError(
                f"{labels}: dataset {spec.name!r} has {counted[key]:,} {key}, the registry expects "
                f"{expected:,}. The files are not the expected version; replace them."
            )
    for key, value in spec.reported.items():
        if key in counted and counted[key] != value:
            logger.warning("%s: %s = %d differs from the figure %d reported by %s", spec.name,
                           key, counted[key], value, spec.reported.get("source", "a paper"))


def _parse_dataset(spec: DatasetSpec, train: _LocalFile, test: _LocalFile) -> dict[str, np.ndarray]:
    """Parse and validate both files; CSR arrays plus the id-space sizes."""
    parsed_train = parse_adjacency(train.content(), str(train.path))
    parsed_test = parse_adjacency(test.content(), str(test.path))
    both = (parsed_train, parsed_test)
    n_users = spec.n_users or max(int(p.users.max()) for p in both) + 1
    max_item = max((int(p.items.max()) for p in both if len(p.items)), default=-1)
    n_items = spec.n_items or max_item + 1
    for parsed, local in zip(both, (train, test)):
        _check_user_range(parsed, n_users, str(local.path))
        _check_item_range(parsed, n_items, str(local.path))
    counted = {
        "users": max(int(p.users.max()) for p in both) + 1, "items": n_items,
        "n_train": len(parsed_train.items), "n_test": len(parsed_test.items),
        "interactions": len(parsed_train.items) + len(parsed_test.items),
    }
    _check_counts(spec, counted, f"{train.path} + {test.path}")
    train_indptr, train_indices = _to_csr_arrays(parsed_train, n_users)
    test_indptr, test_indices = _to_csr_arrays(parsed_test, n_users)
    return {"shape": np.array([n_users, n_items]),
            "train_indptr": train_indptr, "train_indices": train_indices,
            "test_indptr": test_indptr, "test_indices": test_indices}


# --------------------------------------------------------------------------------------------
# Parsed-array cache


def _cache_path(spec: DatasetSpec, train: _LocalFile, test: _LocalFile) -> Path:
    expected = sorted(spec.expected_counts().items())
    key = "|".join([_PARSE_FORMAT_VERSION, spec.name, repr(expected), train.sha256, test.sha256])
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return cache_root() / "parsed" / f"{spec.name}-{digest}.npz"


def _read_cache(path: Path) -> dict[str, np.ndarray] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except Exception as exc:  # a damaged cache is just re-parsed
        logger.warning("ignoring unreadable parse cache %s (%s)", path, exc)
        return None


def _write_cache(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write atomically (temporary file + ``os.replace``); failures only log a warning."""
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as handle:
            tmp = Path(handle.name)
            np.savez(handle, **arrays)
        os.replace(tmp, path)
    except OSError as exc:
        logger.warning("could not write parse cache %s (%s)", path, exc)
        if tmp is not None and tmp.exists():
            tmp.unlink()


# --------------------------------------------------------------------------------------------
# Split protocols


def _split_rows(mat: sp.csr_matrix, take: np.ndarray,
                rng: np.random.Generator) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Move a uniformly random ``take[u]`` items of each row ``u`` out of ``mat``.

    One uniform key is drawn per stored entry in CSR order (rows in id order, items ascending);
    each row's ``take[u]`` lowest-key items form the returned ``(moved, kept)`` pair.
    """
    counts = np.diff(mat.indptr)
    rows = np.repeat(np.arange(mat.shape[0]), counts)
    keys = rng.random(mat.nnz)
    order = np.lexsort((keys, rows))
    rank = np.empty(mat.nnz, dtype=np.int64)
    rank[order] = np.arange(mat.nnz) - mat.indptr[rows]
    moved = rank < take[rows]
    return _subset(mat, moved), _subset(mat, ~moved)


def _subset(mat: sp.csr_matrix, keep: np.ndarray) -> sp.csr_matrix:
    rows = np.repeat(np.arange(mat.shape[0]), np.diff(mat.indptr))[keep]
    indptr = np.concatenate(([0], np.cumsum(np.bincount(rows, minlength=mat.shape[0]))))
    return _binary_csr(indptr, mat.indices[keep], mat.shape[1])


def legcf_validation_sizes(n_test: np.ndarray) -> np.ndarray:
    """LEGCF: ``max(1, ceil(n/3))`` validation items per user with ``n >= 1`` test items."""
    return np.where(n_test >= 1, np.maximum(1, np.ceil(n_test / 3)), 0).astype(np.int64)


def clean_validation_sizes(n_train: np.ndarray) -> np.ndarray:
    """``clean``: ``max(1, round_half_up(0.1 n))`` items per user with ``n >= 2`` train items."""
    return np.where(n_train >= 2, np.maximum(1, np.floor(0.1 * n_train + 0.5)), 0).astype(np.int64)


def _apply_protocol(protocol: str, seed: int, train: sp.csr_matrix, test: sp.csr_matrix):
    """``(train, valid, test)`` for ``protocol`` (see :func:`load_dataset`)."""
    if protocol == "paper":
        return train, None, test
    rng = np.random.default_rng(seed)
    if protocol == "legcf":
        valid, test = _split_rows(test, legcf_validation_sizes(np.diff(test.indptr)), rng)
        return train, valid, test
    valid, train = _split_rows(train, clean_validation_sizes(np.diff(train.indptr)), rng)
    return train, valid, test


# --------------------------------------------------------------------------------------------
# Entry point


def load_dataset(name: str | DatasetSpec, protocol: str = "paper", seed: int = 2020,
                 data_dir=None, download: bool = True) -> Dataset:
    """Load, verify and split a dataset.

    ``name`` is a key of :data:`DATASETS` (``gowalla``, ``yelp2018``, ``amazon-book``, ``ml-1m``,
    ``pinterest``, ``yelp2020``, ``gowalla-mini``) or a :class:`DatasetSpec`. Protocols:

    * ``paper``: train/test as published, ``valid=None``;
    * ``legcf``: validation = a seeded random ``max(1, ceil(n/3))`` of each user's ``n >= 1`` test
      items, test = the rest (LEGCF/GNAQ);
    * ``clean``: validation = a seeded ``max(1, round(n/10))`` of the train items of each user with
      ``n >= 2`` of them, removed from train; test untouched.

    Raises :class:`DataUnavailableError` (missing, download failed or disabled),
    :class:`DataFormatError` (hash mismatch, corrupt gzip, malformed content, wrong counts),
    ``ValueError`` for an unknown protocol and ``KeyError`` for an unknown name.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; valid protocols: {', '.join(PROTOCOLS)}")
    spec = get_spec(name)
    train_file, test_file = _ensure_files(spec, data_dir, download)
    cache = _cache_path(spec, train_file, test_file)
    arrays = _read_cache(cache)
    if arrays is None:
        arrays = _parse_dataset(spec, train_file, test_file)
        _write_cache(cache, arrays)
    n_users, n_items = (int(v) for v in arrays["shape"])
    train = _binary_csr(arrays["train_indptr"], arrays["train_indices"], n_items)
    test = _binary_csr(arrays["test_indptr"], arrays["test_indices"], n_items)
    train, valid, test = _apply_protocol(protocol, seed, train, test)
    files = {
        (Path(local.relpath).parent / local.path.name).as_posix():
            {"sha256": local.sha256, "path": str(local.path), "verified_by": local.verified_by}
        for local in (train_file, test_file)
    }
    return Dataset(name=spec.name, protocol=protocol, seed=seed, n_users=n_users, n_items=n_items,
                   train=train, test=test, valid=valid, files=files)
