"""Benchmark: would ONNX Runtime make a pilot point's evaluation cheaper on this CPU?

Encodes the same SciFact passages with MiniLM three ways, measured in one run: sentence-
transformers on torch (what evaluation uses), the same weights exported to ONNX and run by
ONNX Runtime in float32, and that graph with dynamic int8 weights. Reports seconds, the ratio
against torch, and how far the embeddings move (largest absolute difference, lowest cosine).
A trained pilot model would be exported once per point; the export's seconds are reported too.

onnxruntime is not a dependency of augplan; install it into the venv to run this
(``.venv/bin/pip install onnxruntime onnx``).

    .venv/bin/python bench/onnx_encode.py [--texts 256] [--out bench/results/onnx-encode.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FEEDS = ("input_ids", "attention_mask", "token_type_ids")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--texts", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--data-dir", type=Path, default=Path(os.environ.get(
        "AUGPLAN_DATA_DIR", str(ROOT.parent / "shared" / "data"))))
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    try:
        import onnxruntime as ort
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        sys.exit("onnxruntime is not installed: .venv/bin/pip install onnxruntime onnx")
    import torch

    from engine import retrievers
    from engine.device import cpu_flags, device_name

    with (args.data_dir / "scifact" / "corpus.jsonl").open(encoding="utf-8") as fh:
        docs = [json.loads(line) for _, line in zip(range(args.texts), fh, strict=False)]
    texts = [f"{d.get('title', '')} {d['text']}".strip() for d in docs]
    model = retrievers.load("minilm-l6")
    model.eval()

    def torch_encode() -> np.ndarray:
        with torch.inference_mode():
            return np.asarray(model.encode(texts, batch_size=args.batch_size,
                                           normalize_embeddings=True, show_progress_bar=False))

    class Encoder(torch.nn.Module):  # the transformer's last hidden state, positional inputs
        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, ids: torch.Tensor, mask: torch.Tensor,
                    types: torch.Tensor) -> torch.Tensor:
            return self.bert(input_ids=ids, attention_mask=mask,
                             token_type_ids=types).last_hidden_state

    tmp = Path(tempfile.mkdtemp(prefix="augplan-onnx-"))
    sample = model.tokenize(texts[:4])
    t0 = time.perf_counter()
    torch.onnx.export(Encoder(model[0].auto_model), tuple(sample[k] for k in FEEDS),
                      str(tmp / "fp32.onnx"), input_names=list(FEEDS), output_names=["hidden"],
                      dynamic_axes={k: {0: "batch", 1: "tokens"} for k in (*FEEDS, "hidden")},
                      opset_version=17, dynamo=False)
    export_s = time.perf_counter() - t0
    quantize_dynamic(str(tmp / "fp32.onnx"), str(tmp / "int8.onnx"),
                     weight_type=QuantType.QInt8, reduce_range=True)

    def onnx_encode(session: ort.InferenceSession) -> np.ndarray:
        out = np.zeros((len(texts), 384), np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")  # as sentence-transformers
        for start in range(0, len(texts), args.batch_size):
            idx = order[start:start + args.batch_size]
            feats = model.tokenize([texts[i] for i in idx])
            hidden = session.run(None, {k: feats[k].numpy() for k in FEEDS})[0]
            mask = feats["attention_mask"].numpy()[..., None].astype(np.float32)
            vecs = (hidden * mask).sum(1) / mask.sum(1)
            out[idx] = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
        return out

    def timed(fn, *a) -> tuple[np.ndarray, float]:
        fn(*a)  # warm-up
        t = time.perf_counter()
        v = fn(*a)
        return v, time.perf_counter() - t

    ref, torch_s = timed(torch_encode)
    result = {"device": device_name(), "threads": torch.get_num_threads(),
              "avx512": sorted(f for f in cpu_flags() if f.startswith(("avx512", "amx"))),
              "texts": len(texts), "torch_s": round(torch_s, 2), "export_s": round(export_s, 2)}
    for name in ("fp32", "int8"):
        so = ort.SessionOptions()
        so.intra_op_num_threads = torch.get_num_threads()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(str(tmp / f"{name}.onnx"), so,
                                       providers=["CPUExecutionProvider"])
        vecs, seconds = timed(onnx_encode, session)
        result[f"onnx_{name}_s"] = round(seconds, 2)
        result[f"onnx_{name}_speedup"] = round(torch_s / seconds, 3)
        result[f"onnx_{name}_max_abs_diff"] = float(np.abs(vecs - ref).max())
        result[f"onnx_{name}_min_cosine"] = float((vecs * ref).sum(1).min())
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
