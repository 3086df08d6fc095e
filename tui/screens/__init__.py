"""The panes of the augplan TUI: plan, run, browse, models, and the help screen."""
