# Generated from a schema diff on 2026-11-29 10:06.
from peewee import *

def up(migrator, db):
    migrator.migrate(migrator.add_column('quarantine', 'github_issue_url', CharField(null=True, max_length=500)))


def down(migrator, db):
    migrator.migrate(migrator.drop_column('quarantine', 'github_issue_url'))
