"""Turn .NET test reports into JUnit: NUnit 3 and 2, xUnit.net v2 (and v1), TRX.

``to_junit(root)`` takes the parsed root element of a .NET report and returns
the JUnit XML document that EnricoMi's publish-unit-test-result-action makes
from it, so one JUnit reader reads both; ``native_format`` tells a .NET report
from its first bytes. The server (``engine.dotnet``, through defusedxml) and
the CI client's report reader share this mapping. Per format:

- NUnit 3 (``<test-run>``) and NUnit 2 (``<test-results>``): every
  ``<test-suite>`` becomes a ``<testsuite>`` named by its ``fullname``, else
  its ``classname``, else the names of its ``TestSuite``/``Namespace``
  ancestors and its own joined by dots. A ``<test-case>`` becomes a
  ``<testcase>`` with its ``name``, ``classname`` and ``result`` (as
  ``status``); it is skipped when not executed, or its result or run state is
  Skipped, Ignored, NotRunnable (or Inconclusive); its ``<failure>`` is an
  ``<error>`` when the result is ``Error``, else a ``<failure>``.
- xUnit.net (``<assemblies>``/``<assembly>``): a suite per assembly and per
  collection (v2) or class (v1); a ``<test>`` is a case named by its
  ``method`` with its ``type`` as the classname, skipped when it has a
  ``<reason>``, failed with a ``<failure>``; document order is kept.
- TRX: one suite ``MSTestSuite``; each ``UnitTestResult`` is a case named by
  its ``testName`` (less a leading ``<class>.``) whose classname is its test
  definition's ``className`` up to the first comma. Outcome ``Failed`` fails
  it, a missing outcome or ``Error`` errors it, any outcome without
  Passed/Failed/Error skips it. A test run more than once (retries) gives
  repeated cases, which a JUnit reader folds into attempts.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Final

__all__ = ["native_format", "to_junit"]

NUNIT_SKIPPED_RESULTS: Final = ("Skipped", "Ignored", "NotRunnable", "Inconclusive")
NUNIT_SKIPPED_STATES: Final = ("Skipped", "Ignored", "NotRunnable")
NUNIT_NAMING_SUITES: Final = ("TestSuite", "Namespace")
TRX_NAMESPACES: Final = (
    "http://microsoft.com/schemas/VisualStudio/TeamTest/2006",
    "http://microsoft.com/schemas/VisualStudio/TeamTest/2010",
)
ROOTS: Final = {
    "test-run": "nunit",
    "test-results": "nunit",
    "test-suite": "nunit",
    "assemblies": "xunit",
    "assembly": "xunit",
    "TestRun": "trx",
}
_SKIP: Final = re.compile(rb"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>)", re.S)
_ROOT: Final = re.compile(rb"\s*<([A-Za-z_][\w:.-]*)")


def native_format(first_bytes: bytes) -> str | None:
    """``nunit``, ``xunit`` or ``trx`` when the report starts like one, else None."""
    data = first_bytes.removeprefix(b"\xef\xbb\xbf")
    pos = 0
    while (match := _SKIP.match(data, pos)) and match.end() > pos:
        pos = match.end()
    root = _ROOT.match(data, pos)
    if root is None:
        return None
    return ROOTS.get(root.group(1).decode("ascii", "replace").rpartition(":")[2])


def to_junit(root: ET.Element) -> bytes:
    """The JUnit XML of a parsed .NET report (see the module docstring)."""
    kind = ROOTS.get(_local(root.tag))
    suites = ET.Element("testsuites")
    if kind == "nunit":
        if _local(root.tag) == "test-suite":
            _nunit_suite(root, [], suites)
        else:
            for child in root:
                _nunit_walk(child, [], suites)
    elif kind == "xunit":
        _xunit(root, suites)
    elif kind == "trx":
        _trx(root, suites)
    return bytes(ET.tostring(suites, encoding="utf-8"))


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


# -- NUnit ------------------------------------------------------------------------------


def _nunit_walk(element: ET.Element, ancestors: list[ET.Element], parent: ET.Element) -> None:
    """Apply the NUnit templates to ``element`` (elements without one: to their children)."""
    tag = element.tag
    if tag == "test-suite":
        _nunit_suite(element, ancestors, parent)
    elif tag == "test-case":
        _nunit_case(element, parent)
    elif tag not in ("command-line", "settings", "filter", "properties", "failure", "reason"):
        for child in element:
            _nunit_walk(child, ancestors, parent)


def _nunit_suite(element: ET.Element, ancestors: list[ET.Element], parent: ET.Element) -> None:
    get = element.get
    name = get("fullname") or get("classname")
    if name is None:
        prefix = [a.get("name", "") for a in ancestors if a.get("type") in NUNIT_NAMING_SUITES]
        name = "".join(f"{part}." for part in prefix) + get("name", "")
    suite = ET.SubElement(parent, "testsuite", name=name)
    inner = [*ancestors, element]
    for child in element:
        _nunit_walk(child, inner, suite)


def _nunit_case(element: ET.Element, parent: ET.Element) -> None:
    get = element.get
    attrs = {"name": get("name", ""), "classname": get("classname", "")}
    result = get("result")
    if result is not None:
        attrs["status"] = result
    time = get("duration") or get("time")
    if time is not None:
        attrs["time"] = time
    case = ET.SubElement(parent, "testcase", attrs)
    if (
        get("executed") == "False"
        or result in NUNIT_SKIPPED_RESULTS
        or get("runstate") in NUNIT_SKIPPED_STATES
    ):
        skipped = ET.SubElement(case, "skipped")
        message = element.findtext("reason/message")
        if message:
            skipped.set("message", message)
    for failure in element.findall("failure"):
        kind = "error" if result == "Error" else "failure"
        node = ET.SubElement(case, kind, message=failure.findtext("message") or "")
        node.text = failure.findtext("stack-trace") or ""
    for output in element.findall("output"):
        ET.SubElement(case, "system-out").text = "".join(output.itertext())


# -- xUnit.net v2 -----------------------------------------------------------------------


def _xunit(root: ET.Element, suites: ET.Element) -> None:
    assemblies = [root] if root.tag == "assembly" else list(root.iter("assembly"))
    for assembly in assemblies:
        outer = ET.SubElement(suites, "testsuite", name=assembly.get("name", ""))
        # Collections (xUnit.net v2) or classes (v1), and their tests, in document order.
        for collection in assembly:
            if collection.tag not in ("collection", "class"):
                continue
            inner = ET.SubElement(outer, "testsuite", name=collection.get("name", ""))
            for test in collection.findall("test"):
                attrs = {"name": test.get("method", ""), "classname": test.get("type", "")}
                if test.get("time") is not None:
                    attrs["time"] = test.get("time", "")
                case = ET.SubElement(inner, "testcase", attrs)
                reason = test.find("reason")
                if reason is not None:
                    ET.SubElement(case, "skipped", message=reason.text or "")
                for failure in test.findall("failure"):
                    node = ET.SubElement(case, "failure", message=failure.findtext("message") or "")
                    node.text = failure.findtext("stack-trace") or ""


# -- TRX --------------------------------------------------------------------------------


def _trx(root: ET.Element, suites: ET.Element) -> None:
    suite = ET.SubElement(suites, "testsuite", name="MSTestSuite")
    for namespace in TRX_NAMESPACES:
        ns = f"{{{namespace}}}"
        # 2006 files match a result to its test by execution id, 2010 files by test id
        # (among the test definitions).
        old = namespace.endswith("2006")
        index: dict[str, list[ET.Element]] = {}
        tests = (
            root.iter(f"{ns}UnitTest")
            if old
            else root.iterfind(f".//{ns}TestDefinitions/{ns}UnitTest")
        )
        for test in tests:
            ident: str | None
            if old:
                execution = test.find(f"{ns}Execution")
                ident = execution.get("id") if execution is not None else None
            else:
                ident = test.get("id")
            if ident is not None:
                index.setdefault(ident, []).append(test)
        for result in root.iter(f"{ns}UnitTestResult"):
            wanted = result.get("executionId" if old else "testId")
            for test in index.get(wanted, []) if wanted is not None else []:
                _trx_case(suite, result, test, ns)


def _trx_case(suite: ET.Element, result: ET.Element, test: ET.Element, ns: str) -> None:
    method = test.find(f"{ns}TestMethod")
    class_name = method.get("className", "") if method is not None else ""
    classname = class_name.partition(",")[0]
    name = result.get("testName", "")
    # The test name sometimes starts with the class name: keep what follows it.
    name = name.removeprefix(f"{classname}.") if name.startswith(f"{classname}.") else name
    case = ET.SubElement(suite, "testcase", classname=classname, name=name)
    outcome = result.get("outcome") or "Error"
    message = result.findtext(f"{ns}Output/{ns}ErrorInfo/{ns}Message") or ""
    trace = result.findtext(f"{ns}Output/{ns}ErrorInfo/{ns}StackTrace") or ""
    if not any(word in outcome for word in ("Passed", "Failed", "Error")):
        ET.SubElement(case, "skipped", message=message).text = message
    if "Failed" in outcome:
        ET.SubElement(case, "failure", message=message).text = message + trace
    if "Error" in outcome:
        ET.SubElement(case, "error", message=message).text = message + trace
