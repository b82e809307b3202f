"""Behaviour of engine.junit on hand-written samples of each dialect."""

# Sample reports keep the long lines their tools write.
# ruff: noqa: E501

from __future__ import annotations

import gc
import gzip
import io
import json
import math
import pickle
import struct

import msgspec
import pytest

from engine.junit import (
    MAX_DEPTH,
    MAX_DETAILS_CHARS,
    MAX_DURATION_SECONDS,
    MAX_KEY_CHARS,
    MAX_MARKUP_BYTES,
    MAX_MESSAGE_CHARS,
    MAX_OUTPUT_CHARS,
    MAX_PROPERTIES,
    RERUN_MESSAGE,
    Attempt,
    CaseResult,
    ReportError,
    iter_cases,
    make_key,
    parse_report,
    sniff_format,
)


def rows(xml: str | bytes) -> list[tuple[str, str, str]]:
    data = xml.encode() if isinstance(xml, str) else xml
    return [(c.classname, c.name, c.status) for c in parse_report(data).cases]


def only(xml: str) -> CaseResult:
    (case,) = parse_report(xml.encode()).cases
    return case


# --- dialects ---------------------------------------------------------------

SUREFIRE = """<?xml version="1.0" encoding="UTF-8"?>
<testsuite xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:noNamespaceSchemaLocation="https://maven.apache.org/surefire/maven-surefire-plugin/xsd/surefire-test-report-3.0.xsd"
  version="3.0" name="com.acme.CartTest" time="0.5" tests="3" errors="1" skipped="0" failures="0">
  <properties><property name="java.version" value="21"/></properties>
  <testcase name="addsItem" classname="com.acme.CartTest" time="0.1">
    <flakyFailure message="expected: 1 but was: 2" type="org.opentest4j.AssertionFailedError">
      <stackTrace>org.opentest4j.AssertionFailedError: expected: 1 but was: 2
	at com.acme.CartTest.addsItem(CartTest.java:12)</stackTrace>
      <system-out>output of the first attempt</system-out>
    </flakyFailure>
    <flakyError message="Connection refused" type="java.net.ConnectException">
      <stackTrace>java.net.ConnectException: Connection refused</stackTrace>
    </flakyError>
  </testcase>
  <testcase name="removesItem" classname="com.acme.CartTest" time="0.2">
    <failure message="boom" type="java.lang.AssertionError">java.lang.AssertionError: boom</failure>
    <rerunFailure message="boom again" type="java.lang.AssertionError">
      <stackTrace>java.lang.AssertionError: boom again</stackTrace>
    </rerunFailure>
    <rerunError message="timed out" type="java.util.concurrent.TimeoutException">
      <stackTrace>java.util.concurrent.TimeoutException</stackTrace>
    </rerunError>
  </testcase>
  <testcase name="totals" classname="com.acme.CartTest" time="0.2">
    <failure message="off by one" type="java.lang.AssertionError">trace</failure>
    <rerunFailure message="still off by one" type="java.lang.AssertionError"/>
  </testcase>
</testsuite>
"""


def test_surefire_flaky_failure_keeps_earlier_attempts_and_final_pass() -> None:
    report = parse_report(SUREFIRE.encode())
    case = report.cases[0]
    assert report.format == "surefire"
    assert case.status == "passed"
    assert [(a.status, a.message, a.failure_type) for a in case.attempts] == [
        ("failed", "expected: 1 but was: 2", "org.opentest4j.AssertionFailedError"),
        ("error", "Connection refused", "java.net.ConnectException"),
    ]
    assert "CartTest.java:12" in case.attempts[0].details
    assert "output of the first attempt" not in case.attempts[0].details


def test_surefire_rerun_failures_keep_every_attempt_and_final_is_last_rerun() -> None:
    cases = parse_report(SUREFIRE.encode()).cases
    removes, totals = cases[1], cases[2]
    assert [(a.status, a.message) for a in removes.attempts] == [
        ("failed", "boom"),
        ("failed", "boom again"),
    ]
    assert (removes.status, removes.message) == ("error", "timed out")
    assert (totals.status, totals.message) == ("failed", "still off by one")
    assert [a.message for a in totals.attempts] == ["off by one"]
    assert totals.attempts[0].details == "trace"


def test_surefire_suite_attributes_and_properties_are_kept() -> None:
    (suite,) = parse_report(SUREFIRE.encode()).suites
    assert suite.name == "com.acme.CartTest"
    assert suite.properties == (("java.version", "21"),)
    assert suite.declared is not None and suite.declared.tests == 3
    assert (suite.totals.tests, suite.totals.errors, suite.totals.failures) == (3, 1, 1)


PYTEST_RERUNS = """<?xml version="1.0" encoding="utf-8"?><testsuites>
<testsuite name="pytest" errors="0" failures="1" skipped="0" tests="4" time="0.3"
  timestamp="2025-01-01T10:00:00.000000" hostname="ci">
<testcase classname="tests.test_net" name="test_fetch" file="tests/test_net.py" line="3" time="0.01" />
<testcase classname="tests.test_net" name="test_fetch" file="tests/test_net.py" line="3" time="0.02" />
<testcase classname="tests.test_net" name="test_down" file="tests/test_net.py" line="9" time="0.01" />
<testcase classname="tests.test_net" name="test_down" file="tests/test_net.py" line="9" time="0.01">
<failure message="assert False">def test_down():
&gt;       assert False
E       assert False</failure></testcase>
<testcase classname="tests.test_net" name="test_ok[a-1]" file="tests/test_net.py" line="20" time="0.001" />
<testcase classname="tests.test_net" name="test_ok[b-2]" file="tests/test_net.py" line="20" time="0.001" />
</testsuite></testsuites>"""


def test_pytest_rerunfailures_repeated_cases_become_attempts() -> None:
    report = parse_report(PYTEST_RERUNS.encode())
    assert report.format == "pytest"
    fetch, down, ok_a, ok_b = report.cases
    assert fetch.status == "passed"
    assert fetch.attempts == (Attempt("failed", RERUN_MESSAGE, 0.01),)
    assert down.status == "failed"
    assert down.message == "assert False"
    assert [a.status for a in down.attempts] == ["failed"]
    assert (ok_a.attempts, ok_b.attempts) == ((), ())
    assert report.totals.tests == 4


def test_pytest_flaky_failure_elements_from_newer_rerunfailures() -> None:
    case = only(
        """<testsuite name="pytest"><testcase classname="t" name="test_x">
        <flakyFailure message="assert 0">tb1</flakyFailure>
        <flakyFailure message="assert 0">tb2</flakyFailure>
        </testcase></testsuite>"""
    )
    assert case.status == "passed"
    assert [a.details for a in case.attempts] == ["tb1", "tb2"]


GRADLE_RETRY = """<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="com.acme.FlakyTest" tests="3" skipped="0" failures="1" errors="0"
  timestamp="2024-05-01T10:00:00" hostname="runner" time="0.3">
  <properties/>
  <testcase name="sometimesFails()" classname="com.acme.FlakyTest" time="0.1">
    <failure message="org.opentest4j.AssertionFailedError: nope" type="org.opentest4j.AssertionFailedError">trace</failure>
  </testcase>
  <testcase name="alwaysPasses()" classname="com.acme.FlakyTest" time="0.01"/>
  <testcase name="sometimesFails()" classname="com.acme.FlakyTest" time="0.12"/>
  <system-out><![CDATA[]]></system-out>
  <system-err><![CDATA[]]></system-err>
</testsuite>"""


def test_gradle_retry_repeats_a_failed_case_and_the_last_one_is_final() -> None:
    report = parse_report(GRADLE_RETRY.encode())
    assert [(c.name, c.status) for c in report.cases] == [
        ("sometimesFails()", "passed"),
        ("alwaysPasses()", "passed"),
    ]
    (attempt,) = report.cases[0].attempts
    assert (attempt.status, attempt.duration) == ("failed", 0.1)
    assert report.cases[0].duration == 0.12


def test_repeated_case_after_a_pass_is_a_separate_invocation_not_a_retry() -> None:
    # TestNG data providers repeat a method name; a retry only follows a failure.
    xml = """<testsuite name="S">
      <testcase classname="C" name="m"><skipped/></testcase>
      <testcase classname="C" name="m"><failure message="x"/></testcase>
      <testcase classname="C" name="m"/>
      <testcase classname="C" name="m"/>
    </testsuite>"""
    report = parse_report(xml.encode())
    assert [(c.status, len(c.attempts)) for c in report.cases] == [
        ("skipped", 0),
        ("passed", 1),
        ("passed", 0),
    ]


def test_repeats_in_different_suites_are_not_merged() -> None:
    xml = """<testsuites>
      <testsuite name="chromium"><testcase classname="a.spec.ts" name="t"><failure/></testcase></testsuite>
      <testsuite name="firefox"><testcase classname="a.spec.ts" name="t"/></testsuite>
    </testsuites>"""
    cases = parse_report(xml.encode()).cases
    assert [(c.suite, c.status, c.attempts) for c in cases] == [
        ("chromium", "failed", ()),
        ("firefox", "passed", ()),
    ]


GO_JUNIT_REPORT = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="4" failures="1" skipped="1">
	<testsuite name="github.com/acme/shop/cart" tests="4" failures="1" errors="0" skipped="1" id="0"
		hostname="ci" time="0.012" timestamp="2024-01-01T00:00:00Z">
		<properties><property name="go.version" value="go1.22.1 linux/amd64"></property></properties>
		<testcase name="TestAdd" classname="github.com/acme/shop/cart" time="0.001"></testcase>
		<testcase name="TestAdd/empty_cart" classname="github.com/acme/shop/cart" time="0.000"></testcase>
		<testcase name="TestRemove" classname="github.com/acme/shop/cart" time="0.010">
			<failure message="Failed"><![CDATA[    cart_test.go:42: got 1, want 0]]></failure>
		</testcase>
		<testcase name="TestSlow" classname="github.com/acme/shop/cart" time="0.000">
			<skipped message="Skipped"><![CDATA[    cart_test.go:50: slow]]></skipped>
		</testcase>
	</testsuite>
</testsuites>"""

GOTESTSUM_RERUN = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="3" failures="1" errors="0" time="1.2">
	<testsuite tests="3" failures="1" time="1.1" name="github.com/acme/shop/api" timestamp="2024-01-01T00:00:00Z">
		<properties><property name="go.version" value="go1.22.1 linux/amd64"></property></properties>
		<testcase classname="github.com/acme/shop/api" name="TestHealth" time="0.00"></testcase>
		<testcase classname="github.com/acme/shop/api" name="TestTimeout" time="1.00">
			<failure message="Failed" type="">=== RUN   TestTimeout
    api_test.go:30: deadline exceeded
--- FAIL: TestTimeout (1.00s)</failure>
		</testcase>
		<testcase classname="github.com/acme/shop/api" name="TestTimeout" time="0.10"></testcase>
	</testsuite>
</testsuites>"""

PHPUNIT = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="" tests="3" assertions="3" errors="0" failures="1" skipped="0" time="0.01">
    <testsuite name="Unit" tests="3" assertions="3" errors="0" failures="1" skipped="0" time="0.01">
      <testsuite name="Tests\\CartTest" file="/app/tests/CartTest.php" tests="3" assertions="3"
        errors="0" failures="1" skipped="0" time="0.01">
        <testcase name="testEmpty" class="Tests\\CartTest" classname="Tests.CartTest"
          file="/app/tests/CartTest.php" line="8" assertions="1" time="0.001"/>
        <testsuite name="Tests\\CartTest::testAdd" tests="2" assertions="2" errors="0" failures="1"
          skipped="0" time="0.002">
          <testcase name="testAdd with data set #0" class="Tests\\CartTest" classname="Tests.CartTest"
            file="/app/tests/CartTest.php" line="12" assertions="1" time="0.001"/>
          <testcase name="testAdd with data set #1" class="Tests\\CartTest" classname="Tests.CartTest"
            file="/app/tests/CartTest.php" line="12" assertions="1" time="0.001">
            <failure type="PHPUnit\\Framework\\ExpectationFailedException">Tests\\CartTest::testAdd with data set #1
Failed asserting that 2 is identical to 1.

/app/tests/CartTest.php:14</failure>
          </testcase>
        </testsuite>
      </testsuite>
    </testsuite>
  </testsuite>
</testsuites>"""

CTEST = """<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="Linux-c++" tests="4" failures="1" disabled="1" skipped="1" hostname="ws"
	time="1" timestamp="2024-10-18T15:53:17">
	<testcase name="unit" classname="unit" time="0.5" status="run"><system-out>ok</system-out></testcase>
	<testcase name="integration" classname="integration" time="0.5" status="fail">
		<failure message="Failed"/>
		<properties><property name="cmake_labels" value="slow"/></properties>
		<system-out>boom</system-out>
	</testcase>
	<testcase name="gpu" classname="gpu" time="0" status="disabled"/>
	<testcase name="notbuilt" classname="notbuilt" time="0" status="notrun"><skipped message="Not Run"/></testcase>
</testsuite>"""

DOTNET_JUNIT_LOGGER = """<?xml version="1.0" encoding="utf-8"?>
<testsuites>
  <testsuite name="/home/runner/work/acme/Acme.Tests/bin/Debug/net8.0/Acme.Tests.dll" tests="3"
    skipped="1" failures="1" errors="0" time="0.12" timestamp="2024-01-01T10:00:00" hostname="fv-az"
    id="0" package="/home/runner/work/acme/Acme.Tests/bin/Debug/net8.0/Acme.Tests.dll">
    <properties />
    <testcase classname="Acme.Tests.CartTests" name="Adds(count: 2)" time="0.01" />
    <testcase classname="Acme.Tests.CartTests" name="Removes" time="0.02">
      <failure type="failure" message="Assert.Equal() Failure: Values differ">   at Acme.Tests.CartTests.Removes() in /src/CartTests.cs:line 30</failure>
    </testcase>
    <testcase classname="Acme.Tests.CartTests" name="Later" time="0">
      <skipped message="not yet" />
    </testcase>
    <system-out>Data collector 'Blame' message: All tests finished running.</system-out>
    <system-err></system-err>
  </testsuite>
</testsuites>"""

CATCH2 = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="tests" errors="0" failures="1" skipped="0" tests="3" hostname="tbd" time="0.01"
    timestamp="2024-01-01T00:00:00Z">
    <properties><property name="random-seed" value="3340914457"/></properties>
    <testcase classname="tests.global" name="vectors can be sized" time="0.001" status="run"/>
    <testcase classname="tests.global" name="vectors can be sized/reserving changes capacity" time="0.001" status="run">
      <failure message="v.capacity() &gt;= 10" type="REQUIRE">FAILED:
  REQUIRE( v.capacity() &gt;= 10 )
with expansion:
  5 &gt;= 10
at /src/vector.cpp:20</failure>
    </testcase>
    <testcase classname="tests.global" name="[!mayfail] maybe" time="0.001" status="run"/>
  </testsuite>
</testsuites>"""

NEXTEST = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="nextest-run" tests="3" failures="1" errors="0" uuid="45c50d5c-5f3c-4d11-8eb3-a2a3a2a2b1c0"
  timestamp="2024-01-01T00:00:00.000+00:00" time="0.1">
  <testsuite name="acme-cart" tests="3" disabled="0" errors="0" failures="1">
    <testcase name="tests::adds" classname="acme-cart" timestamp="2024-01-01T00:00:00.000+00:00" time="0.01"/>
    <testcase name="tests::flaky" classname="acme-cart" timestamp="2024-01-01T00:00:00.000+00:00" time="0.02">
      <flakyFailure type="test failure" message="thread 'tests::flaky' panicked" timestamp="2024-01-01T00:00:00.000+00:00" time="0.01">
        <stackTrace>thread 'tests::flaky' panicked at src/lib.rs:10:5</stackTrace>
      </flakyFailure>
    </testcase>
    <testcase name="tests::broken" classname="acme-cart" timestamp="2024-01-01T00:00:00.000+00:00" time="0.03">
      <failure type="test failure" message="thread 'tests::broken' panicked">panicked</failure>
      <rerunFailure type="test failure" message="thread 'tests::broken' panicked" time="0.02">panicked again</rerunFailure>
    </testcase>
  </testsuite>
</testsuites>"""

BAZEL = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="//cart:cart_test" tests="1" failures="0" errors="1">
    <testcase name="//cart:cart_test" status="run" duration="3" time="3"><error message="exited with error code 1"></error></testcase>
      <system-out>
Generated test.log (if the file is not UTF-8, then this may be unreadable):
<![CDATA[exec ${PAGER:-/usr/bin/less} "$0" || exit 1]]>
      </system-out>
    </testsuite>
</testsuites>"""

JEST_JUNIT = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="jest tests" tests="3" failures="1" errors="0" time="1.2">
  <testsuite name="Cart" errors="0" failures="1" skipped="1" timestamp="2024-01-01T00:00:00" time="1.1" tests="3">
    <testcase classname="Cart adds an item" name="Cart adds an item" time="0.003"></testcase>
    <testcase classname="Cart removes an item" name="Cart removes an item" time="0.002">
      <failure>Error: expect(received).toBe(expected) // Object.is equality

Expected: 0
Received: 1
    at Object.&lt;anonymous&gt; (src/cart.test.js:9:20)</failure>
    </testcase>
    <testcase classname="Cart todo" name="Cart todo" time="0"><skipped/></testcase>
  </testsuite>
</testsuites>"""

VITEST = """<?xml version="1.0" encoding="UTF-8" ?>
<testsuites name="vitest tests" tests="2" failures="1" errors="0" time="0.5">
    <testsuite name="src/cart.test.ts" timestamp="2024-01-01T00:00:00.000Z" hostname="ci" tests="2"
      failures="1" errors="0" skipped="0" time="0.01">
        <testcase classname="src/cart.test.ts" name="cart &gt; adds" time="0.001"></testcase>
        <testcase classname="src/cart.test.ts" name="cart &gt; removes" time="0.002">
            <failure message="expected 1 to be +0 // Object.is equality" type="AssertionError">
AssertionError: expected 1 to be +0 // Object.is equality
 ❯ src/cart.test.ts:9:20
            </failure>
        </testcase>
    </testsuite>
</testsuites>"""

MOCHA = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="Mocha Tests" time="0.02" tests="2" failures="1">
  <testsuite name="Root Suite" timestamp="2024-01-01T00:00:00" tests="0" time="0.000" failures="0">
  </testsuite>
  <testsuite name="cart" timestamp="2024-01-01T00:00:00" tests="2" file="/app/test/cart.js" time="0.02" failures="1">
    <testcase name="cart adds" time="0.001" classname="adds">
    </testcase>
    <testcase name="cart removes" time="0.01" classname="removes">
      <failure message="expected 1 to equal 0" type="AssertionError"><![CDATA[AssertionError: expected 1 to equal 0
    at Context.<anonymous> (test/cart.js:9:20)]]></failure>
    </testcase>
  </testsuite>
</testsuites>"""

CYPRESS = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="Mocha Tests" time="4.1" tests="2" failures="1">
  <testsuite name="Root Suite" timestamp="2024-01-01T00:00:00" tests="0" file="cypress/e2e/cart.cy.js" time="0.000" failures="0">
  </testsuite>
  <testsuite name="cart page" timestamp="2024-01-01T00:00:01" tests="2" time="4.1" failures="1">
    <testcase name="cart page shows items" time="1.2" classname="shows items">
    </testcase>
    <testcase name="cart page checks out" time="2.9" classname="checks out">
      <failure message="Timed out retrying after 4000ms: Expected to find element: `#pay`, but never found it." type="AssertionError"><![CDATA[AssertionError: Timed out retrying after 4000ms]]></failure>
    </testcase>
  </testsuite>
</testsuites>"""

PLAYWRIGHT = """<testsuites id="" name="" tests="2" failures="1" skipped="0" errors="0" time="3.2">
<testsuite name="cart.spec.ts" timestamp="2024-01-01T00:00:00.000Z" hostname="chromium" tests="2" failures="1" skipped="0" time="2.1" errors="0">
<testcase name="cart › adds an item" classname="cart.spec.ts" time="1.0">
</testcase>
<testcase name="cart › removes an item" classname="cart.spec.ts" time="1.1">
<failure message="cart.spec.ts:10:5 removes an item" type="FAILURE">
<![CDATA[  [chromium] › cart.spec.ts:10:5 › cart › removes an item
    Error: Timed out 5000ms waiting for expect(locator).toBeVisible()]]>
</failure>
<system-out>
<![CDATA[
[[ATTACHMENT|test-results/cart-removes-chromium/trace.zip]]
]]>
</system-out>
</testcase>
</testsuite>
</testsuites>"""

DIALECTS = {
    "go-junit-report": (
        GO_JUNIT_REPORT,
        "go",
        [
            ("github.com/acme/shop/cart", "TestAdd", "passed"),
            ("github.com/acme/shop/cart", "TestAdd/empty_cart", "passed"),
            ("github.com/acme/shop/cart", "TestRemove", "failed"),
            ("github.com/acme/shop/cart", "TestSlow", "skipped"),
        ],
    ),
    "gotestsum": (
        GOTESTSUM_RERUN,
        "go",
        [
            ("github.com/acme/shop/api", "TestHealth", "passed"),
            ("github.com/acme/shop/api", "TestTimeout", "passed"),
        ],
    ),
    "phpunit": (
        PHPUNIT,
        "phpunit",
        [
            ("Tests.CartTest", "testEmpty", "passed"),
            ("Tests.CartTest", "testAdd with data set #0", "passed"),
            ("Tests.CartTest", "testAdd with data set #1", "failed"),
        ],
    ),
    "ctest": (
        CTEST,
        "junit",
        [
            ("unit", "unit", "passed"),
            ("integration", "integration", "failed"),
            ("gpu", "gpu", "skipped"),
            ("notbuilt", "notbuilt", "skipped"),
        ],
    ),
    "dotnet-junit-logger": (
        DOTNET_JUNIT_LOGGER,
        "junit",
        [
            ("Acme.Tests.CartTests", "Adds(count: 2)", "passed"),
            ("Acme.Tests.CartTests", "Removes", "failed"),
            ("Acme.Tests.CartTests", "Later", "skipped"),
        ],
    ),
    "catch2": (
        CATCH2,
        "catch2",
        [
            ("tests.global", "vectors can be sized", "passed"),
            ("tests.global", "vectors can be sized/reserving changes capacity", "failed"),
            ("tests.global", "[!mayfail] maybe", "passed"),
        ],
    ),
    "cargo-nextest": (
        NEXTEST,
        "cargo-nextest",
        [
            ("acme-cart", "tests::adds", "passed"),
            ("acme-cart", "tests::flaky", "passed"),
            ("acme-cart", "tests::broken", "failed"),
        ],
    ),
    "bazel": (BAZEL, "junit", [("", "//cart:cart_test", "error")]),
    "jest-junit": (
        JEST_JUNIT,
        "jest-junit",
        [
            ("Cart adds an item", "Cart adds an item", "passed"),
            ("Cart removes an item", "Cart removes an item", "failed"),
            ("Cart todo", "Cart todo", "skipped"),
        ],
    ),
    "vitest": (
        VITEST,
        "vitest",
        [
            ("src/cart.test.ts", "cart > adds", "passed"),
            ("src/cart.test.ts", "cart > removes", "failed"),
        ],
    ),
    "mocha": (
        MOCHA,
        "mocha",
        [("adds", "cart adds", "passed"), ("removes", "cart removes", "failed")],
    ),
    "cypress": (
        CYPRESS,
        "mocha",
        [
            ("shows items", "cart page shows items", "passed"),
            ("checks out", "cart page checks out", "failed"),
        ],
    ),
    "playwright": (
        PLAYWRIGHT,
        "junit",
        [
            ("cart.spec.ts", "cart › adds an item", "passed"),
            ("cart.spec.ts", "cart › removes an item", "failed"),
        ],
    ),
    "gradle": (
        GRADLE_RETRY,
        "junit",
        [
            ("com.acme.FlakyTest", "sometimesFails()", "passed"),
            ("com.acme.FlakyTest", "alwaysPasses()", "passed"),
        ],
    ),
}


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_dialect_sample_gives_its_cases_statuses_and_format(dialect: str) -> None:
    xml, expected_format, expected_rows = DIALECTS[dialect]
    report = parse_report(xml.encode())
    assert rows(xml) == expected_rows
    assert report.format == expected_format
    assert report.totals.tests == len(expected_rows)


def test_nested_suites_attribute_cases_to_the_innermost_suite_and_count_upwards() -> None:
    report = parse_report(PHPUNIT.encode())
    assert [c.suite for c in report.cases] == [
        "Tests\\CartTest",
        "Tests\\CartTest::testAdd",
        "Tests\\CartTest::testAdd",
    ]
    assert [(s.name, s.depth, s.totals.tests, s.totals.failures) for s in report.suites] == [
        ("", 0, 3, 1),
        ("Unit", 1, 3, 1),
        ("Tests\\CartTest", 2, 3, 1),
        ("Tests\\CartTest::testAdd", 3, 2, 1),
    ]
    assert report.cases[2].file == "/app/tests/CartTest.php"
    assert report.cases[2].line == 12
    assert report.cases[2].failure_type == "PHPUnit\\Framework\\ExpectationFailedException"
    assert report.cases[2].message == "Tests\\CartTest::testAdd with data set #1"


def test_nextest_flaky_and_rerun_failures_become_attempts() -> None:
    _, flaky, broken = parse_report(NEXTEST.encode()).cases
    assert [(a.status, a.duration) for a in flaky.attempts] == [("failed", 0.01)]
    assert flaky.attempts[0].details == "thread 'tests::flaky' panicked at src/lib.rs:10:5"
    assert [a.details for a in broken.attempts] == ["panicked"]
    assert (broken.details, broken.duration) == ("panicked again", 0.02)


def test_gotestsum_rerun_keeps_the_failed_run_as_an_attempt() -> None:
    timeout = parse_report(GOTESTSUM_RERUN.encode()).cases[1]
    (attempt,) = timeout.attempts
    assert attempt.status == "failed"
    assert "deadline exceeded" in attempt.details


def test_case_properties_and_output_are_kept() -> None:
    integration = parse_report(CTEST.encode()).cases[1]
    assert integration.properties == (("cmake_labels", "slow"),)
    assert integration.system_out == "boom"
    assert integration.message == "Failed"


def test_suite_output_is_not_attached_to_cases() -> None:
    (case,) = parse_report(BAZEL.encode()).cases
    assert case.system_out == ""
    assert case.message == "exited with error code 1"


# --- statuses ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("passed", "passed"),
        ("run", "passed"),
        ("completed", "passed"),
        ("disabled", "skipped"),
        ("notrun", "skipped"),
        ("skipped", "skipped"),
        ("fail", "failed"),
        ("failed", "failed"),
        ("errored", "error"),
        ("ERROR", "error"),
    ],
)
def test_status_attribute_decides_when_there_are_no_result_elements(
    status: str, expected: str
) -> None:
    case = only(f'<testsuite><testcase classname="c" name="n" status="{status}"/></testsuite>')
    assert case.status == expected


def test_result_elements_win_over_the_status_attribute() -> None:
    case = only('<testsuite><testcase name="n" status="run"><failure/></testcase></testsuite>')
    assert case.status == "failed"


def test_googletest_result_attribute_marks_skipped() -> None:
    xml = '<testsuite><testcase name="n" status="run" result="skipped"/></testsuite>'
    assert only(xml).status == "skipped"


def test_error_beats_failure_beats_skipped() -> None:
    xml = """<testsuite>
      <testcase name="a"><skipped/><failure message="f"/><error message="e"/></testcase>
      <testcase name="b"><skipped/><failure message="f"/></testcase>
      <testcase name="c"><skipped message="s"/></testcase>
    </testsuite>"""
    assert [(c.status, c.message) for c in parse_report(xml.encode()).cases] == [
        ("error", "e"),
        ("failed", "f"),
        ("skipped", "s"),
    ]


def test_several_failures_in_one_case_keep_the_first_message_and_all_details() -> None:
    case = only(
        """<testsuite><testcase name="n">
        <failure message="first" type="A">one</failure>
        <failure message="second" type="B">two</failure>
        </testcase></testsuite>"""
    )
    assert (case.status, case.message, case.failure_type) == ("failed", "first", "A")
    assert case.details == "one\n\ntwo"


def test_message_falls_back_to_the_first_line_of_the_text() -> None:
    case = only(
        '<testsuite><testcase name="n"><failure>line one\nline two</failure></testcase></testsuite>'
    )
    assert case.message == "line one"


# --- attributes -------------------------------------------------------------


@pytest.mark.parametrize(
    ("time", "expected"),
    [
        ('time="1.5"', 1.5),
        ('time="0,25"', 0.25),
        ('time="1,234.5"', 1234.5),
        ("", 0.0),
        ('time="abc"', 0.0),
        ('time="-3"', 0.0),
        ('time="nan"', 0.0),
        ('time="2s"', 2.0),
    ],
)
def test_duration_accepts_comma_decimals_and_defaults_to_zero(time: str, expected: float) -> None:
    assert only(f'<testsuite><testcase name="n" {time}/></testsuite>').duration == expected


def test_case_without_classname_gets_an_empty_classname_and_a_suite_scoped_key() -> None:
    case = only('<testsuite name="pkg/cart"><testcase name="TestAdd"/></testsuite>')
    assert (case.classname, case.file, case.line) == ("", None, None)
    assert case.key == "pkg/cart::TestAdd"


def test_case_directly_under_testsuites_is_read() -> None:
    xml = '<testsuites name="run"><testcase classname="c" name="n"/></testsuites>'
    (case,) = parse_report(xml.encode()).cases
    assert (case.suite, case.name) == ("run", "n")


def test_utf8_bom_and_crlf_are_accepted() -> None:
    xml = b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?>\r\n<testsuite>\r\n<testcase name="caf\xc3\xa9">\r\n<failure>a\r\nb</failure></testcase></testsuite>\r\n'
    case = parse_report(xml).cases[0]
    assert case.name == "café"
    assert case.details == "a\nb"


def test_leading_whitespace_before_the_xml_declaration_is_tolerated() -> None:
    assert rows('\n  <?xml version="1.0"?><testsuite><testcase name="n"/></testsuite>') == [
        ("", "n", "passed")
    ]


def test_utf16_report_is_read() -> None:
    xml = '<?xml version="1.0" encoding="UTF-16"?><testsuite><testcase name="ü"/></testsuite>'
    assert rows(xml.encode("utf-16")) == [("", "ü", "passed")]


# --- bounds -----------------------------------------------------------------


def test_long_message_details_and_output_are_truncated_with_a_marker() -> None:
    big = "x" * (MAX_DETAILS_CHARS + 10)
    xml = (
        f'<testsuite><testcase name="n"><failure message="{"m" * (MAX_MESSAGE_CHARS + 5)}">'
        f"{big}</failure><system-out>{big}</system-out></testcase></testsuite>"
    )
    case = only(xml)
    assert case.message.startswith("m" * MAX_MESSAGE_CHARS)
    assert case.message.endswith("[... truncated 5 chars]")
    assert len(case.details) < MAX_DETAILS_CHARS + 40
    assert case.details.endswith(f"[... truncated {len(big) - MAX_DETAILS_CHARS} chars]")
    assert len(case.system_out) < MAX_OUTPUT_CHARS + 40


def test_properties_are_capped() -> None:
    props = "".join(f'<property name="p{i}" value="{i}"/>' for i in range(MAX_PROPERTIES + 50))
    xml = f'<testsuite><properties>{props}</properties><testcase name="n"><properties>{props}</properties></testcase></testsuite>'
    report = parse_report(xml.encode())
    assert len(report.suites[0].properties) == MAX_PROPERTIES
    assert len(report.cases[0].properties) == MAX_PROPERTIES


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    depth = MAX_DEPTH + 1
    xml = "<testsuites>" + "<testsuite>" * depth + "</testsuite>" * depth + "</testsuites>"
    with pytest.raises(ReportError, match=f"deeper than {MAX_DEPTH}"):
        parse_report(xml.encode())


def test_nesting_up_to_the_limit_is_fine() -> None:
    depth = MAX_DEPTH - 2
    xml = (
        "<testsuites>"
        + "<testsuite>" * depth
        + '<testcase name="n"/>'
        + "</testsuite>" * depth
        + "</testsuites>"
    )
    report = parse_report(xml.encode())
    assert report.totals.tests == 1
    assert report.suites[0].totals.tests == 1


def test_input_larger_than_max_bytes_is_refused_for_bytes_and_streams() -> None:
    xml = b"<testsuite>" + b'<testcase name="n"/>' * 100 + b"</testsuite>"
    with pytest.raises(ReportError, match="larger than the limit of 100 bytes"):
        parse_report(xml, max_bytes=100)
    with pytest.raises(ReportError, match="larger than the limit of 100 bytes"):
        parse_report(io.BytesIO(xml), max_bytes=100)
    assert parse_report(xml, max_bytes=len(xml)).totals.tests == 100


def test_limit_applies_after_decompression_of_a_gzip_stream() -> None:
    xml = b"<testsuite>" + b'<testcase name="n"/>' * 20_000 + b"</testsuite>"
    compressed = gzip.compress(xml)
    assert len(compressed) < 5_000
    with pytest.raises(ReportError, match="larger than the limit"):
        parse_report(gzip.GzipFile(fileobj=io.BytesIO(compressed)), max_bytes=100_000)
    stream = gzip.GzipFile(fileobj=io.BytesIO(compressed))
    assert parse_report(stream, max_bytes=len(xml)).totals.tests == 20_000


def test_corrupt_gzip_stream_is_a_report_error() -> None:
    with pytest.raises(ReportError, match="could not read"):
        parse_report(gzip.GzipFile(fileobj=io.BytesIO(b"\x1f\x8bnot gzip at all")))


def test_text_stream_is_refused() -> None:
    with pytest.raises(ReportError, match="bytes"):
        parse_report(io.StringIO("<testsuite/>"))  # type: ignore[arg-type]


# --- keys -------------------------------------------------------------------


def test_key_is_classname_and_name_and_ignores_time_order_and_attempts() -> None:
    first = parse_report(GRADLE_RETRY.encode()).cases
    shuffled = GRADLE_RETRY.replace('time="0.1"', 'time="9"').replace(
        'timestamp="2024-05-01T10:00:00"', 'timestamp="2030-01-01T00:00:00"'
    )
    assert {c.key for c in first} == {c.key for c in parse_report(shuffled.encode()).cases}
    assert first[0].key == "com.acme.FlakyTest::sometimesFails()"


def test_parametrized_cases_get_distinct_keys() -> None:
    keys = [c.key for c in parse_report(PYTEST_RERUNS.encode()).cases]
    assert "tests.test_net::test_ok[a-1]" in keys
    assert "tests.test_net::test_ok[b-2]" in keys
    assert len(set(keys)) == len(keys)


def test_key_normalises_whitespace_and_paths() -> None:
    assert make_key("  a.B\n ", " test  one ") == "a.B::test one"
    assert make_key("", "adds", file=".\\spec\\cart.spec.ts") == "spec/cart.spec.ts::adds"
    assert make_key("", "TestAdd", suite="pkg/cart") == "pkg/cart::TestAdd"


@pytest.mark.parametrize(
    "attrs",
    [
        'classname=" a.B " file="f.py"',
        'classname="  " file=".\\spec\\cart.spec.ts"',
        'classname="" file="./"',
        'class="legacy.Class"',
        'filepath="src/x_test.go"',
        'classname="" file=" "',
        "",
    ],
)
def test_parsed_key_is_make_key_of_the_case_fields(attrs: str) -> None:
    """The parser's cached key scopes give what make_key gives, in and outside suites."""
    for xml in (
        f'<testsuites name=" run "><testsuite name=" pkg / cart "><testcase {attrs} name=" t  1 "/></testsuite></testsuites>',
        f'<testsuites name=" run "><testcase {attrs} name=" t  1 "/></testsuites>',
    ):
        case = only(xml)
        assert case.key == make_key(case.classname, case.name, case.file, case.suite)


def test_fields_stay_right_past_the_strings_one_parser_remembers() -> None:
    """Classnames, files, durations and line numbers are cached up to a bound, then forgotten."""
    count = 12_000
    body = "".join(
        f'<testcase classname="c{i}" name="t" file="f{i}.py" line="{i}" time="{i}.5"/>'
        for i in range(count)
    )
    cases = parse_report(f'<testsuite name="s">{body}</testsuite>'.encode()).cases
    assert [(c.classname, c.file, c.line, c.duration, c.key) for c in cases] == [
        (f"c{i}", f"f{i}.py", i, i + 0.5, f"c{i}::t") for i in range(count)
    ]


def test_long_keys_are_cut_to_the_limit_and_stay_unique() -> None:
    a = make_key("c" * 600, "test_a")
    b = make_key("c" * 600, "test_b")
    assert len(a) == len(b) == MAX_KEY_CHARS
    assert a != b
    assert a == make_key("c" * 600, "test_a")


def test_case_result_is_frozen() -> None:
    case = only('<testsuite><testcase name="n"/></testsuite>')
    with pytest.raises(AttributeError):
        case.status = "failed"  # type: ignore[misc]
    assert case.status == "passed"


# --- refusals ---------------------------------------------------------------


NUNIT3 = """<?xml version="1.0"?><test-run id="2" testcasecount="3">
<test-suite type="Assembly" name="shop.dll"><test-suite type="TestFixture" name="CartTests"
 fullname="Shop.CartTests">
<test-case name="Adds" fullname="Shop.CartTests.Adds" classname="Shop.CartTests" result="Passed"/>
<test-case name="Pays" classname="Shop.CartTests" result="Failed"><failure><message>no</message>
</failure></test-case>
<test-case name="Later" classname="Shop.CartTests" result="Skipped"/>
</test-suite></test-suite></test-run>"""
XUNIT2 = """<assemblies><assembly name="shop.dll"><collection name="Cart">
<test name="Shop.Cart.Adds" type="Shop.Cart" method="Adds" result="Pass"/>
<test name="Shop.Cart.Pays" type="Shop.Cart" method="Pays" result="Fail"><failure>
<message>no</message></failure></test>
<test name="Shop.Cart.Later" type="Shop.Cart" method="Later" result="Skip"><reason>later</reason>
</test></collection></assembly></assemblies>"""
TRX = """<TestRun xmlns="http://microsoft.com/schemas/VisualStudio/TeamTest/2010"><Results>
<UnitTestResult testId="1" testName="Adds" outcome="Passed"/>
<UnitTestResult testId="2" testName="Pays" outcome="Failed"/>
<UnitTestResult testId="2" testName="Pays" outcome="Passed"/>
<UnitTestResult testId="3" testName="Later" outcome="NotExecuted"/>
</Results><TestDefinitions>
<UnitTest id="1"><TestMethod className="Shop.Cart, Shop" name="Adds"/></UnitTest>
<UnitTest id="2"><TestMethod className="Shop.Cart, Shop" name="Pays"/></UnitTest>
<UnitTest id="3"><TestMethod className="Shop.Cart, Shop" name="Later"/></UnitTest>
</TestDefinitions></TestRun>"""


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        (NUNIT3, [("passed", "Adds"), ("failed", "Pays"), ("skipped", "Later")]),
        (XUNIT2, [("passed", "Adds"), ("failed", "Pays"), ("skipped", "Later")]),
        (TRX, [("passed", "Adds"), ("passed", "Pays"), ("skipped", "Later")]),
    ],
    ids=["nunit3", "xunit2", "trx"],
)
def test_dotnet_reports_are_read_natively(xml: str, expected: list[tuple[str, str]]) -> None:
    """NUnit, xUnit.net and TRX give cases keyed by class and test; a TRX rerun is an attempt."""
    for source in (xml.encode(), io.BytesIO(xml.encode())):
        report = parse_report(source)
        assert [(c.status, c.name) for c in report.cases] == expected
        assert {c.classname for c in report.cases} <= {"Shop.CartTests", "Shop.Cart"}
    trx = parse_report(TRX.encode())
    assert [a.status for a in trx.cases[1].attempts] == ["failed"]
    assert trx.cases[1].key == "Shop.Cart::Pays"


def test_dotnet_report_with_a_dtd_is_refused() -> None:
    """A .NET report goes through defusedxml too: an entity declaration stops it."""
    xml = b'<!DOCTYPE x [<!ENTITY a "b">]><test-run><test-case name="&a;"/></test-run>'
    with pytest.raises(ReportError):
        parse_report(xml)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "empty"),
        (b"   \n ", "whitespace"),
        (b"not xml", "line 1, column 1"),
        (b"<testsuite><testcase name='a'></testsuite>", "line 1, column 33"),
        (b"<suites><suite/></suites>", "root element is <suites>"),
        (b"<testsuite><skipped/></testsuite>", "outside a <testcase>"),
        (b"<testsuite><testcase><testcase/></testcase></testsuite>", "inside a <testcase>"),
        (b"<testsuite><testcase name='&nope;'/></testsuite>", "undefined entity"),
        (b"<!DOCTYPE x [<!ENTITY a 'b'>]><testsuite/>", "DTD"),
        (b'<?xml version="1.0" encoding="TF-8"?><testsuite/>', "unknown encoding"),
    ],
)
def test_unreadable_input_raises_report_error_saying_what_and_where(
    data: bytes, fragment: str
) -> None:
    with pytest.raises(ReportError, match=fragment):
        parse_report(data)


def test_read_error_of_the_stream_becomes_a_report_error() -> None:
    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: object) -> int:
            raise OSError("connection reset")

    with pytest.raises(ReportError, match="connection reset"):
        parse_report(Broken())  # type: ignore[arg-type]


# --- streaming and sniffing -------------------------------------------------


def test_iter_cases_yields_the_same_cases_as_parse_report() -> None:
    for xml in (SUREFIRE, PYTEST_RERUNS, PHPUNIT, NEXTEST, GRADLE_RETRY):
        assert list(iter_cases(io.BytesIO(xml.encode()))) == parse_report(xml.encode()).cases


def test_iter_cases_releases_each_top_level_suite_before_reading_the_next() -> None:
    suite = '<testsuite name="s{0}">' + '<testcase name="t{0}"/>' + "</testsuite>"
    body = "".join(suite.format(i) for i in range(3)) + "<broken"
    cases = iter_cases(io.BytesIO(f"<testsuites>{body}".encode()))
    assert next(cases).name == "t0"
    with pytest.raises(ReportError):
        list(cases)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b'\xef\xbb\xbf<?xml version="1.0"?>\n<!-- c --><testsuites>', "junit"),
        (b"<testsuite name='x'>", "junit"),
        (b'<?xml version="1.0"?><test-run id="2">', "nunit"),
        (b"<assemblies>", "xunit.net"),
        (b'<TestRun xmlns="http://microsoft.com/schemas/VisualStudio/TeamTest/2010">', "trx"),
        (b"<html>", None),
        (b"plain text", None),
    ],
)
def test_sniff_format_names_the_report_format(head: bytes, expected: str | None) -> None:
    assert sniff_format(head) == expected


def test_parsed_cases_equal_cases_built_by_the_constructor() -> None:
    cases = parse_report(SUREFIRE.encode()).cases
    assert any(case.attempts for case in cases)
    for case in cases:
        assert type(case) is CaseResult
        rebuilt = CaseResult(**msgspec.structs.asdict(case))
        assert rebuilt == case
        assert hash(rebuilt) == hash(case)
        assert repr(rebuilt) == repr(case)
        assert pickle.loads(pickle.dumps(case)) == case
        failed = msgspec.structs.replace(case, status="failed")
        assert failed.status == "failed"
        assert failed != case or case.status == "failed"
    assert [f.name for f in msgspec.structs.fields(CaseResult)][:12] == [
        "suite",
        "classname",
        "name",
        "file",
        "line",
        "status",
        "duration",
        "message",
        "failure_type",
        "details",
        "attempts",
        "key",
    ]


def test_a_case_of_strings_and_numbers_is_not_tracked_by_the_garbage_collector() -> None:
    # Reports hold hundreds of thousands of cases: collections that scanned
    # them all took a seventh of the parse time when CaseResult was a dataclass.
    plain = only('<testsuite><testcase classname="c" name="n" time="0.5" line="3"/></testsuite>')
    assert not gc.is_tracked(plain)


HUGE = 48 * 2**20  # what costs ~30 s of CPU in expat 2.5.0 when it arrives in chunks


@pytest.mark.parametrize(
    ("name", "xml", "kind", "where"),
    [
        (
            "comment",
            b"<testsuite><!--" + b"x" * HUGE + b"--></testsuite>",
            "a comment",
            "column 12",
        ),
        (
            "attribute value",
            b'<testsuite>\n<testcase name="' + b"x" * HUGE + b'"/></testsuite>',
            "a tag (with its attributes)",
            "line 2, column 1",
        ),
        (
            "processing instruction",
            b"<testsuite><?pi " + b"x" * HUGE + b"?></testsuite>",
            "a processing instruction",
            "column 12",
        ),
        (
            "element name",
            b"<testsuite><" + b"x" * HUGE + b"/></testsuite>",
            "a tag (with its attributes)",
            "column 12",
        ),
        (
            "comment before the root",
            b"<!--" + b"x" * HUGE + b"--><testsuite/>",
            "a comment",
            "column 1",
        ),
    ],
    ids=["comment", "attribute", "processing-instruction", "element-name", "leading-comment"],
)
def test_one_huge_token_in_a_small_gzip_upload_is_refused_as_it_streams(
    name: str, xml: bytes, kind: str, where: str
) -> None:
    """CVE-2023-52425: a 48 MiB comment, attribute or PI (48 KiB gzipped) is refused, not reparsed."""
    body = gzip.compress(xml)
    assert len(body) < 100_000, name
    with pytest.raises(ReportError) as refused:
        parse_report(gzip.GzipFile(fileobj=io.BytesIO(body)))
    assert str(refused.value).startswith(
        f"report holds {kind} longer than {MAX_MARKUP_BYTES} bytes"
    )
    assert where in str(refused.value)
    with pytest.raises(ReportError, match=f"longer than {MAX_MARKUP_BYTES} bytes"):
        list(iter_cases(xml))


def test_long_text_cdata_and_markup_within_the_bound_are_read() -> None:
    """Text and CDATA of any length stream through; a tag or comment just under the bound is fine."""
    attribute = "m" * (MAX_MARKUP_BYTES - 200)
    xml = (
        f"<testsuite><!--{'c' * (MAX_MARKUP_BYTES - 200)}-->"
        f'<testcase name="a"><failure message="{attribute}"><![CDATA[{"t" * 4 * MAX_MARKUP_BYTES}]]></failure>'
        f"<system-out>{'o' * 4 * MAX_MARKUP_BYTES}</system-out></testcase></testsuite>"
    )
    stream = io.BytesIO(xml.encode())
    (case,) = parse_report(stream).cases
    assert case.status == "failed"
    assert case.message.startswith("m" * 1000)
    assert case.details.startswith("t" * 1000) and case.system_out.startswith("o" * 1000)


@pytest.mark.parametrize(
    ("time", "expected", "read"),
    [
        ("1e39", MAX_DURATION_SECONDS, MAX_DURATION_SECONDS),  # too large for a real
        ("1e308", MAX_DURATION_SECONDS, MAX_DURATION_SECONDS),  # Infinity once summed
        ("1e400", 0.0, None),  # not a finite double: missing
        ("inf", 0.0, None),
        ("-inf", 0.0, None),
        ("Infinity", 0.0, None),
        ("NaN", 0.0, None),
        ("-1e39", 0.0, None),
        ("-0.5", 0.0, None),
        ("-0", 0.0, 0.0),
        ("1e-50", 0.0, 0.0),  # below what a real holds: PostgreSQL refuses it as an underflow
        ("1e-9", 1e-9, 1e-9),
        ("1000000", 1e6, 1e6),
        ("1000000.5", 1e6, 1e6),
        ("999999.5", 999999.5, 999999.5),
    ],
)
def test_durations_are_finite_and_fit_a_real(
    time: str, expected: float, read: float | None
) -> None:
    """Every duration leaving the parser is finite, in [0, 1e6] s, and exact when in range.

    A case's missing duration is 0.0; an earlier attempt's and a suite's is None.
    """
    xml = (
        f'<testsuite name="s" time="{time}"><testcase name="n" time="{time}">'
        f'<flakyFailure time="{time}" message="m"/></testcase></testsuite>'
    )
    report = parse_report(xml.encode())
    (case,) = report.cases
    assert case.duration == expected
    assert math.copysign(1.0, case.duration) == 1.0  # no -0.0
    assert [attempt.duration for attempt in case.attempts] == [read]
    assert [suite.duration for suite in report.suites] == [read]
    assert json.loads(json.dumps(case.duration, allow_nan=False)) == expected
    assert struct.unpack("<f", struct.pack("<f", case.duration))[0] < math.inf
