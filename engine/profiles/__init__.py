"""Cost profiles: measured throughput of an augmenter (and of retriever training) on a device.

The planner turns a budget into query counts with these numbers. A profile is measured here
(:func:`measure_augmenter`), kept in the store's ``profiles`` table, and exchanged as TOML in the
planner's format (the numbers here only show the shape)::

    [augmenters.smollm2-135m]
    queries_per_hour = 1000.0
    device = "Intel(R) Xeon(R) Processor"
    params = 134515008              # parameters: a count, or billions (0.135)
    strategy = "inpars"
    backend = "llama.cpp"
    prompt_tokens_per_s = 100.0
    gen_tokens_per_s = 10.0
    peak_memory_mb = 300.0
    measured_at = "2026-01-01T00:00:00+00:00"

    [training.minilm-l6]            # or a single [training] table
    pairs_per_hour = 1000.0

Exports add the rest of a profile (``queries_per_s``, ``threads``, ``passages``,
``peak_rss_mb``, ``peak_gpu_mb``, ``settings``) so that an export imports back unchanged.
Reference profiles ship in this package's folder (``engine/profiles/*.toml``, package data)
and load by name.

The package, by concept:

* :mod:`~engine.profiles.data`: the profile dataclasses, their store rows and ids, and the
  store's ``profiles`` table (:func:`save_profile`, :func:`stored_profiles`);
* :mod:`~engine.profiles.files`: TOML text and files, import and export, reference profiles;
* :mod:`~engine.profiles.measure`: measuring an augmenter (:func:`measure_augmenter`), the
  default corpus of a benchmark (:func:`bench_corpus`) and peak memory.
"""

from __future__ import annotations

from engine.profiles.data import (
    AugmenterProfile,
    Profile,
    ProfileSet,
    TrainingProfile,
    profile_dict,
    save_profile,
    stored_profiles,
)
from engine.profiles.files import (
    dumps_profiles,
    export_profiles,
    import_profiles,
    load_reference,
    parse_profiles,
    read_profiles,
    reference_profiles,
)
from engine.profiles.measure import (
    DEFAULT_BENCH_CORPUS,
    bench_corpus,
    cpu_name,
    measure_augmenter,
    peak_rss_mb,
)

__all__ = [
    "DEFAULT_BENCH_CORPUS",
    "AugmenterProfile",
    "Profile",
    "ProfileSet",
    "TrainingProfile",
    "bench_corpus",
    "cpu_name",
    "dumps_profiles",
    "export_profiles",
    "import_profiles",
    "load_reference",
    "measure_augmenter",
    "parse_profiles",
    "peak_rss_mb",
    "profile_dict",
    "read_profiles",
    "reference_profiles",
    "save_profile",
    "stored_profiles",
]
