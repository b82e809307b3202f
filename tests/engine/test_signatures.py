"""engine.signatures: what varies between runs is stripped, what names the cause is kept."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.signatures import Signature, cluster, message_counts, normalise, signature

REDIS_TRACE = """Traceback (most recent call last):
  File "{root}/app/tests/{test_file}", line {test_line}, in {test}
    value = cache.get("user:1234")
  File "{root}/app/app/cache.py", line {line}, in get
    return self.client.get(key)
  File "{venv}/lib/python3.{minor}/site-packages/redis/connection.py", line 512, in read_response
    raise ConnectionResetError(104, "Connection reset by peer")
ConnectionResetError: [Errno 104] Connection reset by peer"""


def redis(test: str = "test_get", **kw: object) -> Signature:
    values = {
        "root": "/home/ci/work",
        "venv": "/home/ci/.venv",
        "minor": 11,
        "line": 88,
        "test_file": "test_cache.py",
        "test_line": 42,
        "test": test,
    }
    values.update(kw)
    message = "ConnectionResetError: [Errno 104] Connection reset by peer"
    return signature(message, "ConnectionResetError", REDIS_TRACE.format(**values))


def test_noise_is_replaced_by_placeholders() -> None:
    """UUIDs, timestamps, addresses, temp paths, hashes and numbers become placeholders."""
    text = (
        "order 3f1c2a9e-1111-2222-3333-444455556666 at 2026-01-02T10:11:12.345Z "
        "(12:01:02) obj <Foo at 0x7f3a2b1c90> wrote /tmp/pytest-of-ci/pytest-12/test_x0/a.json "
        "and /var/folders/x_/abc123/T/tmpq1w2e3 and C:\\Users\\ci\\AppData\\Local\\Temp\\tmp1\\f "
        "sha 0123456789abcdef0123 took 30.5s, 3 retries"
    )
    assert normalise(text) == (
        "order <uuid> at <time> (<time>) obj <Foo at <addr>> wrote <tmp> and <tmp> and <tmp> "
        "sha <hex> took <n>s, <n> retries"
    )


def test_one_cause_reached_from_different_tests_and_machines_is_one_signature() -> None:
    """Other tests, other checkouts, virtualenvs, Python versions and line numbers: same key."""
    base = redis()
    assert base.exception == "ConnectionResetError"
    assert base.text == "[Errno <n>] Connection reset by peer"
    assert base.frames == ("redis/connection.py:read_response", "app/cache.py:get")
    assert base.label == "ConnectionResetError … redis"
    assert base.shared
    others = [
        redis("test_put", test_file="test_store.py", test_line=7),
        redis(root="/runner/_work/app", venv="/opt/venv", minor=12),
        redis(line=90),  # the project's own line numbers move with every edit
    ]
    assert {sig.key for sig in others} == {base.key}


def test_a_different_cause_is_a_different_signature() -> None:
    """Another exception, message or raising frame is another key."""
    base = redis()
    other_exception = signature(
        "TimeoutError: timed out", "TimeoutError", REDIS_TRACE.replace("ConnectionResetError", "X")
    )
    message = "ConnectionResetError: [Errno 104] Connection reset by peer"
    trace = REDIS_TRACE.format(
        root="/w", venv="/v", minor=11, line=1, test_file="t.py", test_line=1, test="t"
    )
    other_library = signature(
        message, "ConnectionResetError", trace.replace("redis/connection.py", "psycopg/pq.py")
    )
    other_function = signature(message, "ConnectionResetError", trace.replace("in get", "in put"))
    assert len({base.key, other_exception.key, other_library.key, other_function.key}) == 4
    assert other_library.label == "ConnectionResetError … psycopg"


def test_an_assertion_in_the_test_is_the_tests_own() -> None:
    """An assertion raised in a test keeps the test's frame; a bare assertion shares no cause."""
    trace = """Traceback (most recent call last):
  File "/w/tests/test_{name}.py", line 3, in test_{name}
    assert total == 4
AssertionError: assert 3 == 4"""
    a = signature("AssertionError: assert 3 == 4", "AssertionError", trace.format(name="a"))
    b = signature("AssertionError: assert 3 == 4", "AssertionError", trace.format(name="b"))
    assert a.key != b.key
    assert a.frames == ("tests/test_a.py:test_a",)
    assert not a.shared and not signature("assert 3 == 4").shared
    assert signature("ConnectionRefusedError: [Errno 111]").shared


def test_jvm_frames_skip_the_runtime_and_the_runner() -> None:
    """A JVM trace keeps the raising frame and the project's frames, not JUnit's or reflection's."""
    trace = """java.net.SocketException: Connection reset
\tat java.base/sun.nio.ch.NioSocketImpl.implRead(NioSocketImpl.java:{line})
\tat com.acme.db.Pool.borrow(Pool.java:77)
\tat com.acme.orders.{test}.createsOrder({test}.java:31)
\tat java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(Unknown Source)
\tat org.junit.platform.commons.util.ReflectionUtils.invokeMethod(ReflectionUtils.java:728)"""
    one = signature(
        "Connection reset",
        "java.net.SocketException",
        trace.format(line=323, test="OrderServiceTest"),
    )
    two = signature(
        "Connection reset", "java.net.SocketException", trace.format(line=330, test="BillingTest")
    )
    assert one.key == two.key
    assert one.frames == ("sun.nio.ch.NioSocketImpl.implRead", "com.acme.db.Pool.borrow")
    assert one.label == "SocketException … com.acme.db"


def test_javascript_and_go_frames_are_read() -> None:
    """Node and Go traces give frames without their line and column numbers."""
    js = """Error: connect ECONNREFUSED 127.0.0.1:5432
    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1{n}:16)
    at Pool.connect (/app/src/db/pool.js:{n}:11)
    at Object.<anonymous> (/app/src/orders.test.js:9:5)"""
    a, b = (signature(None, "Error", js.format(n=n)) for n in (2, 7))
    assert a.key == b.key
    assert "db/pool.js:Pool.connect" in a.frames
    assert not any("orders.test.js" in frame for frame in a.frames)
    go = """panic: runtime error: index out of range [3] with length 3
goroutine 7 [running]:
github.com/acme/shop/cart.(*Cart).Total(0xc000123456)
\t/home/ci/shop/cart/cart.go:{n} +0x1d"""
    c, d = (signature("panic: runtime error", None, go.format(n=n)) for n in (40, 44))
    assert c.key == d.key and c.frames


def test_cluster_groups_a_runs_failures_by_signature() -> None:
    """Three tests with one cause are one cluster, the odd one out another; biggest first."""
    failures = [
        ("test_get", redis("test_get")),
        ("test_put", redis("test_put", test_file="test_put.py")),
        ("test_del", redis("test_del", root="/elsewhere")),
        ("test_math", signature("assert 3 == 4")),
        ("test_get", redis("test_get")),  # a retry: the same test once
    ]
    clusters = cluster(failures)
    assert [c.tests for c in clusters] == [("test_del", "test_get", "test_put"), ("test_math",)]
    assert clusters[0].size == 3 and clusters[0].signature.label == "ConnectionResetError … redis"


def test_message_counts_shows_distinct_messages_with_counts() -> None:
    """Messages that differ only in noise count as one; the most frequent first."""
    rows = message_counts(
        [
            ("Timeout after 30.1s waiting for #submit", "TimeoutError"),
            ("Timeout after 29.7s waiting for #submit", "TimeoutError"),
            ("assert 200 == 503", "AssertionError"),
            ("Timeout after 31.0s waiting for #submit", "TimeoutError"),
        ]
    )
    assert [(sig.text, n) for sig, n, _ in rows] == [
        ("Timeout after <n>s waiting for #submit", 3),
        ("assert <n> == <n>", 1),
    ]
    assert rows[0][2] == "Timeout after 31.0s waiting for #submit"  # the latest example


@settings(max_examples=200, deadline=None)
@given(
    st.text(st.characters(codec="utf-8"), max_size=200),
    st.integers(0, 10**9),
    st.uuids(),
)
def test_numbers_and_uuids_never_change_a_signature(text: str, number: int, uid: object) -> None:
    """Whatever the text, putting other numbers or UUIDs in it leaves its signature alone."""
    a = signature(f"{text} id {uid} after {number} tries")
    b = signature(f"{text} id 00000000-0000-0000-0000-000000000000 after 7 tries")
    assert a.key == b.key
    assert len(a.text) <= 200


def test_a_message_without_a_trace_is_labelled_by_what_it_names() -> None:
    """No frames: the label takes the URL scheme or host the message names."""
    sig = signature("ConnectionResetError: reset while reading from redis://cache:6379/0")
    assert sig.label == "ConnectionResetError … redis"
    assert signature("OSError: connect to db.internal:5432 failed").label == "OSError … db"
    assert signature("TimeoutError: waited 30s").label == "TimeoutError"


def test_digits_inside_names_are_kept() -> None:
    """Numbers are noise, digits in identifiers are not: two tests' assertions stay apart."""
    a = signature("AssertionError: test_c12: expected 3 items, got 4")
    b = signature("AssertionError: test_c13: expected 5 items, got 2")
    assert a.text == "test_c12: expected <n> items, got <n>"
    assert a.key != b.key
    assert normalise("python3 v2 took 1.5s on cache-12") == "python3 v2 took <n>s on cache-<n>"
