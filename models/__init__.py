"""peewee models, the database handle, migrations, and the queries the rest needs."""

from models.base import BaseModel, db, init_db, is_postgres, utcnow
from models.digests import WeeklyDigest
from models.github import CheckRun, IngestedArtifact, WebhookDelivery
from models.links import WorkspaceLinkState
from models.outbox import Effect
from models.owners import ActionsTokenUse, OwnerRoute, RepoFile, TeamMember
from models.quarantine import Quarantine, QuarantineEvent
from models.repos import IngestToken, Installation, Repository
from models.results import (
    DomainEvent,
    FailureMessage,
    FlakeScore,
    InfraEvent,
    ResultAttempt,
    ResultBlock,
    TestCase,
    TestRun,
)
from models.slack import (
    ChannelSubscription,
    SlackEventReceipt,
    SlackInstallation,
    SlackMessage,
    SlackOAuthState,
    UserLink,
    WorkspacePolicy,
)
from models.tenancy import DEFAULT_TENANT_SLUG, SlackWorkspace, Tenant, default_tenant
from models.tokens import ApiToken
from models.web import WebLoginToken, WebUser

ALL_MODELS = [
    Tenant,
    SlackWorkspace,
    Installation,
    Repository,
    IngestToken,
    TestCase,
    TestRun,
    FailureMessage,
    ResultBlock,
    ResultAttempt,
    FlakeScore,
    DomainEvent,
    InfraEvent,
    Quarantine,
    QuarantineEvent,
    CheckRun,
    WebhookDelivery,
    IngestedArtifact,
    SlackInstallation,
    SlackOAuthState,
    SlackMessage,
    ChannelSubscription,
    UserLink,
    WorkspacePolicy,
    SlackEventReceipt,
    Effect,
    WorkspaceLinkState,
    WebUser,
    WebLoginToken,
    ApiToken,
    RepoFile,
    OwnerRoute,
    TeamMember,
    WeeklyDigest,
    ActionsTokenUse,
]

__all__ = [
    "ALL_MODELS",
    "DEFAULT_TENANT_SLUG",
    "ActionsTokenUse",
    "ApiToken",
    "BaseModel",
    "ChannelSubscription",
    "CheckRun",
    "DomainEvent",
    "Effect",
    "FailureMessage",
    "FlakeScore",
    "InfraEvent",
    "IngestToken",
    "IngestedArtifact",
    "Installation",
    "OwnerRoute",
    "Quarantine",
    "QuarantineEvent",
    "RepoFile",
    "Repository",
    "ResultAttempt",
    "ResultBlock",
    "SlackEventReceipt",
    "SlackInstallation",
    "SlackMessage",
    "SlackOAuthState",
    "SlackWorkspace",
    "TeamMember",
    "Tenant",
    "TestCase",
    "TestRun",
    "UserLink",
    "WebLoginToken",
    "WebUser",
    "WebhookDelivery",
    "WeeklyDigest",
    "WorkspaceLinkState",
    "WorkspacePolicy",
    "db",
    "default_tenant",
    "init_db",
    "is_postgres",
    "utcnow",
]
