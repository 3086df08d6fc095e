"""augplan tui."""
