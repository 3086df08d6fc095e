"""Prompt strategies are data (``engine/prompts/*.toml``); this module loads and renders them."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from store.errors import AugplanError
from store.keys import canonical_json, sha256_text

_WS = re.compile(r"\s+")
_PREFIXES = re.compile(r"^(relevant\s+query|query|question)\s*:\s*", re.IGNORECASE)


@dataclass(frozen=True)
class PromptTemplate:
    """One generation strategy: a fixed prefix shared by every call plus a per-passage item."""

    id: str
    version: int
    description: str
    prefix: str
    item: str
    stop: tuple[str, ...]
    max_passage_words: int
    max_tokens: int
    needs_chat_template: bool

    @property
    def hash(self) -> str:
        """Hash of everything that changes what the model sees or how its output is cut."""
        return sha256_text(
            canonical_json(
                {
                    "prefix": self.prefix,
                    "item": self.item,
                    "stop": list(self.stop),
                    "max_passage_words": self.max_passage_words,
                    "version": self.version,
                }
            )
        )[:16]

    def document(self, title: str, text: str) -> str:
        """The passage as shown to the model: title and text, whitespace-collapsed, word-capped."""
        joined = f"{title.strip()}. {text.strip()}" if title.strip() else text.strip()
        words = _WS.sub(" ", joined).split(" ")
        return " ".join(words[: self.max_passage_words])

    def render(self, title: str, text: str) -> str:
        return self.prefix + self.item.format(document=self.document(title, text))


def parse_query(raw: str) -> str:
    """Light parsing of a completion: first line, no label, no quotes, collapsed whitespace."""
    line = raw.strip().split("\n", 1)[0].strip()
    line = _PREFIXES.sub("", line)
    line = line.strip().strip('"').strip("'").strip("`").strip()
    return _WS.sub(" ", line)


def available() -> list[str]:
    root = resources.files("engine") / "prompts"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))


@cache
def load(strategy: str) -> PromptTemplate:
    """Load a strategy by id; an unknown id is a user error that lists the known ones."""
    res = resources.files("engine") / "prompts" / f"{strategy}.toml"
    if not res.is_file():
        raise AugplanError(
            f"unknown strategy {strategy!r}", hint=f"known strategies: {', '.join(available())}"
        )
    data = tomllib.loads(res.read_text(encoding="utf-8"))
    try:
        return PromptTemplate(
            id=data["id"],
            version=int(data.get("version", 1)),
            description=data.get("description", ""),
            prefix=data["prefix"],
            item=data["item"],
            stop=tuple(data.get("stop", ["\n"])),
            max_passage_words=int(data.get("max_passage_words", 180)),
            max_tokens=int(data.get("max_tokens", 48)),
            needs_chat_template=bool(data.get("needs_chat_template", False)),
        )
    except KeyError as exc:
        raise AugplanError(f"prompts/{strategy}.toml: missing field {exc.args[0]!r}") from None
