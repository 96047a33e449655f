"""Local model plumbing without the real model: chunk assembly, cache reuse, and clear errors."""

from __future__ import annotations

import hashlib
import importlib.util
import socket
import tomllib
from pathlib import Path

import pytest

from programs.lm import model_files
from programs.lm.local import (
    LOCAL_MODELS,
    ChecksumMismatchError,
    LocalModel,
    LocalModelError,
    LocalServer,
    ModelPackagesMissingError,
    PortInUseError,
    ServerStartError,
    UnknownLocalModelError,
    ensure_model_file,
    resolve_cache_dir,
)

# 11 parts, so that lexicographic order (1, 10, 11, 2, ...) and numeric order differ.
N_FAKE_PARTS = 11


def _part_bytes(index: int) -> bytes:
    return f"<part {index:02d}>".encode() * (index + 3)


def _expected_bytes(n_parts: int = N_FAKE_PARTS) -> bytes:
    return b"".join(_part_bytes(i) for i in range(1, n_parts + 1))


def _install_fake_chunk_packages(root: Path, module_prefix: str, n_parts: int = N_FAKE_PARTS) -> None:
    for index in range(1, n_parts + 1):
        package = root / f"{module_prefix}{index}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"part{index:02d}.bin").write_bytes(_part_bytes(index))


@pytest.fixture
def fake_model(tmp_path, monkeypatch, request) -> LocalModel:
    """A tiny model registered as 'fake-model', whose chunk packages live in tmp_path/site."""
    module_prefix = f"fake_chunks_{abs(hash(request.node.nodeid)) % 10**8}_part"
    site = tmp_path / "site"
    _install_fake_chunk_packages(site, module_prefix)
    monkeypatch.syspath_prepend(str(site))  # also invalidates importlib's finder caches
    payload = _expected_bytes()
    model = LocalModel(
        key="fake-model",
        description="fake test model",
        package_prefix="fake-chunks-part",
        module_prefix=module_prefix,
        n_parts=N_FAKE_PARTS,
        package_version="1.0",
        size_bytes=len(payload),
        sha256=hashlib.sha256(payload).hexdigest(),
        pip_extra="sleeptime-compute[local]",
        filename="fake-model.gguf",
    )
    monkeypatch.setitem(LOCAL_MODELS, model.key, model)
    return model


def test_assembles_parts_in_numeric_order_and_writes_a_verified_marker(fake_model, tmp_path):
    cache = tmp_path / "cache"

    path = ensure_model_file("fake-model", cache_dir=cache)

    assert path == cache / "fake-model.gguf"
    assert path.read_bytes() == _expected_bytes()
    assert (cache / "fake-model.gguf.sha256").read_text().split()[0] == fake_model.sha256
    assert sorted(p.name for p in cache.iterdir()) == ["fake-model.gguf", "fake-model.gguf.sha256"]


def test_checksum_mismatch_deletes_the_partial_file_and_says_so(fake_model, tmp_path, monkeypatch):
    wrong = LocalModel(**{**fake_model.__dict__, "sha256": "0" * 64})
    monkeypatch.setitem(LOCAL_MODELS, "fake-model", wrong)
    cache = tmp_path / "cache"

    with pytest.raises(ChecksumMismatchError) as caught:
        ensure_model_file("fake-model", cache_dir=cache)

    message = str(caught.value)
    assert "deleted" in message and "0" * 64 in message and fake_model.sha256 in message
    assert "pip install --force-reinstall 'sleeptime-compute[local]'" in message
    assert list(cache.iterdir()) == []  # neither the partial file nor a marker is left behind
    assert isinstance(caught.value, LocalModelError)


def test_reuses_the_assembled_file_without_reading_the_parts_again(fake_model, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = ensure_model_file("fake-model", cache_dir=cache)
    inode_before = first.stat().st_ino

    # With the chunk packages gone, only a reuse of the cached file can succeed.
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a, **k: None)
    second = ensure_model_file("fake-model", cache_dir=cache)

    assert second == first
    assert second.stat().st_ino == inode_before
    assert second.read_bytes() == _expected_bytes()


def test_a_cached_file_of_the_wrong_size_is_rebuilt(fake_model, tmp_path):
    cache = tmp_path / "cache"
    path = ensure_model_file("fake-model", cache_dir=cache)
    path.write_bytes(b"truncated")

    rebuilt = ensure_model_file("fake-model", cache_dir=cache)

    assert rebuilt.read_bytes() == _expected_bytes()


def test_a_correct_file_without_marker_is_verified_once_and_kept(fake_model, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "fake-model.gguf").write_bytes(_expected_bytes())
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a, **k: None)
    # No packages: locate_model_parts would fail, so the hand-placed file must be hashed and accepted.
    monkeypatch.setattr(model_files, "locate_model_parts", lambda model: [])

    path = ensure_model_file("fake-model", cache_dir=cache)

    assert path.read_bytes() == _expected_bytes()
    assert (cache / "fake-model.gguf.sha256").is_file()


def test_missing_chunk_packages_are_named_with_the_pip_extra_to_install(fake_model, tmp_path, monkeypatch):
    absent = LocalModel(**{**fake_model.__dict__, "module_prefix": "surely_not_installed_chunk_part",
                           "package_prefix": "surely-not-installed-chunk-part", "n_parts": 3})
    monkeypatch.setitem(LOCAL_MODELS, "fake-model", absent)

    with pytest.raises(ModelPackagesMissingError) as caught:
        ensure_model_file("fake-model", cache_dir=tmp_path / "cache")

    message = str(caught.value)
    assert "pip install 'sleeptime-compute[local]'" in message
    for index in (1, 2, 3):
        assert f"surely-not-installed-chunk-part{index}==1.0" in message
    assert not (tmp_path / "cache").exists()


def test_a_package_without_its_data_file_is_reported(fake_model, tmp_path):
    site = Path(importlib.util.find_spec(fake_model.module_name(4)).origin).parent
    (site / "data" / "part04.bin").unlink()

    expected = r"fake-chunks-part4==1.0 \(installed, but .*part04.bin"
    with pytest.raises(ModelPackagesMissingError, match=expected):
        ensure_model_file("fake-model", cache_dir=tmp_path / "cache")


def test_unknown_model_key_lists_the_known_keys(tmp_path):
    with pytest.raises(UnknownLocalModelError) as caught:
        ensure_model_file("qwen-9000", cache_dir=tmp_path)

    message = str(caught.value)
    assert "'qwen-9000'" in message
    assert "qwen2.5-coder-0.5b" in message and "qwen2.5-coder-1.5b" in message
    with pytest.raises(UnknownLocalModelError):
        LocalServer("qwen-9000")


def test_cache_dir_comes_from_argument_then_environment_then_platform_default(tmp_path, monkeypatch):
    monkeypatch.setenv("SLEEPTIME_CACHE_DIR", str(tmp_path / "env"))
    assert resolve_cache_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_cache_dir() == tmp_path / "env"
    monkeypatch.delenv("SLEEPTIME_CACHE_DIR")
    default = resolve_cache_dir()
    assert default.name == "models" and "sleeptime-compute" in default.parts


def test_registry_matches_the_pinned_extras_in_pyproject():
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    extras = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
    assert set(LOCAL_MODELS) == {"qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"}
    for model in LOCAL_MODELS.values():
        extra_name = model.pip_extra.split("[")[1].rstrip("]")
        pinned = set(extras[extra_name])
        for index in range(1, model.n_parts + 1):
            assert f"{model.package_name(index)}=={model.package_version}" in pinned
        assert f"{model.package_name(model.n_parts + 1)}=={model.package_version}" not in pinned


def test_a_port_already_in_use_is_refused_with_the_port_named(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = LocalServer("qwen2.5-coder-0.5b", port=port, model_path=tmp_path / "unused.gguf",
                             cache_dir=tmp_path)

        with pytest.raises(PortInUseError) as caught:
            server.start()

    assert f"Port {port}" in str(caught.value) and "port=0" in str(caught.value)
    assert server.pid is None  # nothing was launched


@pytest.mark.skipif(importlib.util.find_spec("xllamacpp") is None, reason="xllamacpp is not installed")
def test_a_server_that_dies_at_once_reports_its_log_lines(tmp_path):
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(b"this is not a gguf file" * 100)
    server = LocalServer("qwen2.5-coder-0.5b", model_path=garbage, cache_dir=tmp_path, ready_timeout=120)

    with pytest.raises(ServerStartError) as caught:
        server.start()

    message = str(caught.value)
    assert "exited with code" in message
    assert "failed to load model" in message  # llama.cpp's own words, from the child's log file
    assert str(server.log_path) in message
    assert not server.running


def test_speculative_decoding_is_off_unless_asked_and_a_bad_kind_names_the_choices(monkeypatch):
    from programs.lm.server import SPECULATIVE_ENV, LocalServer, local_speculative

    monkeypatch.delenv(SPECULATIVE_ENV, raising=False)
    assert local_speculative() == "none"
    assert "--speculative" not in LocalServer("qwen2.5-coder-0.5b", model_path="m.gguf").child_command(1)
    monkeypatch.setenv(SPECULATIVE_ENV, "ngram-simple")
    assert local_speculative() == "ngram-simple"
    command = LocalServer("qwen2.5-coder-1.5b", model_path="m.gguf", speculative="ngram-mod").child_command(1)
    assert command[command.index("--speculative") + 1] == "ngram-mod"
    monkeypatch.setenv(SPECULATIVE_ENV, "eagle")
    with pytest.raises(ValueError, match=r"SLEEPTIME_LOCAL_SPECULATIVE='eagle'.*ngram-simple"):
        local_speculative()
