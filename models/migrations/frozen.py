"""The table shapes the migrations repeat, frozen here so that no change to the live
models in ``models/`` can change what an old migration creates or reads.

A migration describes each table it touches as a dict of peewee fields, in column
order; ``model`` turns it into a model class bound to the migration's database.
Peewee names indexes after the model class (``testrun_…`` for ``TestRun``), so the
class name is given as the migration first wrote it. The runner loads only files
whose names start with a digit: this module is never run as a migration.
"""

from peewee import AutoField, Model


def model(db, name, table_name, fields=None, indexes=()):
    """The model class ``name`` over ``table_name`` with these fields (just ``id`` when none)."""
    meta = type("Meta", (), {"database": db, "table_name": table_name, "indexes": indexes})
    return type(name, (Model,), {**(fields or {"id": AutoField()}), "Meta": meta})


def create(db, name, table_name, fields, indexes=()):
    """Create the table of ``model(...)`` and return the model."""
    table = model(db, name, table_name, fields, indexes)
    db.create_tables([table])
    return table
