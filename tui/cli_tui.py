"""``augplan tui``: open the Textual app. ``register(app)`` adds the command to the main typer
app (see ``tui.cli_profiles``)."""

import typer


def register(app: typer.Typer) -> None:
    """Add the ``tui`` command to ``app``."""
    from tui.cli import ModelsOpt, StoreOpt

    @app.command("tui")
    def tui_cmd(store_path: StoreOpt = None, models_dir: ModelsOpt = None) -> None:
        """Open the terminal UI: plan a budget, run and watch generation jobs, browse and
        export the cached queries, manage models (keyboard-first; ? for help)."""
        from tui.app import run_app

        run_app(store_path, models_dir)
