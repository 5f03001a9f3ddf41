"""Tests of qlib.data: parsing, verification, download, split protocols, shipped and real data.

Synthetic datasets are described by a ``DatasetSpec`` passed straight to ``load_dataset`` (the
injection hook; ``register_dataset`` is tested separately). Every test uses its own cache root
(``QLIB_CACHE_DIR``); downloads go to a local ``http.server`` only.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import re
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from qlib import data as qdata
from qlib.data import (
    DATASETS,
    DataError,
    DataFile,
    DataFormatError,
    DatasetSpec,
    DataUnavailableError,
    Origin,
    is_available,
    load_dataset,
    register_dataset,
    resolve_data_dir,
)
from qlib.datasets_registry import GOWALLA_MINI, PACKAGE_DATA_DIR

REPO_ROOT = Path(__file__).resolve().parent.parent

TOY_TRAIN = "0 3 1 2\n1 0\n2 4 0 1 \n3\n"   # user 3 has no train items; row 0 unsorted
TOY_TEST = "0 4\r\n1 2 3\r\n2 \r\n3 0\r\n\r\n"  # CRLF, an empty user line, blank trailing line
TOY_TRAIN_DENSE = np.array([[0, 1, 1, 1, 0], [1, 0, 0, 0, 0], [1, 1, 0, 0, 1], [0, 0, 0, 0, 0]])
TOY_TEST_DENSE = np.array([[0, 0, 0, 0, 1], [0, 0, 1, 1, 0], [0, 0, 0, 0, 0], [1, 0, 0, 0, 0]])


# ------------------------------------------------------------------------------------------
# helpers and fixtures


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch) -> Path:
    """Own cache root per test; default download base; localhost never proxied."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("QLIB_CACHE_DIR", str(cache))
    monkeypatch.delenv("QLIB_DATA_BASE_URL", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    return cache


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def git_blob(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def write_file(directory: Path, relpath: str, text: str | bytes, gz: bool) -> bytes:
    """Write ``relpath`` (gzipped as ``relpath.gz`` if ``gz``); return the stored bytes."""
    content = text.encode() if isinstance(text, str) else text
    stored = gzip.compress(content, mtime=0) if gz else content
    path = directory / (relpath + (".gz" if gz else ""))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(stored)
    return stored


def toy_spec(data_dir: Path, train: str | bytes = TOY_TRAIN, test: str | bytes = TOY_TEST,
             gz: bool = False, name: str = "toy", write: bool = True, hashes: str = "sha256",
             origin: tuple[str, str] | None = None, **counts) -> DatasetSpec:
    """Write a two-file dataset under ``data_dir/name`` and describe it with a spec.

    ``hashes``: "sha256" (raw + gz), "raw" (raw sha256 only), "blob" (git blob only), "none".
    """
    entries = []
    for split, text in (("train", train), ("test", test)):
        relpath = f"{name}/{split}.txt"
        content = text.encode() if isinstance(text, str) else text
        stored = write_file(data_dir, relpath, content, gz) if write else content
        kwargs = {
            "sha256": {"sha256": sha256(content), "sha256_gz": sha256(stored) if gz else None},
            "raw": {"sha256": sha256(content)},
            "blob": {"git_blob": git_blob(content)},
            "none": {},
        }[hashes]
        where = Origin(origin[0], origin[1], f"data/{split}.txt") if origin else None
        entries.append(DataFile(relpath, origin=where, **kwargs))
    return DatasetSpec(name=name, train=entries[0], test=entries[1], **counts)


def cached_files(cache: Path) -> list[Path]:
    return sorted((cache / "parsed").glob("*.npz")) if (cache / "parsed").is_dir() else []


def all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


# ------------------------------------------------------------------------------------------
# parsing round trips


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
def test_round_trip(tmp_path, isolated_cache, gz):
    spec = toy_spec(tmp_path / "data", gz=gz, n_users=4, n_items=5)
    data = load_dataset(spec, data_dir=tmp_path / "data")
    assert (data.name, data.protocol, data.seed, data.valid) == ("toy", "paper", 2020, None)
    assert (data.n_users, data.n_items) == (4, 5)
    for mat, dense in ((data.train, TOY_TRAIN_DENSE), (data.test, TOY_TEST_DENSE)):
        assert mat.shape == (4, 5) and mat.dtype == np.float32
        assert mat.has_sorted_indices
        np.testing.assert_array_equal(mat.toarray(), dense)
    users, items = data.train_pairs()
    assert users.dtype == items.dtype == np.int64
    assert list(zip(users, items)) == [(0, 1), (0, 2), (0, 3), (1, 0), (2, 0), (2, 1), (2, 4)]
    assert data.stats() == {"users": 4, "items": 5, "interactions": 11, "density": 11 / 20,
                            "n_train": 7, "n_valid": 0, "n_test": 4, "users_with_test": 3}
    suffix = ".gz" if gz else ""
    assert set(data.files) == {f"toy/train.txt{suffix}", f"toy/test.txt{suffix}"}
    record = data.files[f"toy/train.txt{suffix}"]
    assert record["sha256"] == sha256(Path(record["path"]).read_bytes())
    assert record["verified_by"] == ("sha256-gz" if gz else "sha256")
    assert len(cached_files(isolated_cache)) == 1


def test_item_space_defaults_to_max_id_plus_one(tmp_path):
    spec = toy_spec(tmp_path, train="0 1\n1 2\n", test="0 6\n")
    data = load_dataset(spec, data_dir=tmp_path)
    assert (data.n_users, data.n_items) == (2, 7)


def test_parse_cache_is_reused(tmp_path, monkeypatch, isolated_cache):
    spec = toy_spec(tmp_path, gz=True)
    first = load_dataset(spec, data_dir=tmp_path)
    (cache,) = cached_files(isolated_cache)
    assert re.fullmatch(r"toy-[0-9a-f]{12}\.npz", cache.name)

    def must_not_parse(*args, **kwargs):
        raise AssertionError("parsed although a cache exists")

    monkeypatch.setattr(qdata, "parse_adjacency", must_not_parse)
    second = load_dataset(spec, data_dir=tmp_path)
    assert (first.train != second.train).nnz == 0 and (first.test != second.test).nnz == 0


def test_damaged_cache_is_reparsed(tmp_path, isolated_cache):
    spec = toy_spec(tmp_path)
    load_dataset(spec, data_dir=tmp_path)
    (cache,) = cached_files(isolated_cache)
    cache.write_bytes(b"not a zip file")
    data = load_dataset(spec, data_dir=tmp_path)
    np.testing.assert_array_equal(data.train.toarray(), TOY_TRAIN_DENSE)


def test_register_dataset(tmp_path):
    spec = toy_spec(tmp_path, name="toy-registered")
    try:
        register_dataset(spec)
        assert DATASETS["toy-registered"] is spec
        assert load_dataset("toy-registered", data_dir=tmp_path).stats()["n_train"] == 7
        assert is_available("toy-registered", data_dir=tmp_path)
        with pytest.raises(ValueError, match="already registered"):
            register_dataset(spec)
        register_dataset(spec, replace=True)
    finally:
        DATASETS.pop("toy-registered", None)


def test_unknown_name_and_protocol(tmp_path):
    with pytest.raises(KeyError, match="gowalla-mini"):
        load_dataset("no-such-dataset")
    with pytest.raises(ValueError, match="paper, legcf, clean"):
        load_dataset("gowalla-mini", protocol="random")


# ------------------------------------------------------------------------------------------
# malformed input


MALFORMED = {
    "bad token": ("0 1 2\n1 x 3\n", {}, ["line 2", "non-integer token 'x'"]),
    "float token": ("0 1.5\n", {}, ["line 1", "non-integer token '1.5'"]),
    "negative id": ("0 1\n1 -3\n", {}, ["line 2", "negative id '-3'"]),
    "item out of range": ("0 1\n1 2 9\n", {"n_items": 5}, ["line 2", "item id 9", "5 items"]),
    "user out of range": ("0 1\n7 2\n", {"n_users": 4}, ["line 2", "user id 7"]),
    "duplicate user": ("0 1\n1 2\n1 3\n", {}, ["line 3", "duplicate user line"]),
    "out-of-order user": ("0 1\n2 2\n1 3\n", {}, ["line 3", "out-of-order user line"]),
    "duplicate item": ("0 1\n1 4 2 4\n", {}, ["line 2", "item 4 appears twice"]),
    "huge id": ("0 1\n1 99999999999999999999999\n", {}, ["does not fit in 64 bits"]),
    "empty file": ("", {}, ["empty"]),
    "whitespace only": (" \n\n", {}, ["empty"]),
    "blank line inside": ("0 1\n\n2 3\n", {}, ["line 2", "blank line"]),
    "wrong counts": ("0 1\n1 2\n", {"n_train": 3}, ["2 n_train", "expects 3"]),
}


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_input(tmp_path, isolated_cache, case, gz):
    train, counts, fragments = MALFORMED[case]
    spec = toy_spec(tmp_path, train=train, test="0 4\n", gz=gz, **counts)
    with pytest.raises(DataFormatError) as info:
        load_dataset(spec, data_dir=tmp_path)
    message = str(info.value)
    assert "train.txt" in message
    for fragment in fragments:
        assert fragment in message
    assert cached_files(isolated_cache) == []


@pytest.mark.parametrize("hashes", ["raw", "none"])
def test_truncated_gzip(tmp_path, isolated_cache, hashes):
    spec = toy_spec(tmp_path, gz=True, hashes=hashes)
    path = tmp_path / "toy/train.txt.gz"
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(DataFormatError, match="truncated or corrupt.*Delete it"):
        load_dataset(spec, data_dir=tmp_path)
    assert cached_files(isolated_cache) == []


def test_not_a_gzip_file(tmp_path):
    spec = toy_spec(tmp_path, gz=True, hashes="raw")
    (tmp_path / "toy/test.txt.gz").write_bytes(b"plain text pretending to be gzip")
    with pytest.raises(DataFormatError, match="test.txt.gz.*truncated or corrupt"):
        load_dataset(spec, data_dir=tmp_path)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
def test_sha256_mismatch(tmp_path, isolated_cache, gz):
    spec = toy_spec(tmp_path, gz=gz)
    tampered = "0 3 1 2\n1 0\n2 4 0\n3\n"
    stored = write_file(tmp_path, "toy/train.txt", tampered, gz)
    with pytest.raises(DataFormatError) as info:
        load_dataset(spec, data_dir=tmp_path)
    message = str(info.value)
    expected = spec.train.sha256_gz if gz else spec.train.sha256
    assert "sha256" in message and expected in message and sha256(stored) in message
    assert cached_files(isolated_cache) == []


def test_git_blob_verification(tmp_path):
    spec = toy_spec(tmp_path, gz=True, hashes="blob")
    data = load_dataset(spec, data_dir=tmp_path)
    assert {f["verified_by"] for f in data.files.values()} == {"git-blob"}
    write_file(tmp_path, "toy/train.txt", "0 1\n", gz=True)
    with pytest.raises(DataFormatError, match=f"git blob.*{spec.train.git_blob}"):
        load_dataset(spec, data_dir=tmp_path)


def test_missing_file_without_download(tmp_path):
    spec = toy_spec(tmp_path, write=False, origin=("someone/repo", "c0ffee"))
    assert not is_available(spec, data_dir=tmp_path)
    with pytest.raises(DataUnavailableError) as info:
        load_dataset(spec, data_dir=tmp_path, download=False)
    message = str(info.value)
    assert "toy/train.txt" in message and spec.train.sha256 in message
    assert "someone/repo/c0ffee/data/train.txt" in message and "QLIB_DATA_DIR" in message
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, DataError)


# ------------------------------------------------------------------------------------------
# download from a local server


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def file_server(tmp_path, monkeypatch):
    """Serve ``tmp_path/server`` on 127.0.0.1 and point QLIB_DATA_BASE_URL at it."""
    root = tmp_path / "server"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("QLIB_DATA_BASE_URL", base)
    yield root, base
    server.shutdown()
    server.server_close()


def serve(root: Path, spec: DatasetSpec, texts: dict[str, str]) -> None:
    for entry, split in ((spec.train, "train"), (spec.test, "test")):
        origin = entry.origin
        write_file(root / origin.repo / origin.commit, origin.path, texts[split], gz=False)


@pytest.mark.parametrize("hashes", ["sha256", "blob"])
def test_download_into_explicit_data_dir(tmp_path, file_server, hashes):
    root, _ = file_server
    spec = toy_spec(tmp_path, write=False, hashes=hashes, origin=("owner/repo", "abc123"))
    serve(root, spec, {"train": TOY_TRAIN, "test": TOY_TEST})
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    data = load_dataset(spec, data_dir=data_dir)
    np.testing.assert_array_equal(data.train.toarray(), TOY_TRAIN_DENSE)
    assert (data_dir / "toy/train.txt").read_text() == TOY_TRAIN
    assert all_files(data_dir) == [data_dir / "toy/test.txt", data_dir / "toy/train.txt"]
    assert is_available(spec, data_dir=data_dir)


def test_download_into_cache_when_no_data_dir_given(tmp_path, file_server, isolated_cache, monkeypatch):
    monkeypatch.delenv("QLIB_DATA_DIR", raising=False)
    root, _ = file_server
    spec = toy_spec(tmp_path, write=False, name="toy-cached", origin=("owner/repo", "abc123"))
    serve(root, spec, {"train": TOY_TRAIN, "test": TOY_TEST})
    paths = qdata.fetch(spec)
    assert paths == {"toy-cached/train.txt": isolated_cache / "toy-cached/train.txt",
                     "toy-cached/test.txt": isolated_cache / "toy-cached/test.txt"}
    assert load_dataset(spec, download=False).stats()["n_train"] == 7


@pytest.mark.parametrize("hashes", ["sha256", "blob"])
def test_download_with_wrong_content_leaves_nothing(tmp_path, file_server, hashes):
    root, _ = file_server
    spec = toy_spec(tmp_path, write=False, hashes=hashes, origin=("owner/repo", "abc123"))
    serve(root, spec, {"train": "0 1\n", "test": TOY_TEST})
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with pytest.raises((DataUnavailableError, DataFormatError)) as info:
        load_dataset(spec, data_dir=data_dir)
    assert "toy/train.txt" in str(info.value)
    assert all_files(data_dir) == []


def test_download_404(tmp_path, file_server):
    _, base = file_server
    spec = toy_spec(tmp_path, write=False, origin=("owner/repo", "abc123"))
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with pytest.raises(DataUnavailableError) as info:
        load_dataset(spec, data_dir=data_dir)
    message = str(info.value)
    assert spec.train.sha256 in message
    assert f"{base}/owner/repo/abc123/data/train.txt" in message
    assert "404" in message and str(data_dir) in message and "QLIB_DATA_DIR" in message
    assert all_files(data_dir) == []


# ------------------------------------------------------------------------------------------
# split protocols


def random_adjacency(rng: np.random.Generator, n_users: int, n_items: int, max_len: int) -> str:
    lines = []
    for user in range(n_users):
        items = rng.choice(n_items, size=rng.integers(0, max_len + 1), replace=False)
        lines.append(" ".join([str(user), *map(str, items)]))
    return "\n".join(lines) + "\n"


@pytest.fixture
def random_spec(tmp_path) -> DatasetSpec:
    rng = np.random.default_rng(7)
    train = random_adjacency(rng, 300, 200, 30)
    test = random_adjacency(rng, 300, 200, 12)
    return toy_spec(tmp_path, train=train, test=test, name="random", n_users=300, n_items=200)


def as_set(mat) -> set[tuple[int, int]]:
    coo = mat.tocoo()
    return set(zip(coo.row.tolist(), coo.col.tolist()))


def test_legcf_protocol(tmp_path, random_spec):
    paper = load_dataset(random_spec, data_dir=tmp_path)
    legcf = load_dataset(random_spec, protocol="legcf", seed=3, data_dir=tmp_path)
    n_test = np.diff(paper.test.indptr)
    expected = [max(1, -(-n // 3)) if n >= 1 else 0 for n in n_test]
    np.testing.assert_array_equal(np.diff(legcf.valid.indptr), expected)
    assert not as_set(legcf.valid) & as_set(legcf.test)
    assert as_set(legcf.valid) | as_set(legcf.test) == as_set(paper.test)
    assert (legcf.train != paper.train).nnz == 0
    for mat in (legcf.valid, legcf.test):
        assert mat.shape == paper.test.shape and mat.dtype == np.float32 and mat.has_sorted_indices
    stats = legcf.stats()
    assert stats["n_valid"] + stats["n_test"] == paper.stats()["n_test"]
    assert stats["interactions"] == paper.stats()["interactions"]


def test_clean_protocol(tmp_path, random_spec):
    paper = load_dataset(random_spec, data_dir=tmp_path)
    clean = load_dataset(random_spec, protocol="clean", seed=3, data_dir=tmp_path)
    n_train = np.diff(paper.train.indptr)
    expected = [max(1, int(np.floor(0.1 * n + 0.5))) if n >= 2 else 0 for n in n_train]
    np.testing.assert_array_equal(np.diff(clean.valid.indptr), expected)
    assert not as_set(clean.valid) & as_set(clean.train)
    assert as_set(clean.valid) | as_set(clean.train) == as_set(paper.train)
    assert (clean.test != paper.test).nnz == 0
    single = np.flatnonzero(n_train == 1)
    assert len(single) and (np.diff(clean.train.indptr)[single] == 1).all()


@pytest.mark.parametrize("protocol", ["legcf", "clean"])
def test_protocol_determinism(tmp_path, random_spec, protocol):
    a = load_dataset(random_spec, protocol=protocol, seed=11, data_dir=tmp_path)
    b = load_dataset(random_spec, protocol=protocol, seed=11, data_dir=tmp_path)
    c = load_dataset(random_spec, protocol=protocol, seed=12, data_dir=tmp_path)
    assert as_set(a.valid) == as_set(b.valid) and as_set(a.test) == as_set(b.test)
    assert as_set(a.valid) != as_set(c.valid)
    assert (a.seed, c.seed, a.protocol) == (11, 12, protocol)


# ------------------------------------------------------------------------------------------
# the embedded gowalla-mini


def source_table() -> dict[str, str]:
    text = (PACKAGE_DATA_DIR / "gowalla-mini/SOURCE.md").read_text(encoding="utf-8")
    return dict(re.findall(r"^\| (\w+) \| ([^|]+?) \|$", text, flags=re.M))


def test_gowalla_mini_matches_source_md(tmp_path, monkeypatch):
    monkeypatch.setenv("QLIB_DATA_DIR", str(tmp_path / "empty"))  # independent of the data dir
    assert is_available("gowalla-mini")
    data = load_dataset("gowalla-mini", download=False)
    table = source_table()
    stats = data.stats()
    for key in ("users", "items", "interactions", "n_train", "n_test"):
        assert stats[key] == int(table[key]) == (GOWALLA_MINI[key] if key in GOWALLA_MINI else stats[key])
    assert 2_500 <= stats["users"] <= 4_000
    assert stats["users_with_test"] == stats["users"]
    assert int(table["seed"]) == 0 and table["script"] == "scripts/make_gowalla_mini.py"
    for split in ("train", "test"):
        record = data.files[f"gowalla-mini/{split}.txt.gz"]
        assert record["verified_by"] == "sha256-gz"
        assert record["sha256"] == table[f"{split}_sha256_gz"] == GOWALLA_MINI[f"{split}_sha256_gz"]
        assert int(table[f"{split}_gz_bytes"]) == Path(record["path"]).stat().st_size
    total_gz = sum(Path(r["path"]).stat().st_size for r in data.files.values())
    assert total_gz < 2 * 1024 * 1024
    counts = np.asarray(data.train.sum(0) + data.test.sum(0)).ravel()
    assert counts.min() >= 10 and np.diff(data.train.indptr).min() >= 10


def test_gowalla_mini_legcf_split():
    data = load_dataset("gowalla-mini", protocol="legcf", seed=2020)
    assert data.valid.nnz + data.test.nnz == GOWALLA_MINI["n_test"]


def test_gowalla_mini_script_reproduces_files(tmp_path):
    require("gowalla")
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    try:
        import make_gowalla_mini
    finally:
        sys.path.remove(str(REPO_ROOT / "scripts"))
    make_gowalla_mini.write(tmp_path, make_gowalla_mini.build())
    for name in ("train.txt.gz", "test.txt.gz", "SOURCE.md"):
        assert (tmp_path / name).read_bytes() == (PACKAGE_DATA_DIR / "gowalla-mini" / name).read_bytes()


# ------------------------------------------------------------------------------------------
# real datasets (MANIFEST counted figures)


REAL_COUNTS = {  # users, items, interactions, n_train, n_test (MANIFEST.md "Counted")
    "gowalla": (29_858, 40_981, 1_027_370, 810_128, 217_242),
    "yelp2018": (31_668, 38_048, 1_561_406, 1_237_259, 324_147),
    "ml-1m": (6_040, 3_952, 1_000_209, 797_758, 202_451),
}


def require(name: str) -> None:
    if not is_available(name):
        dirs = ", ".join(map(str, qdata.data_dirs_searched(name)))
        pytest.skip(f"{name} files not found in {dirs}; set QLIB_DATA_DIR")


@pytest.mark.parametrize("name", list(REAL_COUNTS))
def test_real_dataset_counts(name):
    require(name)
    stats = load_dataset(name, download=False).stats()
    users, items, interactions, n_train, n_test = REAL_COUNTS[name]
    assert (stats["users"], stats["items"], stats["interactions"]) == (users, items, interactions)
    assert (stats["n_train"], stats["n_test"]) == (n_train, n_test)


def test_gowalla_legcf_sizes():
    require("gowalla")
    stats = load_dataset("gowalla", protocol="legcf", download=False).stats()
    assert (stats["n_valid"], stats["n_test"]) == (80_990, 136_252)  # methods.md 1.2


@pytest.mark.parametrize("name, train", [("amazon-book", "amazon-book/train.txt"),
                                         ("pinterest", "pinterest/bigear_split/train.txt"),
                                         ("yelp2020", "yelp2020/train.txt")])
def test_missing_train_files(name, train):
    if is_available(name):
        pytest.skip(f"{name} train file is present locally")
    with pytest.raises(DataUnavailableError, match=re.escape(train)) as info:
        load_dataset(name, download=False)
    entry = DATASETS[name].train
    assert (entry.sha256 or entry.git_blob) in str(info.value)
    assert entry.origin.url() in str(info.value)


def test_resolve_data_dir_order(tmp_path, monkeypatch, isolated_cache):
    monkeypatch.setenv("QLIB_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv("QLIB_DATA_DIR")
    shared = REPO_ROOT.parent / "shared" / "data"
    assert resolve_data_dir() == (shared if shared.is_dir() else isolated_cache)
