"""augplan's store: LanceDB tables of corpora, synthetic queries and runs (the only lancedb user)."""

from store._db import Store, default_path, now, sql_str
from store.errors import AugplanError

__all__ = ["AugplanError", "Store", "default_path", "now", "sql_str"]
