"""The MNIST loader: IDX parsing, verified downloads with fallback and retries, the cache,
and the real data set (when MNIST_DIR or ../shared/data/mnist has it).

Downloads are tested against a scripted HTTP server on 127.0.0.1 and a file:// mirror,
serving small IDX files these tests write themselves, with their own checksum table.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from mnist_fixtures import (
    Mirror,
    closed_port_url,
    gz,
    idx_bytes,
    leftovers,
    sha256_table,
    small_files,
)

from numpynet import mnist

ROOT = Path(__file__).resolve().parents[1]
IMAGES, LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"
NAMES = [IMAGES, LABELS, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


@pytest.fixture
def small() -> dict[str, bytes]:
    """Decompressed content of four small (20-item) files with the real MNIST names."""
    return small_files(NAMES)


@pytest.fixture
def table(small) -> dict[str, str]:
    return sha256_table(small)


@pytest.fixture
def mirror(small):
    with Mirror({f"{name}.gz": gz(content) for name, content in small.items()}) as server:
        yield server


@pytest.fixture
def sleeps() -> list[float]:
    """Backoff sleeps requested by the code, recorded instead of slept."""
    return []


@pytest.fixture
def fast(table, sleeps) -> dict:
    """Download options for tests: small checksum table, 3 tries, no real sleeping."""
    return dict(checksums=table, retries=3, backoff=0.5, timeout=5, progress=False,
                sleep=sleeps.append)  # fmt: skip


REAL_DEFAULT_CACHE_DIR = mnist.default_cache_dir  # before no_env replaces it


@pytest.fixture(autouse=True)
def no_env(monkeypatch, tmp_path):
    """No test depends on the caller's MNIST_DIR, and none may touch the real cache."""
    monkeypatch.delenv("MNIST_DIR", raising=False)
    monkeypatch.setattr(mnist, "default_cache_dir", lambda: tmp_path / "cache")


# ------------------------------------------------------------------------------ IDX


def test_parse_idx_reads_a_hand_written_file():
    content = b"\0\0\x08\x02" + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") + bytes(range(6))
    array = mnist.parse_idx(content)
    assert array.dtype == np.uint8 and array.shape == (2, 3)
    assert array.tolist() == [[0, 1, 2], [3, 4, 5]]


def test_idx_is_big_endian():
    content = b"\0\0\x0b\x01" + (2).to_bytes(4, "big") + b"\x00\x01\x01\x00"
    assert mnist.parse_idx(content).tolist() == [1, 256]
    assert mnist.encode_idx(np.array([1, 256], dtype=np.int16)) == content


def test_mnist_magic_numbers_follow_from_the_names():
    # 2051 and 2049 are the magic numbers printed in the MNIST file format description.
    assert mnist.expected_magic(IMAGES) == 2051
    assert mnist.expected_magic(LABELS) == 2049
    assert mnist.expected_magic("readme.txt") is None


IDX_DTYPES = st.sampled_from(["u1", "i1", "i2", "i4", "f4", "f8"])


@given(
    hnp.arrays(
        IDX_DTYPES,
        hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
    )
)
def test_idx_round_trip(array):
    content = mnist.encode_idx(array)
    back = mnist.parse_idx(content)
    assert back.shape == array.shape and back.dtype == array.dtype
    np.testing.assert_array_equal(back, array)
    assert len(content) == 4 + 4 * array.ndim + array.nbytes


@given(
    hnp.arrays(np.uint8, hnp.array_shapes(min_dims=1, max_dims=3, max_side=6)),
    st.data(),
)
def test_any_truncation_or_extra_bytes_is_refused(array, data):
    content = idx_bytes(array)
    cut = data.draw(st.integers(0, len(content) - 1), label="cut")
    with pytest.raises(mnist.MNISTError):
        mnist.parse_idx(content[:cut])
    with pytest.raises(mnist.MNISTError):
        mnist.parse_idx(content + b"\0")


@pytest.mark.parametrize("magic", [b"\x12\x34\x56\x78", b"\0\0\x07\x01", b"\0\0\x08\x00"])
def test_parse_idx_refuses_a_wrong_magic(magic):
    with pytest.raises(mnist.MNISTError, match="magic number"):
        mnist.parse_idx(magic + bytes(40), "some-file")


# ---------------------------------------------------------------------- manifest


def test_manifest_copy_matches_the_constant():
    committed = json.loads((ROOT / "data" / "manifest.json").read_text())
    assert committed == mnist.MANIFEST, (
        "data/manifest.json is out of date: regenerate it with "
        "`cd solutions && python -m numpynet data --manifest > ../data/manifest.json`"
    )


def test_mirrors_are_the_public_ones_in_order():
    assert mnist.MIRRORS == (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    )


def test_manifest_is_self_consistent():
    files = mnist.MANIFEST["files"]
    for split, entry in mnist.MANIFEST["splits"].items():
        images, labels = files[entry["images"]], files[entry["labels"]]
        assert images["shape"] == [entry["count"], 28, 28], split
        assert labels["shape"] == [entry["count"]], split
    for name, entry in files.items():
        assert mnist.expected_magic(name) == entry["magic"], name


def shared_mnist_dir() -> Path | None:
    for candidate in (os.environ.get("MNIST_DIR"), ROOT.parent / "shared" / "data" / "mnist"):
        if candidate and (Path(candidate) / "SHA256SUMS.raw").is_file():
            return Path(candidate)
    return None


SHARED = shared_mnist_dir()
needs_shared = pytest.mark.skipif(
    SHARED is None, reason="real MNIST not found (set MNIST_DIR to a folder with SHA256SUMS.raw)"
)


def published_sums() -> dict[str, str]:
    """name -> sha256 from the data set's own SHA256SUMS.raw (``<hash>  <name>`` lines)."""
    lines = (SHARED / "SHA256SUMS.raw").read_text().splitlines()
    return {name: digest for digest, name in (line.split() for line in lines if line.strip())}


@needs_shared
def test_manifest_checksums_match_the_published_sums():
    assert published_sums() == mnist.SHA256


# ---------------------------------------------------------------------- downloads


def test_download_good_file(mirror, small, fast, tmp_path, sleeps):
    path = mnist.download(IMAGES, tmp_path, mirrors=[mirror.url], **fast)
    assert path == tmp_path / IMAGES
    assert path.read_bytes() == small[IMAGES]  # stored decompressed
    assert leftovers(tmp_path) == [IMAGES]  # no temporary files left
    assert mirror.requests == {f"{IMAGES}.gz": 1} and sleeps == []


def test_download_from_a_file_url_mirror(small, fast, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    (served / f"{LABELS}.gz").write_bytes(gz(small[LABELS]))
    path = mnist.download(LABELS, tmp_path / "dest", mirrors=[served.as_uri() + "/"], **fast)
    assert path.read_bytes() == small[LABELS]


def test_download_accepts_a_mirror_without_trailing_slash(mirror, small, fast, tmp_path):
    path = mnist.download(LABELS, tmp_path, mirrors=[mirror.url.rstrip("/")], **fast)
    assert path.read_bytes() == small[LABELS]


def test_download_shows_a_progress_bar(mirror, fast, tmp_path, capsys):
    mnist.download(IMAGES, tmp_path, mirrors=[mirror.url], **(fast | {"progress": True}))
    err = capsys.readouterr().err
    assert IMAGES in err and "100%" in err


def corrupt(kind: str, content: bytes) -> bytes:
    """The .gz payload a broken mirror might serve instead of gz(content)."""
    if kind == "truncated gzip":
        return gz(content)[:-100]
    if kind == "truncated idx":
        return gz(content[:-10])
    if kind == "flipped byte":
        return gz(content[:500] + bytes([content[500] ^ 1]) + content[501:])
    if kind == "wrong type code":  # magic 0x0903 (int8 images): same size, wrong magic
        return gz(content[:2] + b"\x09" + content[3:])
    if kind == "not idx":
        return gz(b"<html>503 Service Unavailable</html>")
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind, message",
    [
        ("truncated gzip", "broken gzip"),
        ("truncated idx", "truncated or corrupted"),
        ("flipped byte", "sha256"),
        ("wrong type code", "magic number 2307, expected 2051"),
        ("not idx", "not an IDX header"),
    ],
)
def test_bad_downloads_are_refused_and_leave_nothing(kind, message, small, fast, tmp_path):
    with Mirror({f"{IMAGES}.gz": corrupt(kind, small[IMAGES])}) as server:
        with pytest.raises(mnist.MNISTError, match=message) as error:
            mnist.download(IMAGES, tmp_path, mirrors=[server.url], **fast)
        assert server.requests[f"{IMAGES}.gz"] == 3  # retried: a transfer can be garbled
    assert IMAGES in str(error.value) and "MNIST_DIR" in str(error.value)
    assert leftovers(tmp_path) == []


def test_connection_dropped_midway_is_retried_then_succeeds(mirror, small, fast, tmp_path, sleeps):
    mirror.script[f"{IMAGES}.gz"] = ["truncate"]
    path = mnist.download(IMAGES, tmp_path, mirrors=[mirror.url], **fast)
    assert path.read_bytes() == small[IMAGES]
    assert mirror.requests[f"{IMAGES}.gz"] == 2 and sleeps == [0.5]


def test_connection_always_dropped_leaves_no_partial_file(mirror, fast, tmp_path):
    mirror.script[f"{IMAGES}.gz"] = ["truncate"] * 3
    with pytest.raises(mnist.MNISTError) as error:
        mnist.download(IMAGES, tmp_path, mirrors=[mirror.url], **fast)
    assert str(error.value).count("connection dropped") == 3
    assert "(attempt 3/3): received" in str(error.value)
    assert leftovers(tmp_path) == []


def test_server_errors_are_retried_with_exponential_backoff(mirror, small, fast, tmp_path, sleeps):
    mirror.script[f"{LABELS}.gz"] = ["503", "503"]
    path = mnist.download(LABELS, tmp_path, mirrors=[mirror.url], **fast)
    assert path.read_bytes() == small[LABELS]
    assert mirror.requests[f"{LABELS}.gz"] == 3
    assert sleeps == [0.5, 1.0]


def test_retries_are_bounded(mirror, fast, tmp_path, sleeps):
    mirror.script[f"{LABELS}.gz"] = ["503"] * 10
    with pytest.raises(mnist.MNISTError, match="HTTP 503") as error:
        mnist.download(LABELS, tmp_path, mirrors=[mirror.url], **(fast | {"retries": 2}))
    assert mirror.requests[f"{LABELS}.gz"] == 2 and sleeps == [0.5]
    assert str(error.value).count("HTTP 503") == 2  # every attempt is reported


def test_unreachable_first_mirror_falls_back_to_the_second(mirror, small, fast, tmp_path, sleeps):
    dead = closed_port_url()
    path = mnist.download(IMAGES, tmp_path, mirrors=[dead, mirror.url], **fast)
    assert path.read_bytes() == small[IMAGES]
    assert sleeps == [0.5, 1.0]  # the dead mirror got its 3 tries first
    assert mirror.requests[f"{IMAGES}.gz"] == 1


def test_missing_file_on_a_mirror_skips_it_without_retrying(small, fast, tmp_path, sleeps):
    with Mirror({}) as empty, Mirror({f"{LABELS}.gz": gz(small[LABELS])}) as full:
        path = mnist.download(LABELS, tmp_path, mirrors=[empty.url, full.url], **fast)
        assert empty.requests[f"{LABELS}.gz"] == 1
    assert path.read_bytes() == small[LABELS] and sleeps == []


def test_a_corrupt_first_mirror_falls_back_to_a_good_one(small, fast, tmp_path):
    bad = {f"{IMAGES}.gz": corrupt("flipped byte", small[IMAGES])}
    with Mirror(bad) as broken, Mirror({f"{IMAGES}.gz": gz(small[IMAGES])}) as good:
        path = mnist.download(IMAGES, tmp_path, mirrors=[broken.url, good.url], **fast)
    assert path.read_bytes() == small[IMAGES]


def test_a_slow_mirror_times_out(mirror, fast, tmp_path):
    mirror.script[f"{LABELS}.gz"] = ["hang"]
    options = fast | {"timeout": 0.2, "retries": 1}
    with pytest.raises(mnist.MNISTError, match="timed out"):
        mnist.download(LABELS, tmp_path, mirrors=[mirror.url], **options)


def test_a_file_without_checksum_is_never_stored(mirror, fast, tmp_path):
    options = fast | {"checksums": {}, "retries": 1}
    with pytest.raises(mnist.MNISTError, match="no sha256 known"):
        mnist.download(IMAGES, tmp_path, mirrors=[mirror.url], **options)
    assert leftovers(tmp_path) == []


def test_a_failed_write_keeps_the_old_file_and_no_temporary(mirror, fast, tmp_path, monkeypatch):
    (tmp_path / IMAGES).write_bytes(b"old")

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mnist.os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        mnist.download(IMAGES, tmp_path, mirrors=[mirror.url], **fast)
    assert (tmp_path / IMAGES).read_bytes() == b"old"
    assert leftovers(tmp_path) == [IMAGES]


def test_unwritable_folder_is_reported_before_downloading(mirror, fast, tmp_path, monkeypatch):
    # Simulated: the tests may run as root, for whom every folder is writable.
    monkeypatch.setattr(mnist.os, "access", lambda path, mode: False)
    with pytest.raises(mnist.MNISTError, match="is not writable.*MNIST_DIR"):
        mnist.download(IMAGES, tmp_path, mirrors=[mirror.url], **fast)
    assert mirror.requests == {}


def test_retries_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="retries"):
        mnist.download(IMAGES, tmp_path, mirrors=[], retries=0)


# --------------------------------------------------------------- finding and caching


def test_chosen_folder_with_gz_or_plain_files(small, table, tmp_path, monkeypatch):
    (tmp_path / f"{IMAGES}.gz").write_bytes(gz(small[IMAGES]))
    (tmp_path / LABELS).write_bytes(small[LABELS])
    expected_images = np.frombuffer(small[IMAGES], np.uint8, offset=16).reshape(-1, 28, 28)
    np.testing.assert_array_equal(mnist.get_file(IMAGES, tmp_path, checksums=table),
                                  expected_images)  # fmt: skip
    monkeypatch.setenv("MNIST_DIR", str(tmp_path))  # the same folder, chosen through the env
    labels = mnist.get_file(LABELS, checksums=table)
    np.testing.assert_array_equal(labels, np.frombuffer(small[LABELS], np.uint8, offset=8))


def test_data_dir_argument_wins_over_mnist_dir(small, table, tmp_path, monkeypatch):
    (tmp_path / LABELS).write_bytes(small[LABELS])
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "elsewhere"))  # does not exist
    assert len(mnist.get_file(LABELS, tmp_path, checksums=table)) == 20
    with pytest.raises(mnist.MNISTError, match="MNIST_DIR=.*elsewhere: no such folder"):
        mnist.get_file(LABELS, checksums=table)


def test_bad_file_in_a_chosen_folder_is_an_error_and_left_alone(
    small, table, mirror, fast, tmp_path
):
    bad = corrupt("flipped byte", small[IMAGES])
    (tmp_path / f"{IMAGES}.gz").write_bytes(bad)
    with pytest.raises(mnist.MNISTError) as error:
        mnist.get_file(IMAGES, tmp_path, mirrors=[mirror.url], **fast)
    message = str(error.value)
    assert f"{IMAGES}.gz" in message and "sha256" in message and "Replace" in message
    assert (tmp_path / f"{IMAGES}.gz").read_bytes() == bad  # never modified
    assert leftovers(tmp_path) == [f"{IMAGES}.gz"]
    assert mirror.requests == {}  # and never silently replaced by a download


def test_missing_file_in_a_chosen_folder_is_downloaded_there(small, mirror, fast, tmp_path):
    labels = mnist.get_file(LABELS, tmp_path, mirrors=[mirror.url], **fast)
    assert len(labels) == 20
    assert (tmp_path / LABELS).read_bytes() == small[LABELS]


def test_bad_cache_file_is_quarantined_and_replaced(small, mirror, fast, tmp_path):
    cache = mnist.default_cache_dir()  # tmp_path / "cache", see no_env
    cache.mkdir()
    (cache / IMAGES).write_bytes(small[IMAGES][:-7])  # e.g. a disk that filled up
    with pytest.warns(UserWarning, match="truncated"):
        images = mnist.get_file(IMAGES, mirrors=[mirror.url], **fast)
    assert images.shape == (20, 28, 28)
    assert (cache / IMAGES).read_bytes() == small[IMAGES]
    assert (cache / f"{IMAGES}.corrupt").read_bytes() == small[IMAGES][:-7]
    assert mirror.requests[f"{IMAGES}.gz"] == 1


def test_default_cache_in_a_checkout_is_data_mnist():
    assert REAL_DEFAULT_CACHE_DIR() == ROOT / "data" / "mnist"


def test_default_cache_outside_a_checkout_is_the_user_cache(tmp_path, monkeypatch):
    # The same module file, installed somewhere without data/manifest.json around it.
    package = tmp_path / "site-packages" / "numpynet"
    package.mkdir(parents=True)
    (package / "mnist.py").write_bytes(Path(mnist.__file__).read_bytes())
    spec = importlib.util.spec_from_file_location("installed_mnist", package / "mnist.py")
    installed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(installed)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert installed.default_cache_dir() == tmp_path / "xdg" / "numpynet" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert installed.default_cache_dir() == tmp_path / "home" / ".cache" / "numpynet" / "mnist"


def test_ensure_mnist_downloads_once_then_uses_the_cache(small, mirror, fast):
    folder = mnist.ensure_mnist(mirrors=[mirror.url], **fast)
    assert folder == mnist.default_cache_dir()
    assert sorted(leftovers(folder)) == sorted(NAMES)
    for name in NAMES:
        assert (folder / name).read_bytes() == small[name]
    assert mnist.ensure_mnist(mirrors=[mirror.url], **fast) == folder
    assert all(count == 1 for count in mirror.requests.values())
    assert len(mirror.requests) == 4


def test_ensure_mnist_failure_tells_the_user_what_to_do(fast):
    with pytest.raises(mnist.MNISTError) as error:
        mnist.ensure_mnist(mirrors=[closed_port_url()], **(fast | {"retries": 1}))
    message = str(error.value)
    assert "MNIST_DIR" in message and "network" in message and IMAGES in message


def test_command_line_prints_the_manifest(capsys):
    mnist.main(["--manifest"])
    assert json.loads(capsys.readouterr().out) == mnist.MANIFEST


def test_command_line_reports_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        mnist.main(["--data-dir", str(tmp_path / "nope")])
    assert exit_.value.code == 1
    assert "no such folder" in capsys.readouterr().err


@pytest.mark.parametrize("split", ["valid", "Train", "", None, 0])
def test_load_mnist_rejects_unknown_splits(split):
    with pytest.raises(ValueError, match="'train' or 'test'"):
        mnist.load_mnist(split)


# ---------------------------------------------------------------------- real MNIST

# Class counts of the standard MNIST files (published widely, e.g. in torchvision docs).
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.slow
@needs_shared
@pytest.mark.parametrize(
    "split, prefix, counts", [("train", "train", TRAIN_COUNTS), ("test", "t10k", TEST_COUNTS)]
)
def test_real_mnist(split, prefix, counts):
    X, y = mnist.load_mnist(split, SHARED)
    n = sum(counts)
    assert X.shape == (n, 784) and X.dtype == np.float32
    assert y.shape == (n,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert np.bincount(y, minlength=10).tolist() == counts
    # Independently of the loader: gunzip, check the published sum, compare pixels and labels.
    sums = published_sums()
    raw_images = gzip.decompress((SHARED / f"{prefix}-images-idx3-ubyte.gz").read_bytes())
    raw_labels = gzip.decompress((SHARED / f"{prefix}-labels-idx1-ubyte.gz").read_bytes())
    assert hashlib.sha256(raw_images).hexdigest() == sums[f"{prefix}-images-idx3-ubyte"]
    assert hashlib.sha256(raw_labels).hexdigest() == sums[f"{prefix}-labels-idx1-ubyte"]
    pixels = np.frombuffer(raw_images, np.uint8, offset=16).reshape(n, 784)
    np.testing.assert_array_equal(X, pixels / np.float32(255))
    np.testing.assert_array_equal(y, np.frombuffer(raw_labels, np.uint8, offset=8))


@pytest.mark.slow
@needs_shared
def test_real_mnist_through_mnist_dir(monkeypatch):
    monkeypatch.setenv("MNIST_DIR", str(SHARED))
    assert mnist.ensure_mnist() == SHARED


def test_the_package_command_line_forwards_data_to_the_loader(capsys):
    """`python -m numpynet data --manifest` prints the manifest the loader uses."""
    from numpynet.cli import main as cli_main

    assert cli_main(["data", "--manifest"]) == 0
    assert json.loads(capsys.readouterr().out) == mnist.MANIFEST
