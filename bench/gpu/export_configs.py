"""Write the transformers config of every catalogue augmenter (read from its GGUF header) to
bench/gpu/configs/NAME.json, so that a GPU machine without the weight files can build models of
exactly the same architecture for throughput profiles (bench/gpu/arch_profile.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from engine import catalogue


def main() -> None:
    from transformers import AutoConfig

    out = Path(__file__).parent / "configs"
    out.mkdir(exist_ok=True)
    for name, entry in catalogue.catalogue().items():
        if entry.kind != "augmenter":
            continue
        path = catalogue.verify(name)
        cfg = AutoConfig.from_pretrained(path.parent, gguf_file=path.name)
        data = cfg.to_dict()
        data["_name_or_path"] = name  # not the folder of this machine
        data["_augplan"] = {"name": name, "params": entry.params, "sha256": entry.sha256}
        (out / f"{name}.json").write_text(json.dumps(data, indent=1, default=str))
        print(name, cfg.model_type, cfg.num_hidden_layers, cfg.hidden_size, cfg.vocab_size)


if __name__ == "__main__":
    main()
