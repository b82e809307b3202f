"""Repository files uploaded from CI are stored only with proof of the default branch.

The proof is the job's GitHub Actions OIDC token, checked against a fake issuer (a real
HTTP server with its JWKS): every hostile token gets a precise 4xx and stores nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from flakeguard.settings import Settings
from flakeguard.usecases import repo_file_uploads
from flakeguard.usecases.repos import add_repository, issue_token
from models import ActionsTokenUse, RepoFile, Repository, TestRun
from models.base import is_postgres
from tests.fakes.actions_oidc import KID, SHA, FakeActionsIssuer, new_key, trusting
from tests.owners.conftest import write_from_another_connection

FILES = {"CODEOWNERS": "* @acme/core\n", ".flakeguard.yml": "auto_quarantine: true\n"}
Mint = Callable[[FakeActionsIssuer], str]
Put = Callable[..., Any]


@pytest.fixture
def settings(settings: Settings, actions_issuer: FakeActionsIssuer) -> Settings:
    return trusting(settings, actions_issuer)


@pytest.fixture
def shop(app: Any) -> Repository:
    """acme/shop (GitHub id 4242) with a run of main's head, SHA."""
    repo, _token = add_repository("acme/shop")
    Repository.update(github_id=4242).where(Repository.id == repo.id).execute()
    TestRun.create(repository=repo, sha=SHA, branch="main", content_digest="m" * 64)
    return Repository.get_by_id(repo.id)


@pytest.fixture
def put(app: Any, shop: Repository) -> Callable[..., Any]:
    """PUT the files with an OIDC token (None: none), as acme/shop unless told otherwise."""
    ingest = issue_token(shop)

    def send(actions_token: Any = None, *, ingest_token: str = ingest, **body: Any) -> Any:
        payload = {"repo": "acme/shop", "branch": "main", "sha": SHA, "pr": None, "files": FILES}
        if actions_token is not None:
            payload["actions_token"] = actions_token
        return app.test_client().put(
            "/api/v1/repository-files",
            data=json.dumps({**payload, **body}),
            content_type="application/json",
            headers={"Authorization": f"Bearer {ingest_token}"},
        )

    return send


def _hs256_with_the_public_key(issuer: FakeActionsIssuer) -> str:
    """The old algorithm-confusion attack: HMAC keyed with the issuer's public key."""
    public = issuer.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = jwt.decode(issuer.mint(), options={"verify_signature": False})

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    signed = f"{part({'alg': 'HS256', 'kid': KID, 'typ': 'JWT'})}.{part(claims)}"
    mac = hmac.new(public, signed.encode(), hashlib.sha256).digest()
    return signed + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def _alg_none(issuer: FakeActionsIssuer) -> str:
    claims = jwt.decode(issuer.mint(), options={"verify_signature": False})
    return jwt.encode(claims, None, algorithm="none")


HOSTILE: list[tuple[str, Mint, int, str]] = [
    ("wrong issuer", lambda i: i.mint(iss="https://evil.example"), 401, "issuer"),
    ("wrong audience", lambda i: i.mint(aud="https://other.example"), 401, "audience"),
    ("expired", lambda i: i.mint(issued=-900, lifetime=300), 401, "expired"),
    ("not yet valid", lambda i: i.mint(nbf=10**10), 401, "not valid yet"),
    ("alg none", _alg_none, 401, "algorithm 'none'"),
    ("HS256 keyed with the public key", _hs256_with_the_public_key, 401, "algorithm 'HS256'"),
    ("signed by another key", lambda i: i.mint(key=new_key()), 401, "signature"),
    ("a key the issuer does not have", lambda i: i.mint(key=new_key(), kid="x"), 401, "a key"),
    ("no event_name claim", lambda i: i.mint(event_name=None), 401, "no event_name claim"),
    ("no jti claim", lambda i: i.mint(jti=None), 401, "no jti claim"),
    ("an exp past any date", lambda i: i.mint(exp=10**20), 401, "exp"),
    ("garbage", lambda i: "abc.def.ghi", 401, "not a JWT"),
    ("non-ASCII", lambda i: i.mint() + "é", 401, "not a JWT"),
    ("another repository", lambda i: i.mint(repository="acme/other"), 403, "acme/other"),
    (
        "a namesake repository",
        lambda i: i.mint(repository_id="999"),
        403,
        "GitHub id 999, not 4242",
    ),
    ("a feature branch", lambda i: i.mint(ref="refs/heads/feature"), 403, "refs/heads/feature"),
    (
        "a pull request",
        lambda i: i.mint(ref="refs/pull/7/merge", event_name="pull_request"),
        403,
        "refs/pull/7/merge",
    ),
    (
        "pull_request_target on main",
        lambda i: i.mint(event_name="pull_request_target"),
        403,
        "started by pull_request_target",
    ),
    ("another commit", lambda i: i.mint(sha="d" * 40), 403, "commit " + "d" * 40),
]


def test_a_job_of_main_proven_by_its_token_stores_the_files(
    put: Put, actions_issuer: FakeActionsIssuer
) -> None:
    answer = put(actions_issuer.mint())
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert sorted(body["stored"]) == ["codeowners", "config"] and body["source"] == "actions"
    assert {row.source for row in RepoFile.select()} == {"actions"}


@pytest.mark.parametrize(("case", "mint", "status", "says"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_tokens_are_refused_precisely_and_store_nothing(
    put: Put,
    actions_issuer: FakeActionsIssuer,
    case: str,
    mint: Mint,
    status: int,
    says: str,
) -> None:
    answer = put(mint(actions_issuer))
    assert answer.status_code == status, answer.get_json()
    assert says in answer.get_json()["error"]["message"]
    assert RepoFile.select().count() == 0


def test_without_a_token_the_answer_says_how_to_give_one(put: Put) -> None:
    """No OIDC token: 401 naming the permission and the other way; nothing stored."""
    answer = put()
    assert answer.status_code == 401
    message = answer.get_json()["error"]["message"]
    assert "permissions: id-token: write" in message
    assert "flakeguard repo files acme/shop --trust ingest-token" in message
    assert RepoFile.select().count() == 0


@pytest.mark.parametrize("token", [123, ["a"], "x" * 20000])
def test_a_malformed_token_field_is_a_400(put: Put, token: Any) -> None:
    answer = put(token)
    assert answer.status_code == 400 and "actions_token" in answer.get_json()["error"]["message"]
    assert RepoFile.select().count() == 0


def test_the_issuer_keys_unreachable_is_a_503(put: Put, actions_issuer: FakeActionsIssuer) -> None:
    actions_issuer.jwks_status = 500
    answer = put(actions_issuer.mint())
    assert answer.status_code == 503
    assert "try again later" in answer.get_json()["error"]["message"]
    assert RepoFile.select().count() == 0


def test_a_proven_job_of_an_older_commit_does_not_replace_the_heads_files(
    put: Put, shop: Repository, actions_issuer: FakeActionsIssuer
) -> None:
    """Main moved on (a newer run): the token of the older commit's job gets 409."""
    TestRun.create(repository=shop, sha="e" * 40, branch="main", content_digest="n" * 64)
    answer = put(actions_issuer.mint())
    assert answer.status_code == 409
    assert "it is eeeeeeeeeeee" in answer.get_json()["error"]["message"]
    assert RepoFile.select().count() == 0


def test_trusting_the_ingest_token_takes_files_without_a_token_but_checks_one_sent(
    put: Put, shop: Repository, actions_issuer: FakeActionsIssuer
) -> None:
    """For CI without OIDC the operator trusts the ingest token: no token, stored as
    "upload"; a token that is sent is still checked."""
    repo_file_uploads.set_trust(shop, repo_file_uploads.INGEST_TOKEN)
    refused = put(actions_issuer.mint(ref="refs/heads/feature"))
    assert refused.status_code == 403 and RepoFile.select().count() == 0
    answer = put()
    assert answer.status_code == 200 and answer.get_json()["source"] == "upload"
    assert {row.source for row in RepoFile.select()} == {"upload"}


def test_another_repositorys_ingest_token_with_a_valid_token_is_refused(
    put: Put, actions_issuer: FakeActionsIssuer
) -> None:
    """The token of acme/shop's job sent with another repository's ingest token: 403."""
    other, other_token = add_repository("acme/other")
    TestRun.create(repository=other, sha=SHA, branch="main", content_digest="o" * 64)
    answer = put(actions_issuer.mint(), ingest_token=other_token, repo="acme/other")
    assert answer.status_code == 403
    assert "of a job of acme/shop" in answer.get_json()["error"]["message"]
    assert RepoFile.select().count() == 0


def test_a_token_proves_one_upload_a_replay_is_refused(
    put: Put, actions_issuer: FakeActionsIssuer
) -> None:
    token = actions_issuer.mint()
    assert put(token).status_code == 200
    RepoFile.delete().execute()
    replay = put(token)
    assert replay.status_code == 401
    assert "it was used already" in replay.get_json()["error"]["message"]
    assert RepoFile.select().count() == 0
    assert put(actions_issuer.mint()).status_code == 200  # the job's next token is fine


def test_a_token_refused_for_an_old_commit_is_not_spent(
    put: Put, shop: Repository, actions_issuer: FakeActionsIssuer
) -> None:
    """409 (not the head) stores nothing and spends nothing: nothing was proven."""
    newer = TestRun.create(repository=shop, sha="e" * 40, branch="main", content_digest="n" * 64)
    token = actions_issuer.mint()
    assert put(token).status_code == 409
    assert ActionsTokenUse.select().count() == 0
    newer.delete_instance()
    assert put(token).status_code == 200


def test_spent_tokens_are_kept_until_they_expire_then_forgotten(
    put: Put, actions_issuer: FakeActionsIssuer
) -> None:
    put(actions_issuer.mint())
    ActionsTokenUse.update(expires_at=datetime(2000, 1, 1)).execute()
    put(actions_issuer.mint())
    assert ActionsTokenUse.select().count() == 1


def test_the_first_proven_upload_pins_the_github_id_a_recreated_namesake_is_refused(
    put: Put, shop: Repository, actions_issuer: FakeActionsIssuer
) -> None:
    """A repository added without its GitHub id takes the id of the first proven job;
    a repository deleted and created again under the name (another id) proves nothing."""
    Repository.update(github_id=None).where(Repository.id == shop.id).execute()
    assert put(actions_issuer.mint()).status_code == 200
    assert Repository.get_by_id(shop.id).github_id == 4242
    RepoFile.delete().execute()
    namesake = put(actions_issuer.mint(repository_id="999"))
    assert namesake.status_code == 403
    assert "GitHub id 999, not 4242" in namesake.get_json()["error"]["message"]
    assert RepoFile.select().count() == 0


def test_an_operator_can_unlink_the_github_id_of_a_repository_created_again(
    put: Put, shop: Repository, actions_issuer: FakeActionsIssuer
) -> None:
    """`flakeguard repo files --forget-github-id`: the next proven upload links the new id."""
    assert put(actions_issuer.mint(repository_id="999")).status_code == 403
    assert repo_file_uploads.forget_github_id(shop).github_id is None
    assert put(actions_issuer.mint(repository_id="999")).status_code == 200
    assert Repository.get_by_id(shop.id).github_id == 999


def test_an_upload_is_a_write_transaction_from_its_start(
    put: Put, shop: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite: the upload reads the head before it writes the files. A writer
    committing in between would fail a deferred transaction at once (a 500 "database
    is locked"); it waits for the upload instead, which goes through."""
    if is_postgres():
        pytest.skip("SQLite's deferred BEGIN only")
    repo_file_uploads.set_trust(shop, repo_file_uploads.INGEST_TOKEN)
    concurrent: list[bool] = []
    head_of = repo_file_uploads.default_branch_head

    def racing(repo: Repository) -> str | None:
        head = head_of(repo)  # the transaction's first statement, a read
        concurrent.append(write_from_another_connection())
        return head

    monkeypatch.setattr(repo_file_uploads, "default_branch_head", racing)
    answer = put()
    assert answer.status_code == 200, answer.get_json()
    assert concurrent == [False]
    assert RepoFile.select().count() == len(FILES)


def test_an_id_linked_by_another_upload_since_the_check_wins_and_this_one_is_refused(
    put: Put, shop: Repository, actions_issuer: FakeActionsIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two first uploads of namesakes race: the one that linked its id first wins; the
    other (checked against no id yet) is refused (403) and stores and spends nothing."""
    Repository.update(github_id=None).where(Repository.id == shop.id).execute()
    check = repo_file_uploads.check_identity

    def then_another_links(identity: Any, repo: Repository, *, sha: str) -> None:
        check(identity, repo, sha=sha)
        Repository.update(github_id=999).where(Repository.id == shop.id).execute()

    monkeypatch.setattr(repo_file_uploads, "check_identity", then_another_links)
    answer = put(actions_issuer.mint())
    assert answer.status_code == 403
    assert "GitHub id 4242, not 999" in answer.get_json()["error"]["message"]
    assert RepoFile.select().count() == 0 and ActionsTokenUse.select().count() == 0
    assert Repository.get_by_id(shop.id).github_id == 999


def test_expired_spent_tokens_are_forgotten_after_the_upload_a_batch_at_a_time(
    put: Put, shop: Repository, actions_issuer: FakeActionsIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not inside the upload's transaction (uploads of every tenant would queue on the
    same rows): after its commit, at most a batch of them."""
    batch = repo_file_uploads.PURGE_BATCH
    ActionsTokenUse.insert_many(
        [
            {"jti": f"old-{n}", "repository": shop.id, "expires_at": datetime(2000, 1, 1)}
            for n in range(batch + 5)
        ]
    ).execute()
    during: list[int] = []
    head_of = repo_file_uploads.default_branch_head

    def counting(repo: Repository) -> str | None:
        during.append(ActionsTokenUse.select().where(ActionsTokenUse.jti ** "old-%").count())
        return head_of(repo)

    monkeypatch.setattr(repo_file_uploads, "default_branch_head", counting)
    assert put(actions_issuer.mint()).status_code == 200
    assert during == [batch + 5]
    left = ActionsTokenUse.select().where(ActionsTokenUse.jti ** "old-%").count()
    assert left == 5 and ActionsTokenUse.select().count() == 6  # and the token just spent
