"""The sandbox: wire protocol, worker, proxies, deadlines, crashes and isolation.

Protocol tests run in-process over a socketpair. Worker tests start real workers on a
tiny purpose-built ``numpynet`` package (written to tmp_path), so they test the proxy
contract, not the course's exercises.
"""

from __future__ import annotations

import os
import platform
import socket
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from autograder.sandbox import (
    RemoteError,
    RemoteObject,
    Worker,
    WorkerCrashed,
    WorkerTimeout,
    choose,
    connect,
    protocol,
)
from autograder.sandbox.isolation import probe_bwrap

BWRAP = choose("auto")
needs_bwrap = pytest.mark.skipif(
    BWRAP.degraded, reason=f"bubblewrap unusable here ({BWRAP.reason}): isolation degrades"
)
ROOT = Path(__file__).resolve().parents[1]


# -- protocol -----------------------------------------------------------------------------
def roundtrip(value):
    """Send ``value`` through a real socketpair and decode it on the other end."""
    left, right = socket.socketpair()
    with left, right:
        parts, _ = protocol.pack(value)
        size = sum(memoryview(p).nbytes for p in parts)
        # A thread sends while we receive: big messages exceed the socket buffer.
        sender = threading.Thread(target=lambda: [left.sendall(p) for p in parts])
        sender.start()
        got = protocol.recv(right, deadline=time.monotonic() + 30)
        sender.join()
    assert size > 0
    return got


def same_array(a: np.ndarray, b: np.ndarray) -> bool:
    """Exactly the same array: dtype, shape and every byte (NaN payloads included)."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


SIMPLE_DTYPES = st.one_of(
    hnp.boolean_dtypes(),
    hnp.integer_dtypes(endianness="="),
    hnp.unsigned_integer_dtypes(endianness="="),
    hnp.floating_dtypes(endianness="="),
    hnp.complex_number_dtypes(endianness="="),
    hnp.integer_dtypes(endianness=">"),
    hnp.floating_dtypes(endianness=">"),
    hnp.datetime64_dtypes(),
    hnp.timedelta64_dtypes(),
    hnp.byte_string_dtypes(),
    hnp.unicode_string_dtypes(),
)
DTYPES = st.one_of(SIMPLE_DTYPES, hnp.array_dtypes(subtype_strategy=SIMPLE_DTYPES, max_size=3))


@settings(max_examples=150, deadline=None)
@given(hnp.arrays(DTYPES, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)))
def test_every_dtype_and_shape_round_trips_exactly(array):
    got = roundtrip(array)
    assert isinstance(got, np.ndarray)
    assert same_array(got, array)
    assert got.flags.writeable  # received arrays are the receiver's own, writable copies


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(hnp.floating_dtypes(endianness="="), hnp.array_shapes(min_dims=2, max_dims=3)))
def test_non_contiguous_arrays_round_trip_as_their_values(array):
    view = array.T  # Fortran-ordered view: sent as its values in C order
    assert same_array(roundtrip(view), np.ascontiguousarray(view))


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.binary(max_size=20),
)


@settings(max_examples=100, deadline=None)
@given(
    st.recursive(
        SCALARS,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.lists(inner, max_size=4).map(tuple),
            st.dictionaries(st.text(max_size=5), inner, max_size=4),
            st.dictionaries(st.integers(), inner, max_size=3),
        ),
        max_leaves=15,
    )
)
def test_nested_python_values_round_trip_with_their_types(value):
    def same(a, b):
        if type(a) is not type(b):
            return False
        if isinstance(a, float):
            return (a != a and b != b) or a == b
        if isinstance(a, list | tuple):
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
        if isinstance(a, dict):
            return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
        return a == b

    assert same(roundtrip(value), value)


def test_numpy_scalars_and_zero_d_arrays_keep_their_kind():
    value = (np.float32(1.5), np.int64(-3), np.bool_(True), np.array(2.5), np.complex64(1j))
    got = roundtrip(value)
    assert type(got[0]) is np.float32 and got[0] == np.float32(1.5)
    assert type(got[1]) is np.int64 and got[1] == -3
    assert type(got[2]) is np.bool_ and bool(got[2])
    assert isinstance(got[3], np.ndarray) and got[3].ndim == 0 and got[3] == 2.5
    assert type(got[4]) is np.complex64


def test_the_same_array_twice_in_a_message_stays_one_array():
    a = np.arange(3.0)
    got = roundtrip([a, a, a.copy()])
    assert got[0] is got[1] and got[0] is not got[2]


def test_object_arrays_and_arbitrary_objects_are_refused():
    with pytest.raises(TypeError, match="Python objects"):
        protocol.pack(np.array([object()], dtype=object))
    with pytest.raises(TypeError, match="cannot send"):
        protocol.pack({"x": object()})


@pytest.mark.parametrize(
    "frame, error",
    [
        (b"XXXX\x00\x00\x00\x02{}", protocol.ProtocolError),  # bad magic
        (protocol.HEADER.pack(protocol.MAGIC, protocol.MAX_JSON + 1), protocol.ProtocolError),
        (protocol.HEADER.pack(protocol.MAGIC, 5) + b"{nope", protocol.ProtocolError),
        (protocol.HEADER.pack(protocol.MAGIC, 100) + b"{}", protocol.PeerClosed),  # truncated
    ],
)
def test_malformed_frames_raise_protocol_errors(frame, error):
    left, right = socket.socketpair()
    with left, right:
        left.sendall(frame)
        left.shutdown(socket.SHUT_WR)
        with pytest.raises(error):
            protocol.recv(right)


@pytest.mark.parametrize(
    "spec",
    [
        {"descr": "|O", "shape": [1]},  # object dtype: pickles, never accepted
        {"descr": "<f8", "shape": [-1]},
        {"descr": "<f8", "shape": [protocol.MAX_MESSAGE]},  # 8 x the limit: never allocated
        {"descr": "not a dtype", "shape": [1]},
    ],
)
def test_hostile_buffer_specs_are_refused(spec):
    import json

    text = json.dumps({"body": {"$a": 0}, "buffers": [spec]}).encode()
    left, right = socket.socketpair()
    with left, right:
        left.sendall(protocol.HEADER.pack(protocol.MAGIC, len(text)) + text)
        with pytest.raises(protocol.ProtocolError):
            protocol.recv(right, deadline=time.monotonic() + 5)


def test_absurdly_nested_messages_are_protocol_errors():
    text = b'{"body": ' + b"[" * 100_000 + b"]" * 100_000 + b', "buffers": []}'
    left, right = socket.socketpair()
    with left, right:
        threading.Thread(
            target=lambda: left.sendall(protocol.HEADER.pack(protocol.MAGIC, len(text)) + text)
        ).start()
        with pytest.raises(protocol.ProtocolError):
            protocol.recv(right, deadline=time.monotonic() + 10)


def test_recv_honours_its_deadline():
    left, right = socket.socketpair()
    with left, right:
        left.sendall(protocol.HEADER.pack(protocol.MAGIC, 10) + b"{")  # then nothing more
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            protocol.recv(right, deadline=started + 0.3)
        assert time.monotonic() - started < 2


# -- a worker on a purpose-built package ------------------------------------------------------
PACKAGE = '''
import os
import sys
import numpy as np

class Box:
    def __init__(self, data):
        self.data = np.asarray(data)
        self.items = [1, 2, 3]
    def __len__(self):
        return len(self.items)
    def __iter__(self):
        for item in self.items:
            yield np.full(2, item)
    def __getitem__(self, i):
        return self.items[i]
    def double(self):
        return self.data * 2
    def child(self):
        return Box(self.data + 1)

def scale_in_place(x, factor):
    x *= factor

def leave_alone(x):
    return float(x.sum())

def replace_then_mutate(x):
    x[0] = 99.0
    return x  # returned: a copy comes back, and the mirror updates the caller's array

def perturb_and_call(f, x):
    """Like numerical_gradient: perturb x in place, call f, restore."""
    seen = []
    for i in range(x.size):
        old = x.flat[i]
        x.flat[i] = old + 1.0
        seen.append(f())
        x.flat[i] = old
    return np.array(seen)

def call_with_args(f):
    return f(np.arange(3.0), scale=2.0)

def kinds():
    return (np.float32(1.5), np.int64(2), 3.0, True, None, np.array(4.0), [np.ones(2), "s"],
            {"a": np.zeros(1)})

def raise_value():
    raise ValueError("bad value")

class MyError(KeyError):
    pass

def raise_subclass():
    raise MyError("mine")

class Strange(Exception):
    pass

def raise_strange():
    raise Strange("strange")

def loop():
    while True:
        pass

def die():
    os._exit(7)

def exit_now():
    sys.exit(4)

def shout(n):
    print("x" * n)
    return n

def environment():
    return dict(os.environ)

def read(path):
    with open(path) as handle:
        return handle.read()[:100]

def fork():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    return pid

def nested(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value

def allocate(gigabytes):
    return np.ones(int(gigabytes * 1024**3 // 8)).sum()
'''


@pytest.fixture(scope="module")
def package_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("submission")
    (root / "numpynet").mkdir()
    (root / "numpynet" / "__init__.py").write_text(textwrap.dedent(PACKAGE))
    return root


@pytest.fixture(scope="module")
def remote(package_dir):
    """One worker shared by the read-only proxy tests (fast: started once)."""
    worker = Worker(package_dir, BWRAP)
    worker.start()
    yield worker, connect(worker)
    worker.close()


@pytest.fixture
def fresh(package_dir):
    """A worker of its own, for tests that kill or time it out."""
    worker = Worker(package_dir, BWRAP)
    worker.start()
    yield worker, connect(worker)
    worker.close()


def test_calls_return_local_copies_and_objects_come_back_as_proxies(remote):
    _, nn = remote
    box = nn.Box([1.0, 2.0])
    assert isinstance(box, RemoteObject)
    doubled = box.double()
    assert isinstance(doubled, np.ndarray) and doubled.tolist() == [2.0, 4.0]
    data = box.data
    data[0] = 100.0  # a copy: the remote object does not change
    assert box.data.tolist() == [1.0, 2.0]
    assert box.child().data.tolist() == [2.0, 3.0]


def test_attribute_set_len_iter_next_and_indexing(remote):
    _, nn = remote
    box = nn.Box([0.0])
    box.data = np.array([5.0, 6.0], dtype=np.float32)
    assert box.double().dtype == np.float32 and box.double().tolist() == [10.0, 12.0]
    assert len(box) == 3
    assert [a.tolist() for a in box] == [[1, 1], [2, 2], [3, 3]]
    iterator = iter(box)
    assert next(iterator).tolist() == [1, 1]
    assert box[2] == 3
    box.items = [7]
    assert len(box) == 1 and list(box)[0].tolist() == [7, 7]
    with pytest.raises(StopIteration):
        next(iterator)
        next(iterator)
        next(iterator)
    with pytest.raises(AttributeError):
        box.missing  # noqa: B018 - the remote AttributeError re-raises as itself


def test_every_kind_of_return_value(remote):
    _, nn = remote
    f32, i64, f, flag, nothing, zero_d, items, mapping = nn.kinds()
    assert type(f32) is np.float32 and type(i64) is np.int64
    assert type(f) is float and flag is True and nothing is None
    assert isinstance(zero_d, np.ndarray) and zero_d.ndim == 0
    assert isinstance(items, list) and items[1] == "s" and items[0].tolist() == [1.0, 1.0]
    assert mapping["a"].tolist() == [0.0]


def test_argument_arrays_are_mirrored_back_after_the_call(remote):
    _, nn = remote
    x = np.array([1.0, 2.0, 3.0])
    nn.scale_in_place(x, 2.0)
    assert x.tolist() == [2.0, 4.0, 6.0]  # the student's in-place update reached us
    y = np.array([1.0, 2.0])
    before = y.copy()
    nn.leave_alone(y)
    assert np.array_equal(y, before)
    z = np.zeros(2)
    returned = nn.replace_then_mutate(z)
    assert z.tolist() == [99.0, 0.0] and returned.tolist() == [99.0, 0.0]
    assert returned is not z
    nested = [np.ones(2)]
    nn.scale_in_place(nested[0], 3.0)
    assert nested[0].tolist() == [3.0, 3.0]


def test_callbacks_see_the_arrays_as_the_student_perturbed_them(remote):
    _, nn = remote
    x = np.array([1.0, 2.0, 3.0])
    calls = []

    def f():
        calls.append(x.copy())
        return float((x**2).sum())

    seen = nn.perturb_and_call(f, x)
    assert len(calls) == 3
    assert calls[1].tolist() == [1.0, 3.0, 3.0]  # x as perturbed remotely, at call time
    assert seen.tolist() == [2**2 + 2**2 + 3**2, 1 + 3**2 + 3**2, 1 + 2**2 + 4**2]
    assert x.tolist() == [1.0, 2.0, 3.0]  # restored remotely, mirrored back


def test_callbacks_get_arguments_and_may_call_the_worker_again(remote):
    _, nn = remote
    box = nn.Box([1.0])

    def g(values, scale):
        return float(values.sum() * scale + box.double()[0])  # a nested remote call

    assert nn.call_with_args(g) == 3.0 * 2.0 + 2.0


def test_a_failing_callback_raises_its_own_exception_in_the_test(remote):
    _, nn = remote

    def broken():
        raise AssertionError("the check's own assertion")

    with pytest.raises(AssertionError, match="the check's own assertion"):
        nn.perturb_and_call(broken, np.zeros(2))


def test_builtin_exceptions_keep_their_type_others_become_remote_errors(remote):
    _, nn = remote
    with pytest.raises(ValueError, match="bad value"):
        nn.raise_value()
    with pytest.raises(KeyError, match="MyError"):  # the first builtin base of a student class
        nn.raise_subclass()
    with pytest.raises(RemoteError, match="Strange: strange") as info:
        nn.raise_strange()
    assert "raise_strange" in info.value.remote_traceback  # the student's frames, for feedback
    with pytest.raises(RemoteError, match="sys.exit"):
        nn.exit_now()  # SystemExit inside a call is an error, not the end of the worker
    assert nn.leave_alone(np.ones(2)) == 2.0


def test_unsendable_results_are_errors_and_the_worker_lives_on(remote):
    _, nn = remote
    with pytest.raises(RecursionError):
        nn.nested(100_000)
    assert nn.nested(3) == [[[[]]]]


def test_non_data_arguments_cannot_cross(remote):
    _, nn = remote
    with pytest.raises(TypeError, match="cannot be sent"):
        nn.leave_alone(np.random.default_rng(0))


def test_student_output_is_captured_apart_from_results_and_truncated(package_dir):
    with Worker(package_dir, BWRAP) as worker:
        worker.start()
        nn = connect(worker)
        assert nn.shout(100_000) == 100_000  # stdout floods, the result is still exact
    output = worker.output()
    assert output.startswith("--- stdout ---\nxxx")
    assert "more bytes cut" in output and len(output) < 20_000


def test_deadline_kills_the_worker_and_later_calls_fail_the_same_way(fresh):
    worker, nn = fresh
    worker.deadline = time.monotonic() + 0.5
    started = time.monotonic()
    with pytest.raises(WorkerTimeout):
        nn.loop()
    assert time.monotonic() - started < 5
    assert not worker.alive
    with pytest.raises(WorkerTimeout):
        nn.leave_alone(np.ones(1))  # a check that swallowed the first one is stopped again


def test_a_restarted_worker_works_and_old_proxies_refuse(fresh):
    worker, nn = fresh
    old_box = nn.Box([1.0])
    with pytest.raises(WorkerCrashed, match="exit code 7"):
        nn.die()
    worker.start()
    nn = connect(worker)
    assert nn.leave_alone(np.ones(3)) == 3.0
    with pytest.raises(WorkerCrashed, match="restarted"):
        old_box.double()


def test_memory_limit_turns_a_huge_allocation_into_memory_error(remote):
    _, nn = remote
    with pytest.raises(MemoryError):
        nn.allocate(50)
    assert nn.allocate(0.01) > 0  # and the worker lives on


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the seccomp filter is x86_64 only")
def test_processes_cannot_fork(remote):
    worker, nn = remote
    if "seccomp refused" in worker.fork_limit:  # e.g. a container whose filter forbids it
        pytest.skip(f"fork limit: {worker.fork_limit}")
    assert worker.fork_limit.startswith("blocked (seccomp on x86_64")
    with pytest.raises(PermissionError):
        nn.fork()


def test_environment_is_minimal_and_carries_no_secrets(package_dir, monkeypatch):
    monkeypatch.setenv("NPN_TEST_SECRET_TOKEN", "hunter2")
    with Worker(package_dir, BWRAP) as worker:
        worker.start()
        env = connect(worker).environment()
    assert "NPN_TEST_SECRET_TOKEN" not in env
    assert env["PATH"] == "/usr/bin:/bin"
    assert set(env) <= {
        "PATH", "PYTHONPATH", "HOME", "LANG", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED",
        "PYTHONHASHSEED", "PYTHONNOUSERSITE", "MPLBACKEND", "OPENBLAS_NUM_THREADS",
        "OMP_NUM_THREADS", "MKL_NUM_THREADS", "PWD",
    }  # fmt: skip


@needs_bwrap
def test_bwrap_hides_the_repository_and_the_reference(remote):
    _, nn = remote
    for path in (
        ROOT / "solutions" / "numpynet" / "functional.py",
        ROOT / "autograder" / "hidden" / "__init__.py",
        ROOT / "autograder" / "grade.py",
    ):
        assert path.exists()  # here, yes
        with pytest.raises(FileNotFoundError):
            nn.read(str(path))  # there, no
    assert "BEGIN" not in nn.read("/grader/worker.py")  # only the two worker files are there


@needs_bwrap
def test_an_installed_copy_of_the_grader_in_site_packages_is_hidden(package_dir, monkeypatch):
    import shutil
    import tempfile

    from autograder.sandbox import isolation

    # Not under /tmp: the sandbox's own tmpfs /tmp would hide it whatever the grader does.
    outside = Path(tempfile.mkdtemp(dir="/var/tmp"))
    site = outside / "site-packages"
    (site / "autograder" / "hidden").mkdir(parents=True)
    (site / "autograder" / "hidden" / "test_secret.py").write_text("SECRET = 1\n")
    (site / "visible.txt").write_text("site-packages are visible")
    real = isolation.python_paths

    def paths():
        executable, folders = real()
        return executable, [*folders, str(site)]

    monkeypatch.setattr(isolation, "python_paths", paths)
    try:
        with Worker(package_dir, BWRAP) as worker:
            worker.start()
            nn = connect(worker)
            assert nn.read(str(site / "visible.txt")) == "site-packages are visible"
            with pytest.raises(FileNotFoundError):
                nn.read(str(site / "autograder" / "hidden" / "test_secret.py"))
    finally:
        shutil.rmtree(outside)


def test_degraded_mode_still_grades_and_says_so(package_dir):
    isolation = choose("none")
    assert isolation.degraded
    assert isolation.summary.startswith("isolation: degraded - ")
    assert "student code could read files" in isolation.summary
    with Worker(package_dir, isolation) as worker:
        worker.start()
        assert connect(worker).leave_alone(np.ones(2)) == 2.0


def test_missing_bwrap_refuses_by_default_with_a_clear_reason(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on this PATH
    results = tmp_path / "results"
    results.mkdir()
    results.chmod(0o777)  # writable by a worker's uid: the separate user cannot be used
    with pytest.raises(RuntimeError, match="refusing to grade") as refused:
        choose("any", protect=[results])
    assert "bubblewrap not available" in str(refused.value)
    assert "--isolation none" in str(refused.value)  # and how to grade anyway
    with pytest.raises(RuntimeError, match="bubblewrap not available"):
        choose("bwrap")
    isolation = choose("none")  # the explicit opt-in
    assert isolation.summary.startswith("isolation: degraded - ")


def test_a_bwrap_that_cannot_make_namespaces_is_detected(tmp_path):
    fake = tmp_path / "bwrap"
    fake.write_text(
        "#!/bin/sh\necho 'bwrap: No permissions to creating new namespace' >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    assert "cannot create namespaces" in (probe_bwrap(str(fake)) or "")


def test_no_worker_processes_are_left_behind(package_dir):
    worker = Worker(package_dir, BWRAP)
    worker.start()
    pid = worker.process.pid
    worker.deadline = time.monotonic() + 0.3
    with pytest.raises(WorkerTimeout):
        connect(worker).loop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_python_under_tmp_stays_visible_above_the_private_tmp(monkeypatch, tmp_path):
    """A virtual environment in /tmp (a CI clone) is bound AFTER the private /tmp tmpfs.

    bubblewrap applies mounts in order: a bind under /tmp placed before ``--tmpfs /tmp``
    is hidden by it, and the worker then cannot import numpy.
    """
    from autograder.sandbox import isolation

    venv_site = "/tmp/ci/main/.venv/lib/python3.11/site-packages"
    monkeypatch.setattr(isolation, "python_paths", lambda: ("/usr/bin/python3", [venv_site]))
    argv, _, _ = isolation.worker_command(
        isolation.Isolation("bwrap", bwrap="bwrap"), tmp_path, 3, tmp_path, isolation.Limits()
    )
    tmpfs_at = argv.index("/tmp", argv.index("--tmpfs"))
    bind_at = argv.index(venv_site)
    assert tmpfs_at < bind_at, "the site-packages bind is hidden by the private /tmp"
