# Generated from a schema diff on 2026-11-29 08:40.
from peewee import *

from models.migrations import frozen


def up(migrator, db):
    DomainEvent = frozen.model(db, "DomainEvent", "domain_event", {"id": BigAutoField()})
    migrator.migrate(migrator.add_column('slack_message', 'event_id', ForeignKeyField(DomainEvent, field=DomainEvent.id, null=True, on_delete='SET NULL')))


def down(migrator, db):
    migrator.migrate(migrator.drop_index('slack_message', 'slack_message_event_id'))
    migrator.migrate(migrator.drop_column('slack_message', 'event_id'))
