"""augplan engine."""
