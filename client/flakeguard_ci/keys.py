"""FlakeGuard's test keys, computed the way the server computes them.

A key is ``<scope>::<name>``: the scope is the classname if present, else the
file, else the suite name; whitespace runs collapse to one space, backslashes in
files become ``/``, a leading ``./`` is dropped, and a key longer than
:data:`MAX_KEY_CHARS` is cut and ends in ``#`` plus 16 hex digits of its SHA-256.
The server's ``engine.junit.make_key`` is the reference; a test holds the two
equal. ``pytest_key`` names a pytest node exactly as pytest's ``--junitxml`` does.
"""

from __future__ import annotations

import hashlib
import re

MAX_KEY_CHARS = 500
# Characters XML 1.0 cannot hold; pytest's junitxml writes each as #xNN.
_ILLEGAL_XML = re.compile(
    "[^\u0009\u000a\u000d\u0020-\u007e\u0080-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


def make_key(classname: str, name: str, file: str | None = None, suite: str = "") -> str:
    """Return the stable identity of a test (as the server's engine.junit.make_key)."""
    scope = " ".join(classname.split())
    if not scope and file:
        scope = " ".join(file.split()).replace("\\", "/")
        while scope.startswith("./"):
            scope = scope[2:]
    scope = scope or " ".join(suite.split())
    key = f"{scope}::{' '.join(name.split())}"
    if len(key) <= MAX_KEY_CHARS:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{key[: MAX_KEY_CHARS - 17]}#{digest}"


def junit_names(nodeid: str, prefix: str | None = None) -> tuple[str, str]:
    """The (classname, name) pytest's junitxml writes for ``nodeid``.

    ``tests/unit/test_a.py::TestX::test_y[1-2]`` -> ``("tests.unit.test_a.TestX",
    "test_y[1-2]")``: the path before the first ``[`` is split on ``::``, its
    file part loses ``.py`` and has ``/`` turned into ``.``, the parameters go
    back on the last part, and ``--junitprefix`` (if any) leads the classname.
    """
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    classnames = names[:-1]
    if prefix:
        classnames.insert(0, prefix)
    return ".".join(classnames), _xml_escape(names[-1])


def pytest_key(nodeid: str, prefix: str | None = None) -> str:
    """The FlakeGuard key of a pytest node, as its ``--junitxml`` report gives it."""
    classname, name = junit_names(nodeid, prefix)
    return make_key(classname, name)


def _xml_escape(text: str) -> str:
    return _ILLEGAL_XML.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"#x{code:02X}" if code <= 0xFF else f"#x{code:04X}"
