"""Wire protocol between the trusted grader and the sandboxed worker: data only.

A message is one frame on a stream socket::

    8-byte header  b"NPN1" + uint32 big-endian JSON length
    JSON header    {"body": <tree>, "buffers": [{"descr": ..., "shape": [...]}, ...]}
    raw bytes      each buffer's C-order bytes, in order (sizes follow from descr and shape)

The JSON tree holds plain JSON values and tagged dicts (one key starting with "$"):

    {"$a": i}            ndarray: buffer i (0-d arrays stay 0-d)
    {"$s": i}            numpy scalar (np.float32(1.5), np.bool_(True), ...): buffer i, 0-d
    {"$t": [...]}        tuple
    {"$d": [[k, v], ..]} dict (keys and values encoded)
    {"$f": "nan"}        non-finite float ("nan", "inf", "-inf"): JSON has none
    {"$b": i}            bytes: buffer i as uint8
    {"$r": id, ...}      a remote object (meaning decided by the caller's ``refs`` hook)
    {"$c": id}           a callable living on the other side (callback)
    {"$m": [id, name]}   the method ``name`` of remote object ``id``
    {"$x": {...}}        a plain dict whose keys start with "$" (escaped)

Nothing here can execute code: dtypes travel as numpy ``descr`` strings or lists (the
``.npy`` format's safe description, object dtypes refused) and arrays as raw bytes.
This module imports only the standard library and numpy because the worker loads it
inside the sandbox, where the rest of ``autograder`` is deliberately invisible.
"""

from __future__ import annotations

import json
import math
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.lib import format as npy_format

MAGIC = b"NPN1"
HEADER = struct.Struct(">4sI")
MAX_JSON = 64 * 1024 * 1024  # a header bigger than this is a corrupt or hostile stream
# A message carrying more array bytes is refused before anything is allocated: it bounds
# what a hostile worker can make the grader hold (the checks' largest array is ~31 MB).
MAX_MESSAGE = 256 * 1024**2


class ProtocolError(Exception):
    """The stream is not a well-formed protocol message (corrupt, hostile or closed)."""


class PeerClosed(ProtocolError):
    """The other side closed the connection (the worker died or exited)."""


def _dtype_to_descr(dtype: np.dtype) -> Any:
    if dtype.hasobject:
        raise TypeError(f"arrays of dtype {dtype} (Python objects) cannot cross the sandbox")
    return npy_format.dtype_to_descr(dtype)


def _descr_from_json(descr: Any) -> Any:
    """JSON turned the ``.npy`` description's tuples into lists: turn them back."""
    if isinstance(descr, str):
        return descr
    if not isinstance(descr, list):
        raise ProtocolError(f"bad dtype description {descr!r}")
    fields = []
    for field in descr:
        if not isinstance(field, list) or len(field) not in (2, 3):
            raise ProtocolError(f"bad structured field {field!r}")
        name = tuple(field[0]) if isinstance(field[0], list) else field[0]
        item: tuple = (name, _descr_from_json(field[1]))
        if len(field) == 3:
            item += (tuple(int(n) for n in field[2]),)
        fields.append(item)
    return fields


def _descr_to_dtype(descr: Any) -> np.dtype:
    dtype = npy_format.descr_to_dtype(_descr_from_json(descr))
    if dtype.hasobject:
        raise ProtocolError("object dtype refused")
    return dtype


class Encoder:
    """Turns one message body into (JSON tree, list of arrays).

    ``ref`` is called for values that are not data (it returns the tag dict to send,
    or raises TypeError). Arrays seen twice in one message (by identity) are sent once,
    so aliasing within a call survives the trip.
    """

    def __init__(self, ref: Callable[[Any], dict] | None = None) -> None:
        self.ref = ref
        self.arrays: list[np.ndarray] = []
        self._seen: dict[int, int] = {}

    def array_index(self, array: np.ndarray) -> int:
        """The buffer index of ``array``, appended unless this message already holds it."""
        key = id(array)
        if key in self._seen and self.arrays[self._seen[key]] is array:
            return self._seen[key]
        _dtype_to_descr(array.dtype)  # refuse object dtypes before anything is sent
        self._seen[key] = len(self.arrays)
        self.arrays.append(array)
        return self._seen[key]

    def encode(self, value: Any) -> Any:
        """``value`` as a JSON tree; arrays go to the buffer list, what is not data to ``ref``."""
        if value is None or isinstance(value, bool | str):
            return value
        if isinstance(value, int) and not isinstance(value, np.integer):
            return int(value)
        if isinstance(value, float) and not isinstance(value, np.floating):
            if math.isfinite(value):
                return float(value)
            return {"$f": repr(float(value))}
        if isinstance(value, np.ndarray):
            return {"$a": self.array_index(value)}
        if isinstance(value, np.generic):
            return {"$s": self.array_index(np.asarray(value))}
        if isinstance(value, bytes | bytearray):
            return {"$b": self.array_index(np.frombuffer(bytes(value), dtype=np.uint8))}
        if isinstance(value, tuple):
            return {"$t": [self.encode(v) for v in value]}
        if isinstance(value, list):
            return [self.encode(v) for v in value]
        if isinstance(value, dict):
            if all(isinstance(k, str) and not k.startswith("$") for k in value):
                return {k: self.encode(v) for k, v in value.items()}
            return {"$d": [[self.encode(k), self.encode(v)] for k, v in value.items()]}
        if self.ref is not None:
            return self.ref(value)
        raise TypeError(f"cannot send a {type(value).__name__} across the sandbox")


class Decoder:
    """Inverse of :class:`Encoder`; ``ref`` turns ``$r``/``$c`` tags back into objects."""

    def __init__(self, arrays: list[np.ndarray], ref: Callable[[dict], Any] | None = None):
        self.arrays = arrays
        self.ref = ref

    def decode(self, tree: Any) -> Any:
        """The value a JSON tree from :class:`Encoder` stands for."""
        if isinstance(tree, list):
            return [self.decode(v) for v in tree]
        if not isinstance(tree, dict):
            return tree
        if len(tree) >= 1:
            key = next(iter(tree))
            if key.startswith("$"):
                return self._tagged(key, tree)
        return {k: self.decode(v) for k, v in tree.items()}

    def _array(self, index: Any) -> np.ndarray:
        if not isinstance(index, int) or not 0 <= index < len(self.arrays):
            raise ProtocolError(f"bad buffer index {index!r}")
        return self.arrays[index]

    def _tagged(self, key: str, tree: dict) -> Any:
        value = tree[key]
        if key == "$a":
            return self._array(value)
        if key == "$s":
            array = self._array(value)
            return array[()] if array.ndim == 0 else array
        if key == "$t":
            return tuple(self.decode(v) for v in value)
        if key == "$d":
            return {self.decode(k): self.decode(v) for k, v in value}
        if key == "$f":
            if value not in ("nan", "inf", "-inf"):
                raise ProtocolError(f"bad float {value!r}")
            return float(value)
        if key == "$b":
            return self._array(value).tobytes()
        if key == "$x":
            return {k: self.decode(v) for k, v in value.items()}
        if key in ("$r", "$c", "$m") and self.ref is not None:
            return self.ref(tree)
        raise ProtocolError(f"unknown tag {key!r}")


def pack(
    body: Any, ref: Callable[[Any], dict] | None = None
) -> tuple[list[bytes | memoryview], list[np.ndarray]]:
    """Encode ``body`` into the frame's parts (header, JSON, array bytes), and its arrays.

    The arrays are returned in buffer order so a caller can map replies that refer to
    buffer indices (argument mirroring) back to its own objects.
    """
    encoder = Encoder(ref)
    tree = encoder.encode(body)
    buffers = []
    payloads: list[bytes | memoryview] = []
    for array in encoder.arrays:
        contiguous = np.ascontiguousarray(array)
        buffers.append({"descr": _dtype_to_descr(array.dtype), "shape": list(array.shape)})
        if contiguous.nbytes:
            # As raw bytes: buffers of datetimes or structured dtypes cannot be memoryviews.
            payloads.append(memoryview(contiguous.reshape(-1).view(np.uint8)))
    text = json.dumps({"body": tree, "buffers": buffers}, allow_nan=False).encode()
    return [HEADER.pack(MAGIC, len(text)), text, *payloads], encoder.arrays


def send(
    sock: socket.socket, body: Any, ref: Callable[[Any], dict] | None = None
) -> list[np.ndarray]:
    """Send one message (blocking); returns its arrays in buffer order."""
    parts, arrays = pack(body, ref)
    send_parts(sock, parts)
    return arrays


def send_parts(sock: socket.socket, parts: list[bytes | memoryview]) -> None:
    """Send a packed message: small ones in one system call, big arrays without a copy."""
    if sum(memoryview(part).nbytes for part in parts) <= 1 << 16:
        sock.sendall(b"".join(parts))
        return
    for part in parts:
        sock.sendall(part)


def _recv_exact(sock: socket.socket, n: int, deadline: float | None) -> bytearray:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        if deadline is not None:
            # Re-arm with what is LEFT, so a peer dripping bytes cannot stretch the deadline.
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("deadline passed while receiving")
            sock.settimeout(left)
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise PeerClosed("connection closed by the other side")
        got += k
    return buf


def recv(
    sock: socket.socket,
    ref: Callable[[dict], Any] | None = None,
    deadline: float | None = None,
) -> Any:
    """Receive one message and decode it; raises ProtocolError on anything malformed.

    ``deadline`` is a ``time.monotonic()`` instant; passing it raises ``TimeoutError``.
    """
    return recv_message(sock, ref, deadline)[0]


def recv_message(
    sock: socket.socket,
    ref: Callable[[dict], Any] | None = None,
    deadline: float | None = None,
) -> tuple[Any, list[np.ndarray]]:
    """Like :func:`recv`, also returning the message's arrays in buffer order."""
    try:
        magic, length = HEADER.unpack(bytes(_recv_exact(sock, HEADER.size, deadline)))
        if magic != MAGIC or length > MAX_JSON:
            raise ProtocolError("bad frame header")
        try:
            header = json.loads(bytes(_recv_exact(sock, length, deadline)))
            specs = header["buffers"]
            body = header["body"]
        except (ValueError, KeyError, TypeError, RecursionError) as error:
            raise ProtocolError(f"bad JSON header: {type(error).__name__}") from None
        arrays = []
        total = 0
        for spec in specs:
            try:
                dtype = _descr_to_dtype(spec["descr"])
                shape = tuple(int(n) for n in spec["shape"])
            except (ValueError, KeyError, TypeError) as error:
                raise ProtocolError(f"bad buffer spec: {error}") from None
            if any(n < 0 for n in shape):
                raise ProtocolError("negative dimension")
            nbytes = math.prod(shape) * dtype.itemsize
            total += nbytes
            if total > MAX_MESSAGE:
                raise ProtocolError(f"message of over {MAX_MESSAGE} bytes refused")
            if nbytes:
                raw = _recv_exact(sock, nbytes, deadline)
                arrays.append(np.frombuffer(raw, dtype=dtype).reshape(shape))
            else:
                arrays.append(np.zeros(shape, dtype=dtype))
    finally:
        if deadline is not None:
            sock.settimeout(None)
    try:
        return Decoder(arrays, ref).decode(body), arrays
    except RecursionError:  # absurdly nested values: a hostile peer, not data
        raise ProtocolError("message nested too deeply") from None
