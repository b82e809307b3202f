"""``web_user`` gets ``session_generation``: signing out bumps it, ending every session.

A dashboard session names the generation it began in; one from before the last
sign-out is not signed in any more (a stolen cookie dies with the sign-out).
Existing people start at 0 and their sessions stay valid until they next sign out
(sessions from before the upgrade carry no generation and are read as 0).
``down`` drops the column.
"""

from peewee import IntegerField


def up(migrator, db):
    migrator.migrate(migrator.add_column("web_user", "session_generation", IntegerField(default=0)))


def down(migrator, db):
    migrator.migrate(migrator.drop_column("web_user", "session_generation"))
