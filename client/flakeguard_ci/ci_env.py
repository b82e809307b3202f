"""CI metadata from the environment of GitHub Actions, GitLab CI, Buildkite, CircleCI, Jenkins."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Mapping
from pathlib import Path

META_FLAGS = ("repo", "sha", "branch", "run_id", "job", "attempt", "pr", "started_at")
GIT_REMOTE = re.compile(r"(?:[:/])([^/:]+/[^/]+?)(?:\.git)?/?$")
PULL_REF = re.compile(r"^refs/pull/(\d+)/")
TRAILING_NUMBER = re.compile(r"/(\d+)/?$")


def detect_ci(env: Mapping[str, str]) -> dict[str, str]:
    """CI metadata found in ``env`` (GitHub Actions, GitLab, Buildkite, CircleCI, Jenkins)."""

    def get(name: str) -> str:
        return (env.get(name) or "").strip()

    found: dict[str, str] = {}
    if get("GITHUB_ACTIONS") == "true":
        pr_match = PULL_REF.match(get("GITHUB_REF"))
        found = {
            "provider": "github-actions",
            "repo": get("GITHUB_REPOSITORY"),
            "sha": _github_head_sha(get("GITHUB_EVENT_PATH")) or get("GITHUB_SHA"),
            "branch": get("GITHUB_HEAD_REF") or get("GITHUB_REF_NAME"),
            "run_id": get("GITHUB_RUN_ID"),
            "job": get("GITHUB_JOB"),
            "attempt": get("GITHUB_RUN_ATTEMPT"),
            "pr": pr_match.group(1) if pr_match else "",
        }
    elif get("GITLAB_CI") == "true":
        found = {
            "provider": "gitlab-ci",
            "repo": get("CI_PROJECT_PATH"),
            "sha": get("CI_COMMIT_SHA"),
            "branch": get("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME") or get("CI_COMMIT_REF_NAME"),
            "run_id": get("CI_PIPELINE_ID"),
            "job": get("CI_JOB_NAME"),
            "pr": get("CI_MERGE_REQUEST_IID"),
            "started_at": get("CI_JOB_STARTED_AT"),
        }
    elif get("BUILDKITE") == "true":
        retry = get("BUILDKITE_RETRY_COUNT")
        pr = get("BUILDKITE_PULL_REQUEST")
        found = {
            "provider": "buildkite",
            "repo": _repo_from_remote(get("BUILDKITE_REPO")),
            "sha": get("BUILDKITE_COMMIT"),
            "branch": get("BUILDKITE_BRANCH"),
            "run_id": get("BUILDKITE_BUILD_ID") or get("BUILDKITE_BUILD_NUMBER"),
            "job": get("BUILDKITE_STEP_KEY") or get("BUILDKITE_LABEL"),
            "attempt": str(int(retry) + 1) if retry.isdigit() else "",
            "pr": pr if pr.isdigit() else "",
        }
    elif get("CIRCLECI") == "true":
        pr_url = get("CIRCLE_PULL_REQUEST")
        pr_match = TRAILING_NUMBER.search(pr_url)
        owner, name = get("CIRCLE_PROJECT_USERNAME"), get("CIRCLE_PROJECT_REPONAME")
        found = {
            "provider": "circleci",
            "repo": f"{owner}/{name}" if owner and name else "",
            "sha": get("CIRCLE_SHA1"),
            "branch": get("CIRCLE_BRANCH"),
            "run_id": get("CIRCLE_WORKFLOW_ID") or get("CIRCLE_BUILD_NUM"),
            "job": get("CIRCLE_JOB"),
            "pr": pr_match.group(1) if pr_match else "",
        }
    elif get("JENKINS_URL") or get("JENKINS_HOME"):
        branch = get("CHANGE_BRANCH") or get("BRANCH_NAME") or get("GIT_BRANCH")
        found = {
            "provider": "jenkins",
            "repo": _repo_from_remote(get("GIT_URL")),
            "sha": get("GIT_COMMIT"),
            "branch": branch.removeprefix("origin/"),
            "run_id": get("BUILD_NUMBER"),
            "job": get("JOB_NAME"),
            "pr": get("CHANGE_ID") if get("CHANGE_ID").isdigit() else "",
        }
    return {key: value for key, value in found.items() if value}


def _github_head_sha(event_path: str) -> str:
    """The PR head commit (GITHUB_SHA is the merge commit on pull_request events)."""
    if not event_path:
        return ""
    try:
        event = json.loads(Path(event_path).read_text())
    except (OSError, ValueError):
        return ""
    pull = event.get("pull_request") if isinstance(event, dict) else None
    head = pull.get("head") if isinstance(pull, dict) else None
    sha = head.get("sha") if isinstance(head, dict) else None
    return sha if isinstance(sha, str) else ""


def _repo_from_remote(url: str) -> str:
    match = GIT_REMOTE.search(url.strip())
    return match.group(1) if match else ""


def collect_metadata(args: argparse.Namespace, env: Mapping[str, str]) -> dict[str, str]:
    """CI metadata from ``env`` overridden by the flags that were given."""
    values = detect_ci(env)
    for name in META_FLAGS:
        flag = getattr(args, name, None)
        if flag is not None and str(flag).strip():
            values[name] = str(flag).strip()
    return values
