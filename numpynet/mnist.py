"""MNIST: find, download, verify and parse the four IDX files.

This module is plumbing, not an exercise. It gets the data set onto your disk and into
NumPy, and refuses to hand you a broken file.

Where the files are looked for, and where missing ones are downloaded to (first wins):

1. the ``data_dir`` argument,
2. the ``MNIST_DIR`` environment variable,
3. the default cache: ``data/mnist/`` in the course checkout, or, when the package is
   installed somewhere else, ``$XDG_CACHE_HOME/numpynet/mnist`` (``~/.cache/numpynet/mnist``).

Each file may be there decompressed (``train-images-idx3-ubyte``) or gzipped
(``train-images-idx3-ubyte.gz``). Every load checks the sha256 of the DECOMPRESSED
content against ``MANIFEST`` (hashing is cheap next to decompressing). Downloads try
the mirrors in order, retry with exponential backoff, are verified before they are
stored, and are stored atomically (temporary file, then ``os.replace``), decompressed.

A bad file in the default cache is moved aside (``<name>.corrupt``) and downloaded
again; a bad file in a folder you chose is never touched: you get an error that names
it and says what to do.

Command line: ``python -m numpynet data`` downloads/verifies all four files and prints
their folder; ``python -m numpynet data --manifest`` prints ``MANIFEST`` as JSON (the
committed copy is ``data/manifest.json``).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import http.client
import json
import os
import re
import tempfile
import time
import urllib.error
import urllib.request
import warnings
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

# The single source of truth for what MNIST is. data/manifest.json is a committed,
# human-readable copy; a test checks that the two agree. It lives here, not in a JSON
# file next to the repo, because this package may be installed on its own.
MANIFEST: dict = {
    "description": "MNIST handwritten digits (IDX format). sha256 is of the DECOMPRESSED "
    "file: it holds for every mirror, whatever gzip wrote the .gz container.",
    "mirrors": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ],
    "download_suffix": ".gz",
    "files": {
        "train-images-idx3-ubyte": {
            "sha256": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "magic": 2051,
            "shape": [60000, 28, 28],
        },
        "train-labels-idx1-ubyte": {
            "sha256": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "magic": 2049,
            "shape": [60000],
        },
        "t10k-images-idx3-ubyte": {
            "sha256": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "magic": 2051,
            "shape": [10000, 28, 28],
        },
        "t10k-labels-idx1-ubyte": {
            "sha256": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            "magic": 2049,
            "shape": [10000],
        },
    },
    "splits": {
        "train": {
            "images": "train-images-idx3-ubyte",
            "labels": "train-labels-idx1-ubyte",
            "count": 60000,
        },
        "test": {
            "images": "t10k-images-idx3-ubyte",
            "labels": "t10k-labels-idx1-ubyte",
            "count": 10000,
        },
    },
}

MIRRORS: tuple[str, ...] = tuple(MANIFEST["mirrors"])
SHA256: dict[str, str] = {name: f["sha256"] for name, f in MANIFEST["files"].items()}
FILE_NAMES: tuple[str, ...] = tuple(MANIFEST["files"])
GZIP_MAGIC = b"\x1f\x8b"

HELP = (
    "Set MNIST_DIR=<folder holding the four MNIST files (.gz or decompressed)>, or check "
    "your network connection so they can be downloaded (see data/README.md)."
)


class MNISTError(RuntimeError):
    """A data file is missing, corrupt or could not be downloaded; the message says what to do."""


# --------------------------------------------------------------------------- IDX format

# The third magic byte is the element type; values are stored big-endian.
_IDX_DTYPES: dict[int, str] = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}


def parse_idx(content: bytes, source: str = "IDX data") -> np.ndarray:
    """Parse decompressed IDX bytes into an array.

    Layout: magic = (0, 0, type code, ndim) as 4 bytes, then ``ndim`` big-endian uint32
    dimensions, then the values in C order, big-endian. MNIST images are magic 2051
    (uint8, 3 dims: N, 28, 28), labels magic 2049 (uint8, 1 dim: N).

    Returns a read-only array of shape ``dims`` in native byte order (uint8 for MNIST;
    a view on ``content``, no copy). Raises MNISTError naming ``source`` when the header
    is not IDX or the dimensions do not match the number of bytes.
    """
    if len(content) < 4:
        raise MNISTError(f"{source}: {len(content)} bytes, too short for an IDX header")
    magic = int.from_bytes(content[:4], "big")
    code, ndim = content[2], content[3]
    if content[:2] != b"\0\0" or code not in _IDX_DTYPES or ndim == 0:
        raise MNISTError(f"{source}: magic number {magic} (0x{magic:08x}) is not an IDX header")
    header = 4 + 4 * ndim
    if len(content) < header:
        raise MNISTError(f"{source}: truncated inside the IDX header ({len(content)} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(content, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(content) - header != expected:
        raise MNISTError(
            f"{source}: header says shape {dims} = {expected} data bytes, but the file has "
            f"{len(content) - header}: it is truncated or corrupted"
        )
    array = np.frombuffer(content, dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=False)


def encode_idx(array: np.ndarray) -> bytes:
    """The IDX bytes of ``array`` (the inverse of ``parse_idx``; used to write test files).

    ``array`` may be uint8, int8, int16, int32, float32 or float64 with 1..255 dims.
    """
    codes = {np.dtype(t).newbyteorder("="): c for c, t in _IDX_DTYPES.items()}
    dtype = np.dtype(array.dtype).newbyteorder("=")
    if dtype not in codes or not 1 <= array.ndim <= 255:
        raise ValueError(f"IDX cannot store dtype {array.dtype} with {array.ndim} dims")
    header = bytes([0, 0, codes[dtype], array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return header + np.ascontiguousarray(array, dtype.newbyteorder(">")).tobytes()


def expected_magic(name: str) -> int | None:
    """The magic number an MNIST-style name promises: '...-idx3-ubyte' -> 2051 (0x0803)."""
    match = re.search(r"idx(\d+)-ubyte", name)
    return 0x0800 + int(match.group(1)) if match else None


# ------------------------------------------------------------------------- verification


def decompress(raw: bytes, source: str) -> bytes:
    """``raw`` gunzipped if it starts with the gzip magic bytes, else unchanged."""
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise MNISTError(f"{source}: broken gzip data ({error}): truncated or corrupted") from None


def check_content(
    content: bytes, name: str, source: str, checksums: Mapping[str, str] = SHA256
) -> np.ndarray:
    """Verify decompressed IDX ``content`` of file ``name``; return ``parse_idx(content)``.

    Checks, in order (most specific message first): a valid IDX header whose dims match
    the size, the magic number the name promises, and the sha256 in ``checksums[name]``.
    A name missing from ``checksums`` is an error: nothing is used unverified.
    """
    array = parse_idx(content, source)
    magic = int.from_bytes(content[:4], "big")
    want = expected_magic(name)
    if want is not None and magic != want:
        raise MNISTError(f"{source}: magic number {magic}, expected {want} for {name}")
    if name not in checksums:
        raise MNISTError(f"{source}: no sha256 known for {name}; refusing to use it unverified")
    digest = hashlib.sha256(content).hexdigest()
    if digest != checksums[name]:
        raise MNISTError(
            f"{source}: decompressed content has sha256 {digest}, expected {checksums[name]}: "
            "the file is corrupted or is not the standard MNIST file"
        )
    return array


def read_verified(path: Path, name: str, checksums: Mapping[str, str] = SHA256) -> np.ndarray:
    """Read ``path`` (gzipped or not) as MNIST file ``name``, verify it, return its array."""
    content = decompress(Path(path).read_bytes(), str(path))
    return check_content(content, name, str(path), checksums)


# ----------------------------------------------------------------------------- download


def _fetch(url: str, timeout: float, progress: bool, label: str) -> bytes:
    """All bytes at ``url``, with a tqdm progress bar.

    Raises ConnectionError if fewer bytes arrive than the server announced (http.client
    does not: a dropped connection just ends the stream early).
    """
    from tqdm import tqdm  # imported here: loading files that are already present needs no tqdm

    with urllib.request.urlopen(url, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length else None
        chunks = []
        with tqdm(
            total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label,
            disable=not progress,
        ) as bar:  # fmt: skip
            while chunk := response.read(1 << 16):
                chunks.append(chunk)
                bar.update(len(chunk))
    payload = b"".join(chunks)
    if total is not None and len(payload) != total:
        raise ConnectionError(f"received {len(payload)} of {total} bytes (connection dropped)")
    return payload


def _write_atomic(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` so that readers see the old file or the whole new one.

    The bytes go to a hidden temporary file in the same folder (same file system, so
    ``os.replace`` is atomic); on any failure the temporary file is removed.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a data cache can be world-readable
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def download(
    name: str,
    dest_dir: str | os.PathLike,
    *,
    mirrors: Sequence[str] = MIRRORS,
    checksums: Mapping[str, str] = SHA256,
    retries: int = 3,
    backoff: float = 1.0,
    timeout: float = 60.0,
    progress: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> Path:
    """Download MNIST file ``name`` into ``dest_dir / name`` (decompressed) and return that path.

    Fetches ``<mirror><name>.gz`` from each mirror in order. Each mirror gets ``retries``
    attempts, sleeping ``backoff * 2**k`` seconds between them (k = 0, 1, ...); an HTTP
    4xx answer (e.g. 404) moves on to the next mirror at once. A download only counts if
    it is complete, decompresses, parses as IDX with the right magic and matches
    ``checksums[name]``; only then is it written, atomically. Nothing is left behind on
    failure. Raises MNISTError listing every attempt when all mirrors fail.

    ``mirrors``, ``checksums``, ``retries``, ``backoff`` and ``sleep`` exist so that tests
    can use small files, local servers and no real waiting.
    """
    if retries < 1:
        raise ValueError(f"retries must be >= 1, got {retries}")
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    if not os.access(dest_dir, os.W_OK):
        raise MNISTError(f"cannot download {name}: {dest_dir} is not writable. {HELP}")
    failures: list[str] = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + name + MANIFEST["download_suffix"]
        for attempt in range(1, retries + 1):
            source = f"{url} (attempt {attempt}/{retries})"
            try:
                content = decompress(_fetch(url, timeout, progress, name), source)
                check_content(content, name, source, checksums)
            except urllib.error.HTTPError as error:
                failures.append(f"{source}: HTTP {error.code} {error.reason}")
                if 400 <= error.code < 500:
                    break  # the mirror does not have the file: retrying will not help
            except MNISTError as error:  # incomplete or bad content; the message names source
                failures.append(str(error))
            except (OSError, http.client.HTTPException) as error:
                # OSError covers URLError (refused, DNS), timeouts and resets.
                failures.append(f"{source}: {error}")
            else:
                path = dest_dir / name
                _write_atomic(path, content)
                return path
            if attempt < retries:
                sleep(backoff * 2 ** (attempt - 1))
    tried = "\n  ".join(failures) or "(no mirrors given)"
    raise MNISTError(f"could not download {name}; tried:\n  {tried}\n{HELP}")


# ---------------------------------------------------------------------- finding the files


def default_cache_dir() -> Path:
    """``data/mnist`` of the course checkout this package sits in, else the user cache.

    A checkout is recognised by ``data/manifest.json`` next to the package (numpynet/)
    or one level up (a copy of the package one folder deeper in the checkout).
    """
    here = Path(__file__).resolve().parent
    for root in (here.parent, here.parent.parent):
        if (root / "data" / "manifest.json").is_file():
            return root / "data" / "mnist"
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "numpynet" / "mnist"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> tuple[Path, bool]:
    """The folder to use and whether the user chose it (argument or MNIST_DIR).

    A chosen folder must exist (a typo should not silently start a download elsewhere).
    """
    chosen = data_dir if data_dir is not None else os.environ.get("MNIST_DIR") or None
    if chosen is None:
        return default_cache_dir(), False
    path = Path(chosen).expanduser()
    if not path.is_dir():
        origin = "data_dir" if data_dir is not None else "MNIST_DIR"
        raise MNISTError(f"{origin}={chosen}: no such folder. {HELP}")
    return path, True


def find_file(directory: Path, name: str) -> Path | None:
    """``directory/name`` if present, else ``directory/name.gz`` if present, else None."""
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def get_file(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    checksums: Mapping[str, str] = SHA256,
    **download_options,
) -> np.ndarray:
    """The verified array of MNIST file ``name``, downloading it if it is not present.

    A file that fails verification raises MNISTError if it sits in a folder the user
    chose; in the default cache it is moved aside to ``<file>.corrupt`` (so it can never
    be used again, yet can be inspected) and downloaded afresh. ``download_options``
    go to ``download`` (mirrors, retries, backoff, timeout, progress, sleep).
    """
    directory, chosen = resolve_data_dir(data_dir)
    path = find_file(directory, name)
    if path is not None:
        try:
            return read_verified(path, name, checksums)
        except MNISTError as error:
            if chosen:
                raise MNISTError(
                    f"{error}\nReplace {path} with a good copy, or delete it to have it "
                    "downloaded again."
                ) from None
            quarantine = path.with_name(path.name + ".corrupt")
            os.replace(path, quarantine)
            warnings.warn(
                f"{error}\nMoved it to {quarantine}; downloading a fresh copy.", stacklevel=2
            )
    path = download(name, directory, checksums=checksums, **download_options)
    return read_verified(path, name, checksums)


def ensure_mnist(data_dir: str | os.PathLike | None = None, **download_options) -> Path:
    """Find or download all four MNIST files, verify them, and return their folder.

    Meant for scripts and command lines: call it once up front so a download (with
    progress bars) or a clear error happens before any training starts.
    ``download_options`` go to ``download``.
    """
    for name in FILE_NAMES:
        get_file(name, data_dir, **download_options)
    return resolve_data_dir(data_dir)[0]


def load_mnist(
    split: str, data_dir: str | os.PathLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """MNIST ``split`` ('train': 60000 images, 'test': 10000) as arrays.

    Returns ``X``: float32 (N, 784), pixel / 255 in [0, 1], rows are 28x28 images in
    row-major order; ``y``: int64 (N,), digits 0..9. Files are found (or downloaded) as
    described in the module docstring and verified on every call.
    """
    if split not in MANIFEST["splits"]:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    entry = MANIFEST["splits"][split]
    images = get_file(entry["images"], data_dir)
    labels = get_file(entry["labels"], data_dir)
    return scale_images(images), labels.astype(np.int64)


def scale_images(images: np.ndarray) -> np.ndarray:
    """Raw pixels as the network sees them: uint8 (N, 28, 28) or (N, 784) -> float32 (N, 784).

    Each value is pixel / 255, in [0, 1]; rows are the images in row-major order. The one
    conversion ``load_mnist`` and the class challenge (``train.challenge_fit``) share.

    Raises:
        ValueError: unless ``images`` is uint8 with at least one dimension.
    """
    if images.dtype != np.uint8 or images.ndim < 1:
        raise ValueError(f"images must be uint8 (N, ...), got {images.dtype} {images.shape}")
    n, width = len(images), int(np.prod(images.shape[1:]))
    X = np.empty((n, width), dtype=np.float32)
    np.divide(images.reshape(n, width), np.float32(255), out=X)  # one pass, no float64 temp
    return X


def main(argv: Iterable[str] | None = None, prog: str = "python -m numpynet data") -> None:
    """``python -m numpynet data [--data-dir DIR] [--manifest]``."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("--data-dir", help="folder with the files (default: MNIST_DIR/cache)")
    parser.add_argument("--manifest", action="store_true", help="print MANIFEST as JSON")
    args = parser.parse_args(None if argv is None else list(argv))
    if args.manifest:
        print(json.dumps(MANIFEST, indent=2))
        return
    try:
        folder = ensure_mnist(args.data_dir)
    except MNISTError as error:
        parser.exit(1, f"error: {error}\n")
    print(f"MNIST verified in {folder}")


if __name__ == "__main__":
    main()
