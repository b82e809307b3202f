"""An owner's name is as long as GitHub allows (@ + 39 + / + 100 = 141) everywhere:
CODEOWNERS, .flakeguard.yml routing, /flakeguard route and the stored route."""

from __future__ import annotations

from engine import codeowners
from engine import repo_config as rc
from flakeguard.usecases import owner_routes
from tests.fakes.slack import TEAM_ID
from tests.owners.conftest import World

LONGEST = "@" + "o" * 39 + "/" + "t" * 100
TOO_LONG = LONGEST + "t"
CHANNEL = "C0LONG"


def test_the_longest_team_routes_from_slack_and_is_stored(world: World) -> None:
    answer = world.slack.command(f"route {LONGEST} <#{CHANNEL}|long>", channel=CHANNEL)
    assert answer.status_code == 200
    assert owner_routes.routes(world.repo.tenant_id) == [(LONGEST, TEAM_ID, CHANNEL, None)]


def test_a_longer_name_is_refused_with_a_clear_message(world: World) -> None:
    answer = world.slack.command(f"route {TOO_LONG} <#{CHANNEL}|long>", channel=CHANNEL)
    assert "is not a GitHub @user or @org/team" in str(answer.get_json())
    assert owner_routes.routes(world.repo.tenant_id) == []


def test_codeowners_and_the_config_take_the_same_longest_name() -> None:
    parsed = codeowners.parse(f"/tests/ {LONGEST}\n/docs/ {TOO_LONG}\n")
    assert parsed.owners_of("tests/test_x.py") == (LONGEST,)
    assert parsed.owners_of("docs/x.md") == ()
    result = rc.parse(f"routing:\n  '{LONGEST}': {CHANNEL}\n  '{TOO_LONG}': {CHANNEL}\n")
    assert result.config.channel_for(LONGEST) == CHANNEL
    assert result.config.channel_for(TOO_LONG) is None
