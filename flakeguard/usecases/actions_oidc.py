"""GitHub Actions OIDC tokens: GitHub's word that a CI job ran in a repository, on a ref.

A job given ``permissions: id-token: write`` can ask GitHub for a token: a JWT that
GitHub's Actions issuer signs (RS256), naming the job's repository, ref, triggering
event and commit, for an audience the job chooses. ``verify`` checks the signature with
the issuer's published keys (its JWKS), the issuer, the audience
and the lifetime, and returns what FlakeGuard relies on. Every refusal is an AuthError
that says what is wrong; a key set that cannot be fetched is UnavailableError.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import jwt

from flakeguard.errors import AuthError

ALGORITHMS = ["RS256"]  # what GitHub signs with; "none" and HMAC are never accepted
CLAIMS = [
    "iss",
    "aud",
    "exp",
    "iat",
    "jti",
    "repository",
    "repository_id",
    "ref",
    "event_name",
    "sha",
]
LEEWAY_SECONDS = 60  # clock skew between GitHub and us
MAX_TOKEN_CHARS = 16 * 1024
MAX_JTI_CHARS = 200


class ActionsIssuer(Protocol):
    """GitHub Actions' issuer as trusted here: its name, our audience, its public keys."""

    issuer: str
    audience: str

    def signing_key(self, token: str) -> Any:
        """The key that signed ``token`` (by its ``kid``); AuthError when there is none."""


@dataclass(frozen=True)
class ActionsIdentity:
    """What a verified token says of the job that asked for it."""

    repository: str  # owner/name
    repository_id: int
    ref: str  # refs/heads/main, refs/pull/7/merge, ...
    event_name: str  # push, schedule, pull_request, ...
    sha: str
    jti: str  # the token's own id: a token proves one upload
    expires_at: datetime  # UTC, naive: past it (and the leeway) the token proves nothing


def _refused(why: str) -> AuthError:
    return AuthError(f"GitHub Actions OIDC token refused: {why}")


def verify(token: str, issuer: ActionsIssuer) -> ActionsIdentity:
    """The identity a GitHub Actions OIDC token proves, or AuthError saying why not."""
    if not token or len(token) > MAX_TOKEN_CHARS or not token.isascii():
        raise _refused("not a JWT")
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise _refused("not a JWT") from None
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS:
        raise _refused(f"algorithm {str(algorithm)[:20]!r} is not accepted (RS256 only)")
    # Said before the keys are fetched: a token of another issuer names none of its keys.
    if unverified.get("iss") != issuer.issuer:
        shown = str(unverified.get("iss"))[:100]
        raise _refused(f"issuer {shown!r} is not GitHub Actions ({issuer.issuer})")
    key = issuer.signing_key(token)
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=ALGORITHMS,
            audience=issuer.audience,
            issuer=issuer.issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": CLAIMS},
        )
    except jwt.ExpiredSignatureError:
        raise _refused("it has expired") from None
    except jwt.ImmatureSignatureError:
        raise _refused("it is not valid yet") from None
    except jwt.InvalidAudienceError:
        shown = str(unverified.get("aud"))[:100]
        raise _refused(
            f"its audience {shown!r} is not this FlakeGuard's ({issuer.audience}); "
            "the client asks for the audience in FLAKEGUARD_OIDC_AUDIENCE, else FLAKEGUARD_URL"
        ) from None
    except jwt.InvalidSignatureError:
        raise _refused("its signature does not verify") from None
    except jwt.MissingRequiredClaimError as exc:
        raise _refused(f"it has no {exc.claim} claim") from None
    except jwt.PyJWTError as exc:
        raise _refused(str(exc)[:200]) from None
    except TypeError:  # a key of another kind than the token's algorithm needs
        raise _refused("it is not signed with a key of the issuer that RS256 can verify") from None
    return _identity(claims)


def _identity(claims: dict[str, Any]) -> ActionsIdentity:
    values = {name: claims.get(name) for name in ("repository", "ref", "event_name", "sha")}
    for name, value in values.items():
        if not isinstance(value, str) or not value or len(value) > 300:
            raise _refused(f"its {name} claim is malformed")
    raw_id = claims.get("repository_id")
    repository_id = None  # GitHub sends it as a string of digits
    if isinstance(raw_id, str) and raw_id.isascii() and raw_id.isdigit() and len(raw_id) < 20:
        repository_id = int(raw_id)
    elif isinstance(raw_id, int) and not isinstance(raw_id, bool) and raw_id > 0:
        repository_id = raw_id
    if repository_id is None:
        raise _refused("its repository_id claim is malformed")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_CHARS:
        raise _refused("its jti claim is malformed")
    try:  # PyJWT checked that exp is a number in the future, not that it is a date
        expires = datetime.fromtimestamp(int(claims["exp"]), UTC).replace(tzinfo=None)
    except (OverflowError, ValueError, OSError):
        raise _refused("its exp claim is not a date") from None
    return ActionsIdentity(
        repository=values["repository"],
        repository_id=repository_id,
        ref=values["ref"],
        event_name=values["event_name"],
        sha=values["sha"],
        jti=jti,
        expires_at=expires + timedelta(seconds=LEEWAY_SECONDS),
    )
