"""augplan's store: LanceDB tables of corpora, synthetic queries, runs, profiles and pilots.

The only package that imports lancedb. Callers describe rows with typed selections
(:class:`Selection`) and keyword filters; the store writes its own filters.
"""

from store._db import Store
from store._util import default_location, default_path, is_remote, now
from store.errors import AugplanError
from store.selection import STATUSES, Selection

__all__ = ["STATUSES", "AugplanError", "Selection", "Store", "default_location", "default_path",
           "is_remote", "now"]
