"""augplan planner."""
