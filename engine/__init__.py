"""augplan engine: models and pipelines (catalogue, backends, generation, embedding, the quality
stage, pilots, planning glue, device facts). Import its modules; the package itself exports
nothing."""

__all__: list[str] = []
