"""Sign-in to the dashboard: one-time links, Slack OpenID Connect, sessions and CSRF."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from flakeguard.usecases import web_auth
from flakeguard.usecases.demo import DEMO_REPO
from models import WebLoginToken, WebUser, utcnow
from tests.fakes.slack import CLIENT_ID, OIDC_CODE, TEAM_ID, USER_ID
from tests.web.conftest import OTHER_TEAM, csrf_of, sign_in_link


def test_signed_out_visitor_sees_only_sign_in(web_app, demo) -> None:  # type: ignore[no-untyped-def]
    """`/` is an HTML sign-in page naming no repository; other pages send there."""
    client = web_app.test_client()
    page = client.get("/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "<title>Sign in · FlakeGuard</title>" in html
    assert "Sign in with Slack" in html and "flakeguard login" in html
    assert DEMO_REPO not in html and "test_payment" not in html
    for path in (f"/repos/{DEMO_REPO}", "/tests/1", "/tokens"):
        answer = client.get(path)
        assert answer.status_code == 302 and answer.headers["Location"] == "/", path
    assert (
        "Content-Security-Policy" in page.headers
        and "script-src" not in page.headers["Content-Security-Policy"]
    )


def test_one_time_link_signs_in_once(web_app, demo, caplog) -> None:  # type: ignore[no-untyped-def]
    """The link signs in once; the same link again is refused; only its hash is stored, and
    the access log never shows it."""
    caplog.set_level("INFO", logger="flakeguard.access")
    client = web_app.test_client()
    secret = web_auth.issue_login_link(demo.home)
    assert not WebLoginToken.select().where(WebLoginToken.token_hash == secret).exists()
    page = client.get(f"/sign-in/link?token={secret}")
    assert page.status_code == 200 and not WebLoginToken.get().used_at  # a GET spends nothing
    token = csrf_of(page.get_data(as_text=True))
    signed = client.post("/sign-in/link", data={"secret": secret, "csrf_token": token})
    assert signed.status_code == 302
    cookie = signed.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    home = client.get("/").get_data(as_text=True)
    assert DEMO_REPO in home and "Signed in to Default as administrator" in home

    other = web_app.test_client()
    page = other.get(f"/sign-in/link?token={secret}")
    again = other.post(
        "/sign-in/link", data={"secret": secret, "csrf_token": csrf_of(page.get_data(as_text=True))}
    )
    assert again.status_code == 400 and "already used" in again.get_data(as_text=True)
    assert DEMO_REPO not in other.get("/").get_data(as_text=True)
    assert "GET /sign-in/link 200" in caplog.text and secret not in caplog.text


def test_expired_link_is_refused(web_app, demo) -> None:  # type: ignore[no-untyped-def]
    """A link older than ten minutes signs nobody in."""
    secret = web_auth.issue_login_link(demo.home, now=utcnow() - timedelta(minutes=11))
    client = web_app.test_client()
    page = client.get(f"/sign-in/link?token={secret}")
    answer = client.post(
        "/sign-in/link", data={"secret": secret, "csrf_token": csrf_of(page.get_data(as_text=True))}
    )
    assert answer.status_code == 400 and "expired" in answer.get_data(as_text=True)


def test_form_without_or_with_wrong_csrf_token_is_refused(web_app, demo) -> None:  # type: ignore[no-untyped-def]
    """No token or another session's token: 400, nothing spent."""
    secret = web_auth.issue_login_link(demo.home)
    client = web_app.test_client()
    client.get(f"/sign-in/link?token={secret}")
    bare = client.post("/sign-in/link", data={"secret": secret})
    assert bare.status_code == 400 and "This form has expired" in bare.get_data(as_text=True)
    stranger = web_app.test_client()
    theirs = csrf_of(stranger.get(f"/sign-in/link?token={secret}").get_data(as_text=True))
    wrong = client.post("/sign-in/link", data={"secret": secret, "csrf_token": theirs})
    assert wrong.status_code == 400
    assert WebLoginToken.get().used_at is None


def _slack_round_trip(client, fake_slack):  # type: ignore[no-untyped-def]
    start = client.get("/sign-in/slack")
    assert start.status_code == 302
    authorize = urlsplit(start.headers["Location"])
    assert authorize.path == "/openid/connect/authorize"
    query = parse_qs(authorize.query)
    assert query["client_id"] == [CLIENT_ID] and query["scope"] == ["openid profile"]
    assert query["redirect_uri"] == ["http://flakeguard.test/sign-in/slack/callback"]
    assert "nonce" not in query  # nothing would ever check it
    return client.get(f"/sign-in/slack/callback?code={OIDC_CODE}&state={query['state'][0]}")


def test_sign_in_with_slack(web_app, demo, fake_slack) -> None:  # type: ignore[no-untyped-def]
    """Slack vouches for the user of a linked workspace: they see their tenant as that user."""
    client = web_app.test_client()
    answer = _slack_round_trip(client, fake_slack)
    assert answer.status_code == 302
    [token_call] = fake_slack.called("openid.connect.token")
    assert token_call.params["code"] == OIDC_CODE
    assert fake_slack.called("openid.connect.userInfo")
    person = WebUser.get(WebUser.provider == "slack")
    assert (person.subject, person.team_id, person.tenant_id) == (USER_ID, TEAM_ID, demo.home.id)
    assert DEMO_REPO in client.get("/").get_data(as_text=True)


def test_slack_workspace_of_another_tenant_sees_its_own(web_app, demo, fake_slack) -> None:  # type: ignore[no-untyped-def]
    """A user of the rival's workspace lands in the rival tenant, never the demo."""
    fake_slack.oidc_user = ("U0RIVAL", OTHER_TEAM, "Rival")
    client = web_app.test_client()
    assert _slack_round_trip(client, fake_slack).status_code == 302
    home = client.get("/").get_data(as_text=True)
    assert "Rival Inc" in home and DEMO_REPO not in home


def test_slack_unlinked_workspace_is_refused(web_app, demo, fake_slack) -> None:  # type: ignore[no-untyped-def]
    """A workspace nobody linked signs nobody in (403, nothing stored)."""
    fake_slack.oidc_user = ("U0NEW", "T0NOBODY", "New")
    client = web_app.test_client()
    answer = _slack_round_trip(client, fake_slack)
    assert answer.status_code == 403 and "not linked" in answer.get_data(as_text=True)
    assert not WebUser.select().where(WebUser.provider == "slack").exists()


def test_slack_callback_not_started_here_is_refused(web_app, demo, fake_slack) -> None:  # type: ignore[no-untyped-def]
    """A callback with a state this session did not issue: 400, Slack is not even asked."""
    client = web_app.test_client()
    client.get("/sign-in/slack")
    answer = client.get(f"/sign-in/slack/callback?code={OIDC_CODE}&state=forged")
    assert answer.status_code == 400
    assert not fake_slack.called("openid.connect.token")


def test_sign_out_ends_the_session(admin) -> None:  # type: ignore[no-untyped-def]
    """After signing out, / is the sign-in page again."""
    home = admin.get("/").get_data(as_text=True)
    out = admin.post("/sign-out", data={"csrf_token": csrf_of(home)})
    assert out.status_code == 302
    assert "Sign in with Slack" in admin.get("/").get_data(as_text=True)


def test_sign_out_ends_a_copied_session_too(web_app, admin) -> None:  # type: ignore[no-untyped-def]
    """A copy of the session cookie taken before signing out is not signed in after it."""
    with admin.session_transaction() as session:
        copied = dict(session)
    home = admin.get("/").get_data(as_text=True)
    assert admin.post("/sign-out", data={"csrf_token": csrf_of(home)}).status_code == 302
    thief = web_app.test_client()
    with thief.session_transaction() as session:
        session.update(copied)
    answer = thief.get("/tokens")
    assert answer.status_code == 302 and answer.headers["Location"] == "/"


def test_link_of_one_tenant_never_shows_another(web_app, demo) -> None:  # type: ignore[no-untyped-def]
    """The rival's administrator sees the rival's repository only."""
    client = web_app.test_client()
    assert sign_in_link(client, demo.rival).status_code == 302
    home = client.get("/").get_data(as_text=True)
    assert "rival/secret-sauce" in home and DEMO_REPO not in home


def test_session_cookie_is_secure_behind_https(web_settings, database) -> None:  # type: ignore[no-untyped-def]
    """With an https public URL the session cookie is Secure (and still HttpOnly, Lax)."""
    import dataclasses

    from flakeguard.app import create_app
    from models import default_tenant

    app = create_app(dataclasses.replace(web_settings, public_url="https://fg.example"))
    app.testing = True
    client = app.test_client()
    secret = web_auth.issue_login_link(default_tenant())
    page = client.get(f"/sign-in/link?token={secret}", base_url="https://fg.example")
    cookie = page.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
