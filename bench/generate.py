"""Benchmark: `augplan generate` against a plain sequential llama-cpp-python loop.

Both run in this one process, on the same passages, model, prompts and sampling parameters,
alternating (baseline, engine, baseline, engine, ...) so that machine noise hits both alike.
The engine's time includes everything the command does except embedding: content keys, the
store lookups, batched LanceDB commits and run bookkeeping. Model loading is timed on both sides.

    .venv/bin/python bench/generate.py [--passages 40] [--augmenter smollm2-135m] [--repeats 2]

``--whole`` compares whole processes instead, as a user meets them: ``augplan generate`` (start-up,
model load, generation, embedding, filters, dedup, diversity, commits; a fresh store with the
corpus imported before the clock starts) against a bare script that imports llama-cpp-python,
loads the model and loops over the same prompts, each timed from process start to exit.

    .venv/bin/python bench/generate.py --whole --passages 128 [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine import catalogue, prompts
from engine.datasets import locate
from engine.device import cpu_name, default_threads
from engine.generate import GenerateRequest, generate
from store import Selection, Store
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


#: The loop a user would write, as its own script: nothing of augplan is imported.
BARE_LOOP = """
import json, sys
from llama_cpp import Llama
cfg = json.load(open(sys.argv[1]))
llm = Llama(model_path=cfg["model"], n_ctx=2048, n_batch=256, n_threads=cfg["threads"],
            n_threads_batch=cfg["threads"], verbose=False)
outs = []
for p in cfg["prompts"]:
    out = llm.create_completion(p, max_tokens=cfg["max_tokens"], temperature=0.0,
                                top_p=cfg["top_p"], top_k=cfg["top_k"], repeat_penalty=1.0,
                                stop=cfg["stop"])
    outs.append(out["choices"][0]["text"])
json.dump(outs, open(cfg["out"], "w"))
"""


def _timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} ... failed:\n{proc.stderr[-2000:]}")
    return seconds


def whole(args: argparse.Namespace, data: Path, model_path: Path, prompt_texts: list[str],
          params: dict[str, Any], stop: list[str]) -> dict[str, Any]:
    """Whole processes, alternating: the bare loop script, then ``augplan generate``."""
    augplan = Path(sys.executable).with_name("augplan")
    base_t, eng_t = [], []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        script = root / "loop.py"
        script.write_text(BARE_LOOP)
        cfg = root / "loop.json"
        cfg.write_text(json.dumps({"model": str(model_path), "threads": default_threads(),
                                   "prompts": prompt_texts, "max_tokens": params["max_tokens"],
                                   "top_p": params["top_p"], "top_k": params["top_k"],
                                   "stop": stop, "out": str(root / "loop-out.json")}))
        for r in range(args.repeats):
            base_t.append(_timed([sys.executable, str(script), str(cfg)]))
            store_dir = root / f"store-{r}"
            Store(store_dir).import_corpus("bench", corpus_io.detect(data))  # not timed
            env = dict(os.environ, AUGPLAN_STORE=str(store_dir), NO_COLOR="1")
            if args.models_dir:
                env["AUGPLAN_MODELS_DIR"] = args.models_dir
            eng_t.append(_timed([str(augplan), "generate", "--corpus", "bench", "--augmenter",
                                 args.augmenter, "--limit", str(args.passages), "--json"], env))
            done = Store(store_dir).count_augmentations(Selection(corpus="bench"))
            if done != args.passages:
                raise SystemExit(f"augplan generate made {done} rows, not {args.passages}")
    return {"base": base_t, "engine": eng_t}


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
    ap.add_argument("--whole", action="store_true",
                    help="whole processes: augplan generate against a bare loop script")
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
    if args.whole:
        runs = whole(args, data, model_path, prompt_texts, params, list(template.stop))
        base_t, eng_t = runs["base"], runs["engine"]
    for _ in range(0 if args.whole else args.repeats):
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
        "whole_process": args.whole,
        "baseline_seconds": [round(t, 2) for t in base_t],
        "engine_seconds": [round(t, 2) for t in eng_t],
        "baseline_queries_per_s": round(base_qps, 3),
        "engine_queries_per_s": round(eng_qps, 3),
        "ratio_engine_over_baseline": round(eng_qps / base_qps, 3),
    }
    print(f"plain llama-cpp-python loop : {base_qps:.3f} queries/s  (runs: {result['baseline_seconds']} s)")
    print(f"augplan generate            : {eng_qps:.3f} queries/s  (runs: {result['engine_seconds']} s)")
    goal = 1.0 if args.whole else 0.95
    print(f"ratio engine / baseline     : {eng_qps / base_qps:.3f}  (target >= {goal})")
    print(json.dumps(result))



if __name__ == "__main__":
    main()
