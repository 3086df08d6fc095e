"""Records the engine keeps in the store: generation runs, cost profiles and pilot points."""

from __future__ import annotations

import datetime as _dt
import json
import uuid
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from store import schemas
from store._sql import chunked_in, matching
from store._util import dedup_rows, now


class RecordsMixin:
    """Runs (manifest, progress, status), profiles (throughput) and pilots (measured points)."""

    # ------------------------------------------------------------------ runs
    def start_run(self, manifest: dict[str, Any]) -> str:
        run_id = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        row = {
            "run_id": run_id,
            "kind": manifest.get("kind", "generate"),
            "corpus": manifest.get("corpus", ""),
            "augmenter": manifest.get("augmenter", ""),
            "strategy": manifest.get("strategy", ""),
            "manifest": json.dumps(manifest, sort_keys=True),
            "target": int(manifest.get("target", 0)),
            "done": 0,
            "generated": 0,
            "cached": 0,
            "status": "running",
            "message": "",
            "seconds": 0.0,
            "prompt_tokens": 0,
            "gen_tokens": 0,
            "diversity": "",
            "created_at": now(),
            "updated_at": now(),
        }
        self.table("runs").add(pa.Table.from_pylist([row], schema=schemas.RUNS))
        return run_id

    def update_run(self, run_id: str, **fields: Any) -> None:
        fields["updated_at"] = now()
        self.table("runs").update(where=matching(run_id=run_id), values=fields)

    def runs(self, *, corpus: str | None = None,
             status: str | None = None) -> list[dict[str, Any]]:
        """Runs (of a corpus, in a status), oldest first."""
        rows = self._scan("runs", matching(corpus=corpus, status=status)).to_pylist()
        return sorted(rows, key=lambda r: r["created_at"])

    def run(self, run_id: str) -> dict[str, Any] | None:
        """One run's record, or None."""
        rows = self._scan("runs", matching(run_id=run_id)).to_pylist()
        return rows[0] if rows else None

    # -------------------------------------------------------------- profiles
    def add_profile(self, row: dict[str, Any]) -> bool:
        """Insert one cost profile unless one with its ``profile_id`` is there; True if added."""
        batch = pa.Table.from_pylist([row], schema=schemas.PROFILES)
        result = self.table("profiles").merge_insert("profile_id").when_not_matched_insert_all(
        ).execute(batch)
        return int(result.num_inserted_rows) > 0

    def delete_profiles(self, profile_ids: Sequence[str]) -> None:
        """Remove these profiles (the undo of an import that failed half-way)."""
        for clause in chunked_in("profile_id", list(profile_ids)):
            self.table("profiles").delete(clause)

    def profiles(self, *, kind: str | None = None, name: str | None = None,
                 device: str | None = None) -> list[dict[str, Any]]:
        """Cost profiles (of a kind, name or device), oldest measurement first."""
        rows = self._scan("profiles", matching(kind=kind, name=name, device=device)).to_pylist()
        return sorted(rows, key=lambda r: (r["measured_at"] or "", r["profile_id"]))

    # ---------------------------------------------------------------- pilots
    def add_pilots(self, rows: list[dict[str, Any]]) -> int:
        """Insert pilot points unless their ``point_id`` is there; returns how many were new."""
        if not rows:
            return 0
        batch = dedup_rows(pa.Table.from_pylist(rows, schema=schemas.PILOTS), "point_id")
        result = self.table("pilots").merge_insert("point_id").when_not_matched_insert_all(
        ).execute(batch)
        return int(result.num_inserted_rows)

    def pilots(self, *, corpus: str | None = None, retriever: str | None = None,
               kind: str | None = None,
               point_ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Pilot points (of a corpus, retriever, kind, or with these ids), in a stable order."""
        base = matching(corpus=corpus, retriever=retriever, kind=kind)
        filters = [base] if point_ids is None else list(chunked_in("point_id", point_ids, base))
        rows = self._scan_all("pilots", filters or ["false"]).to_pylist()
        return sorted(rows, key=lambda r: (r["corpus"], r["retriever"], r["eval_set"],
                                           r["augmenter"], r["strategy"], r["scale"], r["seed"]))
