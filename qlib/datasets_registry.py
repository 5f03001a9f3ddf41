"""Registry of the benchmark datasets: where each file comes from and what it must contain.

Every number and hash here is copied from ``shared/data/MANIFEST.md`` (origins: repository,
commit and path; sha256 of the stored ``.gz`` and of the raw content; git blob ids; counted
statistics). :mod:`qlib.data` uses the registry to find, verify, download and check files.

Two kinds of expected counts are kept apart:

* ``n_users``, ``n_items``, ``n_interactions``, ``n_train``, ``n_test`` are *hard* checks: a
  parsed dataset that disagrees raises :class:`qlib.data.DataFormatError`. They are set only
  where the manifest counted the figure in the files, or where the figure is the well-known,
  repeatedly counted size of a split (LightGCN amazon-book).
* ``reported`` holds figures printed in a paper that nobody could check against the files here
  (for example the train sizes of yelp2020 and pinterest); a disagreement is logged as a
  warning, never an error.

Adding a dataset: build a :class:`DatasetSpec` and either pass it directly to
``qlib.data.load_dataset(spec)`` (no global state touched) or call :func:`register_dataset`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_BASE_URL = "https://raw.githubusercontent.com"
"""Base of the download URLs; the layout below it is ``<repo>/<commit>/<path>``."""

PACKAGE_DATA_DIR = Path(__file__).resolve().parent / "data_files"
"""Root of the datasets shipped inside the package (``embedded=True`` specs)."""


@dataclass(frozen=True)
class Origin:
    """Public location of a file: a path inside one commit of a GitHub repository."""

    repo: str
    commit: str
    path: str

    def url(self, base_url: str = DEFAULT_BASE_URL) -> str:
        """Raw-file URL under ``base_url`` (``<base>/<repo>/<commit>/<path>``)."""
        return f"{base_url.rstrip('/')}/{self.repo}/{self.commit}/{self.path}"


@dataclass(frozen=True)
class DataFile:
    """One data file of a dataset.

    ``relpath`` is the uncompressed name relative to a data directory (or to
    :data:`PACKAGE_DATA_DIR` for embedded datasets); ``<relpath>.gz`` is accepted too.
    ``sha256`` and ``git_blob`` describe the raw (uncompressed) content, ``sha256_gz`` the
    stored gzip file. At least one of them should be known; a file without any is loaded
    unverified (with a warning).
    """

    relpath: str
    sha256: str | None = None
    sha256_gz: str | None = None
    git_blob: str | None = None
    size: int | None = None
    origin: Origin | None = None

    def expected_hashes_text(self) -> str:
        """Human-readable list of the hashes a correct copy has."""
        parts = []
        if self.sha256:
            parts.append(f"sha256 {self.sha256} (raw content)")
        if self.git_blob:
            parts.append(f"git blob {self.git_blob} (raw content)")
        if self.sha256_gz:
            parts.append(f"sha256 {self.sha256_gz} (of {Path(self.relpath).name}.gz)")
        if self.size:
            parts.append(f"{self.size:,} bytes raw")
        return "; ".join(parts) if parts else "no hash recorded"


@dataclass(frozen=True, eq=False)
class DatasetSpec:
    """Everything :func:`qlib.data.load_dataset` needs to know about one dataset.

    ``n_items`` is the size of the item id space when known (it can exceed the largest id that
    occurs, e.g. ml-1m has 3,952 movie ids of which 3,706 are rated); when ``None`` it is the
    largest id + 1. ``embedded`` datasets live in :data:`PACKAGE_DATA_DIR` and are never looked
    up in a data directory nor downloaded.
    """

    name: str
    train: DataFile
    test: DataFile
    n_users: int | None = None
    n_items: int | None = None
    n_interactions: int | None = None
    n_train: int | None = None
    n_test: int | None = None
    reported: dict = field(default_factory=dict)
    embedded: bool = False
    description: str = ""

    @property
    def files(self) -> tuple[DataFile, DataFile]:
        """The (train, test) files, in load order."""
        return (self.train, self.test)

    def expected_counts(self) -> dict[str, int]:
        """Hard-checked counts that are known (name -> value)."""
        counts = {
            "users": self.n_users,
            "items": self.n_items,
            "interactions": self.n_interactions,
            "n_train": self.n_train,
            "n_test": self.n_test,
        }
        return {key: value for key, value in counts.items() if value is not None}


GOWALLA_MINI = {
    # Printed by scripts/make_gowalla_mini.py; must agree with data_files/gowalla-mini/SOURCE.md.
    "users": 3372,
    "items": 4813,
    "n_train": 86324,
    "n_test": 22534,
    "train_sha256": "c38a99357b23706db9f7535c64bd9085463954f2ca06dc4eb1524b9b88eb3b85",
    "train_sha256_gz": "9b1a59f99f8dc1842448f18e07b5f48ab42e495a985401a8834963b11f40fe92",
    "test_sha256": "35a4b1dc371c9f481b27cec1fc0cb07a24845a29771dc3df39c32ca104e7ad01",
    "test_sha256_gz": "d6308797dc0c7ec4fd6ff911f26df35ce1d0b044e2f31c55eda5e426c3f3124e",
}
"""Statistics and hashes of the embedded ``gowalla-mini`` files."""


_LIGHTGCN = ("kuandeng/LightGCN", "b067ec05f16a24e0e1efe63cd82385f0c469af20")
_BGCH = ("yankai-chen/BGCH", "b18f509e3b9b0202da3c5a3ec0c8abb5ce018a4d")
_LEGCF = ("xurong-liang/LEGCF", "68d63cba3f1e38a9441fc1cbcfd5da4210dab840")


def _lightgcn_origin(dataset: str, split: str) -> Origin:
    return Origin(*_LIGHTGCN, f"Data/{dataset}/{split}.txt")


def _builtin_specs() -> list[DatasetSpec]:
    """The datasets of MANIFEST.md plus the embedded gowalla-mini."""
    return [
        DatasetSpec(
            name="gowalla",
            description="Gowalla check-ins, LightGCN/NGCF 80/20 split (MANIFEST section 1)",
            train=DataFile(
                "gowalla/train.txt",
                sha256="7244696fdeb23911319cf7b689f2e15a3c4c92549c873a5677b44e3f13cc3e62",
                sha256_gz="61fb99c1e8bcbd8c4a0ec56a079d033a18985317589e52cc952767b49b2506a7",
                git_blob="a27782bd7a1d4d0744148dc0460ea94da74763f2",
                size=4_633_414,
                origin=_lightgcn_origin("gowalla", "train"),
            ),
            test=DataFile(
                "gowalla/test.txt",
                sha256="099a2a73924e4b754dc6efd730d764f492321b53c38eb93298850c83acf57be3",
                sha256_gz="23368b745faf7cf0201859230872db6ccf13e23cbaf0c844de53c94b6f8888ea",
                git_blob="9ed5af4b5d21511f33740b4e22e3852f45671800",
                size=1_372_559,
                origin=_lightgcn_origin("gowalla", "test"),
            ),
            n_users=29_858, n_items=40_981, n_interactions=1_027_370,
            n_train=810_128, n_test=217_242,
        ),
        DatasetSpec(
            name="yelp2018",
            description="Yelp 2018 challenge, LightGCN/NGCF split (MANIFEST section 2)",
            train=DataFile(
                "yelp2018/train.txt",
                sha256="1e9568725a9e833d0ac3bae01c94cd95367f73b3bb6104fd26b5f65ea5054093",
                sha256_gz="9b69e51c511d3552ba88a05023f6fcfdf7c1a2d4ab64d3b67cea126d6d398572",
                git_blob="cda12361055ba448ae4bd1070f6000c16dea8f22",
                size=6_904_880,
                origin=_lightgcn_origin("yelp2018", "train"),
            ),
            test=DataFile(
                "yelp2018/test.txt",
                sha256="9cd9b37926cd1447a06625ffa7914527573fb097c10cb0bbdb1d1b8ded3742fe",
                sha256_gz="d5eb19d4311a3d48f49534bfbd9f5cfefc4d4c684bff7754648478f3aef69b41",
                git_blob="30dfbc3437b27b74cb2970b435a5ec93ad9f2468",
                size=1_986_152,
                origin=_lightgcn_origin("yelp2018", "test"),
            ),
            n_users=31_668, n_items=38_048, n_interactions=1_561_406,
            n_train=1_237_259, n_test=324_147,
        ),
        DatasetSpec(
            name="amazon-book",
            description="Amazon Books, LightGCN/NGCF split (MANIFEST section 3; train not stored)",
            train=DataFile(
                "amazon-book/train.txt",
                sha256="529066026085919381acd4ce19f69e9eafa4af3fef1a10119ea5551cc2ef8530",
                git_blob="6ef55159c5f1fd7f6d86eb9ff290d0cc2854ac99",
                size=14_125_691,
                origin=_lightgcn_origin("amazon-book", "train"),
            ),
            test=DataFile(
                "amazon-book/test.txt",
                sha256="6250754994dd953b91b48dccdd77a73f318e0634b4757c2abfcc9d33a54ab0f5",
                sha256_gz="cffdbab4f2f65d2071c0dc001c03e1e72edc03865343ae6b28ae96fc8e5a6c2d",
                git_blob="09e5da4e0bf46c751c4ba0f4375e414fd13512cd",
                size=3_848_611,
                origin=_lightgcn_origin("amazon-book", "test"),
            ),
            n_users=52_643, n_items=91_599, n_interactions=2_984_108,
            n_train=2_380_730, n_test=603_378,
        ),
        DatasetSpec(
            name="ml-1m",
            description="MovieLens 1M, BiGeaR/BGCH 'movie' split, item = MovieID-1 (MANIFEST 5a)",
            train=DataFile(
                "ml-1m/bigear_split/train.txt",
                sha256="4e6d1e5cc25bccebedec745504afbfcbf6006bfb99d788f231c228eded9c2dcb",
                sha256_gz="6f9a826360fdd408f8a2699cbaa22635a5b7156ad70418f9d18f020ad757b600",
                git_blob="5004fbe320487b6f70fd7e086ee5c8c963ecc6be",
                size=3_793_058,
                origin=Origin(*_BGCH, "dataset/movie/train.txt"),
            ),
            test=DataFile(
                "ml-1m/bigear_split/test.txt",
                sha256="764c1e4d8af7d8483b2d74958fcd144113db9edc4a9ee9e41e6f641d690c2aec",
                sha256_gz="bb436756ad7504683d6f4cb47db58834b785d2a054280599e5b22c8d8afc8797",
                git_blob="45d96545b610b290c964f97125bd318fc26b16e0",
                size=984_871,
                origin=Origin(*_BGCH, "dataset/movie/test.txt"),
            ),
            n_users=6_040, n_items=3_952, n_interactions=1_000_209,
            n_train=797_758, n_test=202_451,
        ),
        DatasetSpec(
            name="pinterest",
            description="Pinterest-20, BiGeaR/BGCH split (MANIFEST 6b; train not stored)",
            train=DataFile(
                "pinterest/bigear_split/train.txt",
                git_blob="5e0d21bbf9c81a5954fb5418bafac66ff7ef111c",
                origin=Origin(*_BGCH, "dataset/pinterest/train.txt"),
            ),
            test=DataFile(
                "pinterest/bigear_split/test.txt",
                sha256="ed8455356ce19864e588d619c0eef7fa6ddf2c9c166a9ae614015ec38892708e",
                sha256_gz="10bb6dbcb68f7c768eee81e78bf6702aabaecaf55c7a8f146d94dc25e1e84433",
                git_blob="3af98d26007c5a4e2b14272e87ad79ec8f0ed3ba",
                size=1_836_778,
                origin=Origin(*_BGCH, "dataset/pinterest/test.txt"),
            ),
            n_test=314_396,
            reported={"users": 55_186, "items": 9_916, "interactions": 1_463_556,
                      "source": "L2Q-GCN Table 1 (unverified against the files)"},
        ),
        DatasetSpec(
            name="yelp2020",
            description="Yelp 2020 (HGCF data), LEGCF split (MANIFEST section 4; train not stored)",
            train=DataFile(
                "yelp2020/train.txt",
                git_blob="392633dd8c6e99d4b64eb0da0d0f5efacf66e95a",
                origin=Origin(*_LEGCF, "data/yelp2020/train.txt"),
            ),
            test=DataFile(
                "yelp2020/test.txt",
                sha256="a6bed672223be8d3040f2ac1a574c0dc496383f9314f6b810f8ded598b7cf308",
                sha256_gz="7fa610c376a707fa007581b1c00b1945c42ca59c5559fd4eb44bc1786b45649f",
                git_blob="2627c3b7c189a6e59bb4e7f538ad3dd6cbf454c8",
                size=2_626_384,
                origin=Origin(*_LEGCF, "data/yelp2020/test.txt"),
            ),
            n_users=71_135, n_items=45_063, n_test=384_561,
            reported={"interactions": 1_782_999, "n_train": 1_398_438,
                      "source": "LEGCF Table 1 (unverified against the files)"},
        ),
        DatasetSpec(
            name="gowalla-mini",
            description=("Seeded user sample of gowalla, 10-core filtered, shipped with the package "
                         "(scripts/make_gowalla_mini.py; see data_files/gowalla-mini/SOURCE.md)"),
            train=DataFile(
                "gowalla-mini/train.txt",
                sha256=GOWALLA_MINI["train_sha256"],
                sha256_gz=GOWALLA_MINI["train_sha256_gz"],
            ),
            test=DataFile(
                "gowalla-mini/test.txt",
                sha256=GOWALLA_MINI["test_sha256"],
                sha256_gz=GOWALLA_MINI["test_sha256_gz"],
            ),
            n_users=GOWALLA_MINI["users"], n_items=GOWALLA_MINI["items"],
            n_interactions=GOWALLA_MINI["n_train"] + GOWALLA_MINI["n_test"],
            n_train=GOWALLA_MINI["n_train"], n_test=GOWALLA_MINI["n_test"],
            embedded=True,
        ),
    ]


DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in _builtin_specs()}
"""Dataset name -> spec. Use :func:`register_dataset` to add one."""


def register_dataset(spec: DatasetSpec, replace: bool = False) -> DatasetSpec:
    """Add ``spec`` to :data:`DATASETS` so that ``load_dataset(spec.name)`` finds it.

    Raises ``ValueError`` if the name is taken and ``replace`` is false. Passing the spec object
    itself to ``load_dataset``/``fetch``/``is_available`` needs no registration at all.
    """
    if spec.name in DATASETS and not replace:
        raise ValueError(f"dataset {spec.name!r} is already registered; pass replace=True")
    DATASETS[spec.name] = spec
    return spec


def get_spec(name: str | DatasetSpec) -> DatasetSpec:
    """The spec of ``name`` (a spec passes through); ``KeyError`` lists the known names."""
    if isinstance(name, DatasetSpec):
        return name
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(DATASETS))
        raise KeyError(f"unknown dataset {name!r}; known datasets: {known}") from None
