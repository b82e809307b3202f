"""Every hostile value of issue #15 sent to a live gunicorn (the shipped gunicorn.conf.py) on
PostgreSQL with a redis-server of its own, through the real HTTP interface and signed or
authenticated as a real client would be: each answers its precise 4xx (201 where clamping is
the documented behaviour), never 5xx; no answer holds Infinity or NaN; the database shows
nothing of the refused requests. Then the same server with its Redis SIGSTOPped.

Nothing is timed: an answer must arrive before a generous client timeout. The elapsed time
of each frozen-Redis request is printed (run with ``-s``) and bench/frozen_redis_bench.py
measures it properly.
"""

from __future__ import annotations

import gzip
import http.client
import json
import math
import shutil
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from models.packing import milliseconds_of
from tests.conftest import service_missing
from tests.fakes.github import FakeGitHub, sign_webhook
from tests.fakes.slack import (
    FakeSlack,
    SlackRequests,
    nobody_view_submission,
    sign,
)
from tests.ops.live import LiveServer, RedisServer, live_flakeguard, poll
from tests.processes import fakes_env

pytestmark = pytest.mark.slow

CLIENT_TIMEOUT = 10.0  # seconds; an answer must arrive before it
SHA = "e" * 40
MIB = 2**20
ACME_RUNS = (
    "SELECT ci_run_id FROM test_run r JOIN repository p ON p.id = r.repository_id"
    " WHERE p.full_name = 'acme/shop'"
)
MALFORMED = "invalid_request"  # the code of FlakeGuard's Slack header guard
HUGE = 48 * MIB  # one token this long costs ~30 s of CPU on expat 2.5.0 without the bound
REPORT = (
    b'<testsuite name="s"><testcase classname="c" name="a" time="TIME"/>'
    b'<testcase classname="c" name="b" time="0.5"><failure message="x"/></testcase></testsuite>'
)
BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
        for i in range(1, 10)
    )
    + b']><testsuite name="s"><testcase classname="c" name="&lol9;"/></testsuite>'
)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def code(self) -> str | None:
        try:
            return self.json()["error"]["code"]
        except (ValueError, KeyError, TypeError):
            return None


def send(
    port: int,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    headers: dict[str, str | bytes] | None = None,
    timeout: float = CLIENT_TIMEOUT,
) -> Answer:
    """One request over http.client, header values sent as given (bytes go out raw, so a
    UTF-8 header reaches the server as a client would send it); a body is sent only when
    its Content-Length is not overridden."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        given = dict(headers or {})
        given.setdefault("Content-Length", str(len(body)))
        for name, value in given.items():
            conn.putheader(name, value)
        conn.endheaders()
        if int(given["Content-Length"]) == len(body) and body:
            conn.send(body)
        response = conn.getresponse()
        data = response.read()
        return Answer(
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            data,
            time.perf_counter() - started,
        )
    finally:
        conn.close()


class Client:
    """Uploads, webhooks and Slack requests to the live server, signed as the real senders."""

    def __init__(self, server: LiveServer, token: str, repo: str = "acme/shop") -> None:
        self.server = server
        self.token = token
        self.repo = repo
        self.answers: list[tuple[str, Answer]] = []

    def _keep(self, label: str, answer: Answer) -> Answer:
        self.answers.append((label, answer))
        return answer

    def upload(
        self,
        label: str,
        body: bytes,
        *,
        token: str | None = None,
        auth: str | bytes | None = None,
        gzipped: bool = False,
        headers: dict[str, str | bytes] | None = None,
        **meta: str,
    ) -> Answer:
        query = urllib.parse.urlencode(
            {"repo": self.repo, "sha": SHA, "run_id": label, "job": label, **meta}
        )
        sent: dict[str, str | bytes] = {"Content-Type": "application/xml"}
        if auth is not None:
            sent["Authorization"] = auth
        else:
            sent["Authorization"] = f"Bearer {token or self.token}"
        if gzipped:
            sent["Content-Encoding"] = "gzip"
        sent.update(headers or {})
        path = f"/api/v1/reports?{query}"
        return self._keep(label, send(self.server.port, "POST", path, body=body, headers=sent))

    def webhook(
        self, label: str, body: bytes, signature: str | bytes | None, **extra: str
    ) -> Answer:
        headers: dict[str, str | bytes] = {
            "X-GitHub-Event": "ping",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "Content-Type": "application/json",
            **extra,
        }
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        return self._keep(
            label, send(self.server.port, "POST", "/github/webhook", body=body, headers=headers)
        )

    def slack(self, label: str, body: str, headers: dict[str, str | bytes]) -> Answer:
        sent = {"Content-Type": "application/x-www-form-urlencoded", **headers}
        return self._keep(
            label,
            send(self.server.port, "POST", "/slack/events", body=body.encode(), headers=sent),
        )


def report(time_value: str) -> bytes:
    return REPORT.replace(b"TIME", time_value.encode())


def table_counts(database_url: str) -> dict[str, int]:
    """Rows of every table of the database (the migration history aside)."""
    with psycopg.connect(database_url) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        return {
            table: conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]  # type: ignore[index]
            for table in tables
            if "migrat" not in table
        }


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        service_missing("redis-server", FileNotFoundError("redis-server is not installed"))
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory,
    own_redis: RedisServer,
    fake_slack_server: FakeSlack,
    github_rsa_key: tuple[str, str],
) -> Iterator[LiveServer]:
    """gunicorn with Slack and GitHub configured (pointed at the fakes), behind one trusted
    proxy hop so that X-Forwarded-For names the client address the rate limits count; one
    for the module (each test uses a repository of its own)."""
    fake_github = FakeGitHub(github_rsa_key[1])
    try:
        with live_flakeguard(
            tmp_path_factory.mktemp("live"),
            redis_url=own_redis.url,
            **fakes_env(fake_slack_server.api_url, fake_github.url, github_rsa_key[0]),
            FLAKEGUARD_TRUSTED_PROXIES="1",
        ) as server:
            yield server
    finally:
        fake_github.close()


def test_every_hostile_value_answers_its_4xx_on_a_live_server(live, fake_slack) -> None:  # type: ignore[no-untyped-def]
    """Each refused value gets its status and error code and leaves every table as it was;
    the clamped durations and a 48 MiB text are stored (201) with finite durations."""
    token = live.add_repository("acme/shop")
    other_token = live.add_repository("acme/other")
    client = Client(live, token)
    slack = SlackRequests(None, fake_slack)

    # Controls: correctly signed and authenticated requests get through, so every refusal
    # below is about the hostile value, not a misconfigured server.
    ping = json.dumps({"zen": "hi", "hook_id": 1}).encode()
    assert client.webhook("control-webhook", ping, sign_webhook(ping)).status == 200
    help_body = _slash_body(slack, "help")
    control = client.slack("control-slack", help_body, sign(help_body))
    assert control.status == 200 and b"flakeguard" in control.body.lower()
    assert client.upload("control-upload", report("0.25")).status == 201
    before = table_counts(live.database_url)

    def refused(label: str, answer: Answer, status: int, code: str | None) -> None:
        assert (answer.status, answer.code) == (status, code), (label, answer.body[:300])

    # started_at outside the window, or not a timestamp at all.
    for value in ("2999-01-01", "9999-12-31T23:59:59-05:00", "1999-12-31", "yesterday-ish"):
        label = f"started-{value}"
        refused(label, client.upload(label, report("1"), started_at=value), 400, "bad_request")

    # The expat quadratic case: one 48 MiB comment or attribute value, gzipped to ~48 KiB.
    comment = b'<testsuite name="s"><!--' + b"A" * HUGE + b"--></testsuite>"
    attribute = b'<testsuite name="s"><testcase classname="c" name="' + b"A" * HUGE + b'"/>'
    for label, xml in (("huge-comment", comment), ("huge-attribute", attribute)):
        answer = client.upload(label, gzip.compress(xml), gzipped=True)
        refused(label, answer, 400, "bad_report")
        assert "longer than 1048576 bytes" in answer.json()["error"]["message"]
    refused("xml-bomb", client.upload("xml-bomb", BOMB), 400, "bad_report")
    zeros = gzip.compress(b" " * (51 * MIB))  # inflates past the 50 MiB report limit
    refused("gzip-bomb", client.upload("gzip-bomb", zeros, gzipped=True), 413, "too_large")
    oversized = client.upload(
        "oversized", b"", headers={"Content-Length": str(64 * MIB)}
    )  # announced, never sent: refused before a byte of it is read
    refused("oversized", oversized, 413, "too_large")
    for label, junk in (
        ("gzip-garbage", b"\x1f\x8b\x08\x00garbage that is not deflate"),
        ("gzip-truncated", gzip.compress(report("1"))[:30]),
        ("gzip-not-gzip", b"plain text sent as gzip"),
    ):
        refused(label, client.upload(label, junk, gzipped=True), 400, "bad_report")
    brotli = client.upload("brotli", report("1"), headers={"Content-Encoding": "br"})
    refused("brotli", brotli, 415, "unsupported_media_type")

    # Bad tokens, from an address of their own (the failed-auth limit counts per address).
    stranger = {"X-Forwarded-For": "198.51.100.7"}
    for label, auth in (
        ("token-wrong", "Bearer fgi_" + "0" * 40),
        ("token-missing-scheme", token),
        ("token-basic", "Basic YWRtaW46YWRtaW4="),
        ("token-empty", "Bearer "),
        ("token-non-ascii", "Bearer fgi_\u00e9\u00e9".encode()),
        ("token-latin1", "Bearer fgi_\u00ff"),
    ):
        answer = client.upload(label, report("1"), auth=auth, headers=stranger)
        refused(label, answer, 401, "unauthorized")
    other = client.upload("token-other-repo", report("1"), token=other_token)
    refused("token-other-repo", other, 403, "forbidden")
    # Past the failed-auth limit (20/minute) an address gets 429, whatever it then sends.
    guesser = {"X-Forwarded-For": "203.0.113.9"}
    for i in range(20):
        answer = client.upload(f"guess-{i}", report("1"), auth=f"Bearer fgi_{i}", headers=guesser)
        assert answer.status == 401, answer.body
    limited = client.upload("guess-limited", report("1"), headers=guesser)  # the right token
    refused("guess-limited", limited, 429, "rate_limited")
    assert 1 <= int(limited.headers["retry-after"]) <= 60

    # GitHub webhook signatures.
    for label, signature in (
        ("gh-sig-latin1", "sha256=" + "\u00e9" * 64),
        ("gh-sig-utf8", ("sha256=" + "\u00e9" * 32).encode()),
        ("gh-sig-wrong", "sha256=" + "0" * 64),
        ("gh-sig-sha1", "sha1=" + "0" * 40),
        ("gh-sig-missing", None),
    ):
        refused(label, client.webhook(label, ping, signature), 401, "bad_signature")
    big = client.webhook("gh-oversized", b"", None, **{"Content-Length": str(64 * MIB)})
    refused("gh-oversized", big, 413, "too_large")
    junk = b"{not json"
    refused("gh-not-json", client.webhook("gh-not-json", junk, sign_webhook(junk)), 400, "bad_json")

    # Slack: stale or malformed timestamps, non-ASCII and wrong signatures. FlakeGuard's
    # guard refuses the malformed headers (invalid_request) before Bolt, whose own check
    # refuses the stale and wrong ones.
    body = _slash_body(slack, "repo add acme/forged")
    now = int(time.time())
    utf8 = ("v0=" + "\u00e9" * 32).encode()
    for label, headers, code in (
        ("slack-stale", sign(body, timestamp=now - 600), None),
        ("slack-future", sign(body, timestamp=now + 600), None),
        ("slack-ts-text", {**sign(body), "X-Slack-Request-Timestamp": "not-a-number"}, MALFORMED),
        ("slack-ts-float", {**sign(body), "X-Slack-Request-Timestamp": f"{now}.5"}, MALFORMED),
        ("slack-sig-latin1", {**sign(body), "X-Slack-Signature": "v0=" + "\u00e9" * 64}, MALFORMED),
        ("slack-sig-utf8", {**sign(body), "X-Slack-Signature": utf8}, MALFORMED),
        ("slack-sig-wrong", sign(body, "not-the-signing-secret"), None),
        ("slack-unsigned", {}, None),
    ):
        refused(label, client.slack(label, body, headers), 401, code)  # type: ignore[arg-type]
    # Forged button values and a view naming no team or user: Slack's expected 200, no change.
    start = len(fake_slack.responses)
    for value in ("abc", "1", "id:-1"):
        click = _interactive(slack, _click(fake_slack, value))
        answer = client.slack(f"click-{value}", click, sign(click))
        assert answer.status == 200, answer.body[:300]
    nobody = _interactive(slack, nobody_view_submission())
    view = client.slack("view-nobody", nobody, sign(nobody))
    assert view.status == 200 and view.json()["response_action"] == "update"
    replies = poll(
        lambda: fake_slack.responses[start + 2 :] and fake_slack.responses[start:], "replies"
    )
    assert [r.params["text"] for r in replies] == [replies[0].params["text"]] * 3
    assert "not one FlakeGuard can act on" in replies[0].params["text"]

    assert table_counts(live.database_url) == before, "a refused request left a trace"

    # Durations out of range are clamped, as engine/junit.py documents: 201, finite JSON.
    clamped = {"1e39": 1e6, "1e308": 1e6, "-1": 0.0, "nan": 0.0, "inf": 0.0, "1e-50": 0.0}
    for value in clamped:
        answer = client.upload(f"time-{value}", report(value))
        assert answer.status == 201, (value, answer.body)
    text = b'<testsuite name="s"><testcase classname="c" name="t"><failure message="m">'
    text += b"A" * HUGE + b"</failure></testcase></testsuite>"  # text is streamed: no bound
    answer = client.upload("huge-text", gzip.compress(text), gzipped=True)
    assert answer.status == 201 and answer.json()["totals"]["failures"] == 1, answer.body
    with psycopg.connect(live.database_url) as conn:
        blocks = conn.execute(  # test a's block in each run; its duration at its slot
            "SELECT r.ci_run_id, b.codes, b.durations, c.ordinal % 64 FROM result_block b"
            " JOIN test_run r ON r.id = b.run_id JOIN test_case c"
            " ON c.repository_id = b.repository_id AND c.ordinal / 64 = b.block"
            " WHERE r.ci_run_id LIKE 'time-%' AND c.name = 'a'"
        ).fetchall()
        stored = {
            run: milliseconds_of(codes, durations)[slot] / 1000
            for run, codes, durations, slot in blocks
        }
        runs = {row[0] for row in conn.execute(ACME_RUNS)}
    assert stored == {f"time-{value}": seconds for value, seconds in clamped.items()}
    assert runs == {"control-upload", "huge-text", *stored}  # none of the refused ones

    for label, answer in client.answers:
        assert answer.status < 500, (label, answer.status, answer.body[:300])
        assert b"Infinity" not in answer.body and b"NaN" not in answer.body, label
    log = live.log.read_text(errors="replace")
    assert "Traceback" not in log
    for line in (
        "webhook refused: X-Hub-Signature-256 is not ASCII",
        "Slack request refused: X-Slack-Signature is malformed",
        "Slack request refused: X-Slack-Request-Timestamp is malformed",
    ):
        assert line in log
    print("\nhostile value -> answer (status, error code, seconds)")
    for label, answer in client.answers:
        print(f"  {label:26} {answer.status} {answer.code or '-':24} {answer.seconds:.3f}")


def test_a_sigstopped_redis_leaves_uploads_and_health_answering(live, own_redis) -> None:  # type: ignore[no-untyped-def]
    """With Redis frozen, uploads answer 201 and /health 200 before the client timeout; each
    upload is stored with its analysis pending for the reconcile job. Elapsed times printed."""
    client = Client(live, live.add_repository("acme/frozen"), "acme/frozen")
    assert client.upload("warm", report("1")).status == 201
    own_redis.freeze()
    uploads, health = [], []
    try:
        for i in range(4):
            answer = client.upload(f"frozen-{i}", report("1"))
            assert answer.status == 201, live.tail()
            uploads.append(answer.seconds)
            probe = send(live.port, "GET", "/health")
            assert probe.status == 200 and probe.json() == {"status": "ok"}
            health.append(probe.seconds)
    finally:
        own_redis.thaw()
    assert live.unanalyzed_runs("frozen-") == 4
    print(
        f"\nfrozen Redis: uploads 201 in {', '.join(f'{s:.2f}' for s in uploads)} s;"
        f" /health 200 in {', '.join(f'{s:.3f}' for s in health)} s"
        f" (client timeout {CLIENT_TIMEOUT:.0f} s)"
    )
    assert all(math.isfinite(s) for s in uploads + health)


def _slash_body(slack: SlackRequests, text: str) -> str:
    """The form body of a /flakeguard slash command, as Slack sends it."""
    return urllib.parse.urlencode(
        {
            "token": "legacy",
            "team_id": "T0TEST",
            "team_domain": "fake",
            "channel_id": "C0ALERTS",
            "channel_name": "alerts",
            "user_id": "U0ALICE",
            "user_name": "alice",
            "command": "/flakeguard",
            "text": text,
            "api_app_id": "A0APP",
            "response_url": slack.fake.response_url(f"cmd-{uuid.uuid4().hex[:6]}"),
            "trigger_id": f"trigger.{uuid.uuid4().hex[:6]}",
        }
    )


def _interactive(slack: SlackRequests, payload: dict[str, Any]) -> str:
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def _click(fake_slack: FakeSlack, value: str) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": "T0TEST", "domain": "fake"},
        "user": {"id": "U0ALICE", "username": "alice", "team_id": "T0TEST"},
        "api_app_id": "A0APP",
        "container": {"type": "message", "message_ts": "1700000000.000001", "channel_id": "C0A"},
        "channel": {"id": "C0ALERTS", "name": "alerts"},
        "message": {"ts": "1700000000.000001", "text": "alert"},
        "response_url": fake_slack.response_url(f"act-{value}"),
        "actions": [{"type": "button", "action_id": "fg_approve", "value": value}],
    }
