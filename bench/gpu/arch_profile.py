"""Throughput profiles of the catalogue augmenters on a CUDA GPU, from their architectures.

The weight files do not need to be on the GPU machine: throughput of a decoder depends on its
architecture (layers, widths, heads, vocabulary), sequence lengths and batch size, not on the
values of its weights. This script builds each augmenter from its transformers config
(bench/gpu/configs/NAME.json, written by export_configs.py from the GGUF header) with random
bf16 weights and times batched prefill + greedy decoding of a fixed number of tokens with
transformers' generate (left padding is not needed: all prompts have the same length).

Lengths default to what the InPars strategy measures on SciFact with the llama.cpp backend:
~460 prompt tokens per passage and ~20 generated tokens per query (24 decoded here, a margin).

    python bench/gpu/arch_profile.py [--prompt-tokens 460] [--gen-tokens 24]
        [--batch-sizes 32,64,128] [--out DIR]

Writes DIR/profiles-<gpu>.toml in the format `augplan profiles import` reads, and a JSON of all
measurements.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import time
from pathlib import Path


def main() -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompt-tokens", type=int, default=460)
    ap.add_argument("--gen-tokens", type=int, default=24)
    ap.add_argument("--batch-sizes", default="32,64,128")
    ap.add_argument("--configs", default=str(Path(__file__).parent / "configs"))
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU here; pass --device cpu for a dry run")
    dev = torch.device(args.device)
    gpu = torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu"
    dtype = torch.bfloat16
    results = []
    for cfg_file in sorted(Path(args.configs).glob("*.json")):
        data = json.loads(cfg_file.read_text())
        meta = data.pop("_augplan")
        model_type = data.pop("model_type")
        for k in ("transformers_version", "architectures", "_name_or_path"):
            data.pop(k, None)
        cfg = AutoConfig.for_model(model_type, **data)
        torch.manual_seed(0)
        t0 = time.perf_counter()
        with torch.device(dev):
            model = AutoModelForCausalLM.from_config(cfg, dtype=dtype)
        model.eval()
        load_s = time.perf_counter() - t0
        best = None
        for bs in [int(b) for b in args.batch_sizes.split(",")]:
            ids = torch.randint(10, cfg.vocab_size - 10, (bs, args.prompt_tokens), device=dev)
            mask = torch.ones_like(ids)
            gen_kw = {"attention_mask": mask, "max_new_tokens": args.gen_tokens,
                      "min_new_tokens": args.gen_tokens, "do_sample": False, "pad_token_id": 0}
            with torch.inference_mode():
                model.generate(ids, **gen_kw)  # warm-up
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                    torch.cuda.reset_peak_memory_stats()
                t0 = time.perf_counter()
                model(ids, attention_mask=mask)
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                prefill_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                model.generate(ids, **gen_kw)
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                total_s = time.perf_counter() - t0
            peak = torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else 0.0
            row = {
                "augmenter": meta["name"], "batch_size": bs, "load_s": round(load_s, 2),
                "prefill_s": prefill_s, "total_s": total_s,
                "prompt_tokens_per_s": bs * args.prompt_tokens / prefill_s,
                "gen_tokens_per_s": bs * args.gen_tokens / max(total_s - prefill_s, 1e-9),
                "queries_per_s": bs / total_s, "peak_gpu_mb": peak,
            }
            results.append(row)
            print(json.dumps({k: round(v, 2) if isinstance(v, float) else v
                              for k, v in row.items()}), flush=True)
            if best is None or row["queries_per_s"] > best["queries_per_s"]:
                best = row
        best["params"] = meta["params"]
        best["sha256"] = meta["sha256"]
        results.append({"best": best})
        del model
        if dev.type == "cuda":
            torch.cuda.empty_cache()

    slug = re.sub(r"[^a-z0-9]+", "-", gpu.lower()).strip("-")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    lines = [f"# Reference throughput profiles measured on {gpu} by bench/gpu/arch_profile.py",
             "# (transformers backend, bf16, architecture-equivalent models: random weights of",
             (f"# each augmenter's exact architecture; {args.prompt_tokens} prompt tokens and "
              f"{args.gen_tokens} generated tokens per query)."), ""]
    for r in results:
        if "best" not in r:
            continue
        b = r["best"]
        lines += [
            f'[augmenters."{b["augmenter"]}"]',
            f"queries_per_hour = {b['queries_per_s'] * 3600:.0f}",
            f'device = "{gpu}"',
            f"params = {b['params']}",
            'strategy = "inpars"',
            'backend = "transformers"',
            f"queries_per_s = {b['queries_per_s']:.2f}",
            f"prompt_tokens_per_s = {b['prompt_tokens_per_s']:.0f}",
            f"gen_tokens_per_s = {b['gen_tokens_per_s']:.0f}",
            f"peak_gpu_mb = {b['peak_gpu_mb']:.0f}",
            f'measured_at = "{now}"',
            (f'settings = {{ batch_size = {b["batch_size"]}, dtype = "bfloat16", '
             f'prompt_tokens = {args.prompt_tokens}, gen_tokens = {args.gen_tokens}, '
             f'method = "architecture-equivalent random weights" }}'),
            "",
        ]
    (out / f"profiles-{slug}.toml").write_text("\n".join(lines))
    (out / f"profiles-{slug}.json").write_text(json.dumps(results, indent=1))
    print(f"wrote {out / f'profiles-{slug}.toml'}")


if __name__ == "__main__":
    main()
