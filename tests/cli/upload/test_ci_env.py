"""CI metadata read from the environment of each supported CI, and flags that override it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from flakeguard_ci.ci_env import collect_metadata, detect_ci
from flakeguard_ci.reports import expand_files

SHA = "d" * 40

CASES = [
    (
        "gitlab",
        {
            "GITLAB_CI": "true",
            "CI_PROJECT_PATH": "acme/shop",
            "CI_COMMIT_SHA": SHA,
            "CI_COMMIT_REF_NAME": "main",
            "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feature/y",
            "CI_PIPELINE_ID": "321",
            "CI_JOB_NAME": "rspec 1/2",
            "CI_MERGE_REQUEST_IID": "12",
        },
        {
            "repo": "acme/shop",
            "branch": "feature/y",
            "run_id": "321",
            "job": "rspec 1/2",
            "pr": "12",
        },
    ),
    (
        "buildkite",
        {
            "BUILDKITE": "true",
            "BUILDKITE_REPO": "git@github.com:acme/shop.git",
            "BUILDKITE_COMMIT": SHA,
            "BUILDKITE_BRANCH": "main",
            "BUILDKITE_BUILD_ID": "0190-abc",
            "BUILDKITE_STEP_KEY": "unit",
            "BUILDKITE_RETRY_COUNT": "1",
            "BUILDKITE_PULL_REQUEST": "false",
        },
        {
            "repo": "acme/shop",
            "branch": "main",
            "run_id": "0190-abc",
            "job": "unit",
            "attempt": "2",
        },
    ),
    (
        "circleci",
        {
            "CIRCLECI": "true",
            "CIRCLE_PROJECT_USERNAME": "acme",
            "CIRCLE_PROJECT_REPONAME": "shop",
            "CIRCLE_SHA1": SHA,
            "CIRCLE_BRANCH": "fix",
            "CIRCLE_WORKFLOW_ID": "wf-1",
            "CIRCLE_JOB": "test",
            "CIRCLE_PULL_REQUEST": "https://github.com/acme/shop/pull/77",
        },
        {"repo": "acme/shop", "branch": "fix", "run_id": "wf-1", "job": "test", "pr": "77"},
    ),
    (
        "jenkins",
        {
            "JENKINS_URL": "https://ci.example.com/",
            "GIT_URL": "https://github.com/acme/shop.git",
            "GIT_COMMIT": SHA,
            "GIT_BRANCH": "origin/main",
            "BUILD_NUMBER": "88",
            "JOB_NAME": "shop/unit",
        },
        {"repo": "acme/shop", "branch": "main", "run_id": "88", "job": "shop/unit"},
    ),
]


@pytest.mark.parametrize(("env", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_detects_each_ci(env, expected) -> None:  # type: ignore[no-untyped-def]
    """Each CI's variables map to repo, sha, branch, run id, job, attempt and PR."""
    found = detect_ci(env)
    assert found["sha"] == SHA
    assert {k: found.get(k) for k in expected} == expected


def test_github_actions_uses_the_pull_request_head(tmp_path: Path) -> None:
    """On a pull_request event the head SHA from the event file wins over the merge SHA."""
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"head": {"sha": "e" * 40}}}))
    found = detect_ci(
        {
            "GITHUB_ACTIONS": "true",
            "GITHUB_REPOSITORY": "acme/shop",
            "GITHUB_SHA": "f" * 40,
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_REF": "refs/pull/5/merge",
            "GITHUB_REF_NAME": "5/merge",
            "GITHUB_HEAD_REF": "topic",
            "GITHUB_RUN_ID": "1",
            "GITHUB_RUN_ATTEMPT": "3",
            "GITHUB_JOB": "test",
        }
    )
    assert found["sha"] == "e" * 40
    assert (found["branch"], found["pr"], found["attempt"]) == ("topic", "5", "3")


def test_no_ci_detected_outside_ci() -> None:
    """Without CI variables nothing is guessed."""
    assert detect_ci({"HOME": "/root", "GITHUB_REPOSITORY": "acme/shop"}) == {}


def test_flags_win_over_the_environment() -> None:
    """An explicit flag replaces the value read from the CI."""
    args = argparse.Namespace(
        repo=None,
        sha=None,
        branch="release",
        run_id=None,
        job="x",
        attempt=None,
        pr=None,
        started_at=None,
    )
    values = collect_metadata(args, dict(CASES[0][1]))
    assert (values["branch"], values["job"], values["run_id"]) == ("release", "x", "321")


def test_globs_expand_recursively_without_duplicates(tmp_path: Path) -> None:
    """``**`` matches nested files; a file named twice is uploaded once; misses are reported."""
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("a/one.xml", "a/b/two.xml", "a/b/notes.txt"):
        (tmp_path / name).write_text("<testsuites/>")
    files, unmatched = expand_files(
        [str(tmp_path / "**" / "*.xml"), str(tmp_path / "a" / "one.xml"), str(tmp_path / "x*.xml")]
    )
    assert sorted(p.name for p in files) == ["one.xml", "two.xml"]
    assert unmatched == [str(tmp_path / "x*.xml")]
