"""Benchmark: MiniLM encoding of SciFact abstracts in float32, under bf16 autocast, and with
bf16 weights, on this CPU (seconds, speed ratio against float32, largest embedding difference).

The evidence behind the bf16 rule of ``engine/device.py`` (what ``--precision auto`` picks for
pilots, evaluation and passage encoding on the CPU): bf16 only where it is faster, decided per
machine by a cached calibration; on AVX512-BF16 alone it was slower (11.0 s against 7.6 s in
float32), with AMX tiles faster.

    .venv/bin/python bench/precision.py [--texts 256] [--data-dir DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    import torch
    from sentence_transformers import SentenceTransformer

    from engine import catalogue
    from engine.device import bf16_faster, calibrate_cpu, cpu_flags, device_name

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--texts", type=int, default=256)
    ap.add_argument("--data-dir", type=Path,
                    default=Path(os.environ.get("AUGPLAN_DATA_DIR", "../shared/data")))
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    with (args.data_dir / "scifact" / "corpus.jsonl").open(encoding="utf-8") as fh:
        docs = [json.loads(line) for _, line in zip(range(args.texts), fh, strict=False)]
    texts = [f"{d.get('title', '')} {d['text']}".strip() for d in docs]
    model = SentenceTransformer(str(catalogue.verify("minilm-l6", None)), device="cpu")
    model.max_seq_length = 256

    def encode() -> tuple[np.ndarray, float]:
        t0 = time.perf_counter()
        with torch.inference_mode():
            v = model.encode(texts, batch_size=32, normalize_embeddings=True,
                             convert_to_numpy=True)
        return np.asarray(v, dtype=np.float32), time.perf_counter() - t0

    encode()  # warm-up
    ref, t32 = encode()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        auto, t_auto = encode()
    model.to(torch.bfloat16)
    cast, t_cast = encode()
    result = {
        "device": device_name(), "threads": torch.get_num_threads(), "texts": len(texts),
        "auto_picks_bf16": bf16_faster("cpu"), "calibration": calibrate_cpu(),
        "amx": sorted(f for f in cpu_flags() if f.startswith("amx")),
        "avx512_bf16": "avx512_bf16" in cpu_flags(),
        "fp32_s": round(t32, 2),
        "autocast_bf16_s": round(t_auto, 2), "autocast_ratio": round(t32 / t_auto, 3),
        "autocast_max_abs_diff": float(np.abs(auto - ref).max()),
        "bf16_weights_s": round(t_cast, 2), "bf16_weights_ratio": round(t32 / t_cast, 3),
        "bf16_weights_max_abs_diff": float(np.abs(cast - ref).max()),
    }
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
