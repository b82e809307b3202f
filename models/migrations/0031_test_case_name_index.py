# Generated from a schema diff on 2026-11-29 09:23.
from peewee import *

def up(migrator, db):
    migrator.migrate(migrator.add_index('test_case', ('name',)))


def down(migrator, db):
    migrator.migrate(migrator.drop_index('test_case', 'test_case_name'))
