"""augplan front doors: the command line (``tui.cli``) and the Textual app (``tui.app``).
Import its modules; the package itself exports nothing."""

__all__: list[str] = []
