"""``augplan tui``: open the Textual app."""

from __future__ import annotations

from tui.cli._common import ClusterOpt, ModelsOpt, StorageOpt, StoreOpt, parse_storage_options


def tui_cmd(store_path: StoreOpt = None, storage: StorageOpt = None,
            models_dir: ModelsOpt = None, cluster: ClusterOpt = "local") -> None:
    """Open the terminal UI: plan a budget, run and watch generation jobs, browse and export
    the cached queries, manage models (keyboard-first; ? for help). With --cluster, the Run
    pane's jobs decode on that Ray cluster."""
    from engine.cluster import parse_cluster
    from tui.app import run_app

    run_app(store_path, models_dir, storage_options=parse_storage_options(storage),
            cluster=parse_cluster(cluster))
