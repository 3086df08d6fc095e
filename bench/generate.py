"""Benchmark: `augplan generate` against a plain sequential llama-cpp-python loop.

Both run in this one process, on the same passages, model, prompts and sampling parameters,
alternating (baseline, engine, baseline, engine, ...) so that machine noise hits both alike.
The engine's time includes everything the command does except embedding: content keys, the
store lookups, batched LanceDB commits and run bookkeeping. Model loading is timed on both sides.

    .venv/bin/python bench/generate.py [--passages 40] [--augmenter smollm2-135m] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine import catalogue, prompts
from engine.datasets import locate
from engine.device import cpu_name, default_threads
from engine.generate import GenerateRequest, generate
from store import Store
from store import corpus as corpus_io


def baseline(model_path: Path, prompts_: list[str], params: dict, stop: list[str]) -> float:
    """The plain loop a user would write: load the model, call it once per prompt."""
    from llama_cpp import Llama

    t0 = time.perf_counter()
    threads = default_threads()
    llm = Llama(model_path=str(model_path), n_ctx=2048, n_batch=256, n_threads=threads,
                n_threads_batch=threads, verbose=False)
    outs = []
    for p in prompts_:
        out = llm.create_completion(p, max_tokens=params["max_tokens"],
                                    temperature=params["temperature"], top_p=params["top_p"],
                                    top_k=params["top_k"], repeat_penalty=1.0, stop=stop)
        outs.append(prompts.parse_query(out["choices"][0]["text"]))
    llm.close()
    return time.perf_counter() - t0


def engine_run(data: Path, augmenter: str, n: int, models_dir: Path | None) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "store")
        files = corpus_io.detect(data)
        store.import_corpus("bench", files)
        t0 = time.perf_counter()
        report = generate(store, GenerateRequest(corpus="bench", augmenter=augmenter, limit=n),
                          models_dir=models_dir)
        seconds = time.perf_counter() - t0
        assert report.generated == n, report
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passages", type=int, default=40)
    ap.add_argument("--augmenter", default="smollm2-135m")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--data", default=None,
                    help="BEIR folder (default: scifact under --data-dir)")
    ap.add_argument("--data-dir", default=os.environ.get("AUGPLAN_DATA_DIR")
                    or str(ROOT.parent / "shared" / "data"),
                    help="folder holding scifact/ (default: $AUGPLAN_DATA_DIR or ../shared/data)")
    ap.add_argument("--models-dir", default=None)
    args = ap.parse_args()

    data = locate(args.data or "scifact", args.data_dir)
    models_dir = Path(args.models_dir) if args.models_dir else None
    model_path = catalogue.verify(args.augmenter, models_dir)
    template = prompts.load("inpars")
    params = GenerateRequest(corpus="", augmenter=args.augmenter).sampling_params(template)
    files = corpus_io.detect(data)
    rows = []
    for batch in corpus_io.iter_passages(files, batch_size=args.passages):
        rows = batch.to_pylist()[: args.passages]
        break
    prompt_texts = [template.render(r["title"], r["text"]) for r in rows]

    base_t, eng_t = [], []
    for _ in range(args.repeats):
        base_t.append(baseline(model_path, prompt_texts, params, list(template.stop)))
        eng_t.append(engine_run(data, args.augmenter, args.passages, models_dir))
    n = args.passages
    base_qps = n / statistics.median(base_t)
    eng_qps = n / statistics.median(eng_t)
    result = {
        "augmenter": args.augmenter,
        "passages": n,
        "threads": default_threads(),
        "cpu": cpu_name(),
        "baseline_seconds": [round(t, 2) for t in base_t],
        "engine_seconds": [round(t, 2) for t in eng_t],
        "baseline_queries_per_s": round(base_qps, 3),
        "engine_queries_per_s": round(eng_qps, 3),
        "ratio_engine_over_baseline": round(eng_qps / base_qps, 3),
    }
    print(f"plain llama-cpp-python loop : {base_qps:.3f} queries/s  (runs: {result['baseline_seconds']} s)")
    print(f"augplan generate            : {eng_qps:.3f} queries/s  (runs: {result['engine_seconds']} s)")
    print(f"ratio engine / baseline     : {eng_qps / base_qps:.3f}  (target >= 0.95)")
    print(json.dumps(result))



if __name__ == "__main__":
    main()
