"""Re-encrypt every stored third-party secret with the first key (``flakeguard secrets rotate``)."""

from __future__ import annotations

from models import SlackInstallation, crypto, db


def rotate_stored_secrets() -> int:
    """Re-encrypt the Slack tokens of every OAuth installation row; return how many rows."""
    count = 0
    with db.atomic():
        # Reading decrypts with any key of the ring; writing encrypts with the first.
        for row in SlackInstallation.select().order_by(SlackInstallation.id):
            SlackInstallation.update(bot_token=row.bot_token, data=row.data).where(
                SlackInstallation.id == row.id
            ).execute()
            count += 1
    return count


def secrets_configured() -> bool:
    """True when a key ring is set (FLAKEGUARD_SECRET_KEY or the embedded default's key file)."""
    return crypto.is_configured()
