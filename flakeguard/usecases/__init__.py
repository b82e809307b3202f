"""Use cases: the only place that combines models, engine and side effects."""
