"""The GitHub App adapter: webhook endpoint, client, check runs, quarantine mirror, artifacts.

- ``webhook``: ``/github/webhook`` (signature, delivery record, handler table).
- ``auth`` / ``client``: App JWT to cached installation tokens; ``GitHubClient``
  (implements ``flakeguard.usecases.github.GitHubPort``) with GithubRetry and a
  circuit breaker; ``base_url`` from ``GITHUB_API_URL`` (GitHub Enterprise Server).
- ``check_runs``, ``mirror``, ``artifacts``: rendering and the PyGithub calls.

The decisions live in ``flakeguard.usecases.github_*``; this package only talks
to GitHub. Per repository, ``Repository.settings["github_artifact_patterns"]``
(a list, or a comma-separated string; substrings or globs) replaces the default
artifact filter (names containing ``junit``, ``test-results`` or ``test-report``).
"""
