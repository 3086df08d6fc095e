"""Prompt strategies are data (``engine/prompts/*.toml``); this module loads and renders them.

A strategy has one or more *variants* (``query-types`` has four: keyword, question, claim, title).
Each variant has a completion form (a fixed ``prefix`` shared by every passage, then a per-passage
``item``) and may have a chat form (system message, few-shot turns, user template) that is
rendered with the model's own chat template. Either way the rendered prompt is ``prefix + item``
with the prefix identical for every passage, so backends evaluate it once.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from store.errors import AugplanError
from store.keys import canonical_json, sha256_text

_WS = re.compile(r"\s+")
_PREFIXES = re.compile(
    r"^(relevant\s+query|good\s+question|keyword\s+query|query|question|claim|title)\s*:\s*",
    re.IGNORECASE,
)
_SENTINEL = "\u0000DOCUMENT\u0000"
FORMS = ("completion", "chat")
#: the strategy used when none is named: vanilla InPars few-shot
DEFAULT_STRATEGY = "inpars"


def _words(text: str, limit: int) -> str:
    return " ".join(_WS.sub(" ", text.strip()).split(" ")[:limit])


@dataclass(frozen=True)
class PromptVariant:
    """One rendered prompt shape: ``prefix`` (shared) + ``item`` (holds ``{document}``)."""

    strategy: str
    name: str
    form: str
    prefix: str
    item: str
    stop: tuple[str, ...]
    max_passage_words: int
    version: int

    @property
    def hash(self) -> str:
        """Hash of everything that changes what the model sees or how its output is cut."""
        return sha256_text(
            canonical_json(
                {
                    "strategy": self.strategy,
                    "variant": self.name,
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
        return _words(joined, self.max_passage_words)

    def render(self, title: str, text: str) -> str:
        return self.prefix + self.item.replace("{document}", self.document(title, text))


@dataclass(frozen=True)
class PromptPlan:
    """A strategy resolved for one model (form, examples): what generation actually sends."""

    strategy: str
    form: str
    variants: tuple[PromptVariant, ...]
    max_tokens: int

    def variant_for(self, ordinal: int, idx: int) -> PromptVariant:
        """Variant of the idx-th query of the passage at ``ordinal``: types rotate over both."""
        return self.variants[(ordinal + idx) % len(self.variants)]

    @property
    def hash(self) -> str:
        return sha256_text(*(v.hash for v in self.variants))[:16]


@dataclass(frozen=True)
class Strategy:
    """A strategy file as loaded; ``resolve`` turns it into a ``PromptPlan`` for a model."""

    id: str
    version: int
    description: str
    needs_chat_template: bool
    prefer: str
    max_passage_words: int
    max_tokens: int
    needs_examples: bool = False
    max_examples: int = 8
    max_example_words: int = 70
    raw_variants: tuple[dict[str, Any], ...] = field(default=(), repr=False)

    @property
    def forms(self) -> tuple[str, ...]:
        has_chat = all("chat_user" in v for v in self.raw_variants)
        has_completion = all("prefix" in v and "item" in v for v in self.raw_variants)
        return tuple(f for f, ok in (("completion", has_completion), ("chat", has_chat)) if ok)

    def resolve(
        self,
        *,
        chat_template: str | None = None,
        eos_token: str = "",
        examples: Sequence[tuple[str, str]] | None = None,
        form: str | None = None,
    ) -> PromptPlan:
        """Pick the form (``form`` or the strategy's preference, chat only when the model has a
        chat template) and render every variant's shared prefix."""
        if self.needs_examples and not examples:
            raise AugplanError(
                f"strategy {self.id!r} needs example (query, passage) pairs",
                hint="pass --examples FILE.jsonl or --examples-split train (a split of the "
                "corpus' qrels); up to 8 are used",
            )
        if form is not None and form not in FORMS:
            raise AugplanError(f"--form {form!r}: use completion or chat")
        if form == "chat" and not chat_template:
            raise AugplanError(f"strategy {self.id!r}: the chat form needs a model with a chat "
                               "template", hint="use --form completion or an instruct model")
        if self.needs_chat_template and not chat_template:
            raise AugplanError(
                f"strategy {self.id!r} needs a chat template and this model has none",
                hint="completion-only models (e.g. gemma3-270m) can run inpars, inpars-gbq, "
                "promptagator or query-types",
            )
        chosen = form or self.prefer
        if chosen == "chat" and (not chat_template or "chat" not in self.forms):
            chosen = "completion"
        if chosen not in self.forms:
            raise AugplanError(f"strategy {self.id!r} has no {chosen} form")
        variants = tuple(
            self._variant(raw, chosen, chat_template, eos_token, examples or ())
            for raw in self.raw_variants
        )
        return PromptPlan(self.id, chosen, variants, self.max_tokens)

    def _variant(
        self,
        raw: dict[str, Any],
        form: str,
        chat_template: str | None,
        eos_token: str,
        examples: Sequence[tuple[str, str]],
    ) -> PromptVariant:
        stop = tuple(raw.get("stop", ["\n"]))
        if form == "completion":
            prefix = raw["prefix"]
            if "{examples}" in prefix:
                shots = "".join(
                    raw["example"]
                    .replace("{document}", _words(passage, self.max_example_words))
                    .replace("{query}", _WS.sub(" ", query.strip()))
                    for query, passage in list(examples)[: self.max_examples]
                )
                prefix = prefix.replace("{examples}", shots)
            item = raw["item"]
        else:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            messages = [{"role": "system", "content": raw["chat_system"]}]
            for doc, query in raw.get("chat_examples", []):
                messages.append({"role": "user", "content": raw["chat_user"].replace(
                    "{document}", doc)})
                messages.append({"role": "assistant", "content": query})
            messages.append({"role": "user", "content": raw["chat_user"].replace(
                "{document}", _SENTINEL)})
            rendered = Jinja2ChatFormatter(chat_template, eos_token=eos_token, bos_token="")(
                messages=messages
            ).prompt
            cut = rendered.index(_SENTINEL)
            prefix, item = rendered[:cut], "{document}" + rendered[cut + len(_SENTINEL):]
            stop = tuple(dict.fromkeys((*stop, *([eos_token] if eos_token else []))))
        return PromptVariant(self.id, raw.get("name", "query"), form, prefix, item, stop,
                             self.max_passage_words, self.version)

    # Single-variant completion strategies (inpars, inpars-gbq) read like one template.
    def _single(self) -> PromptVariant:
        return self.resolve(form="completion").variants[0]

    @property
    def prefix(self) -> str:
        return self._single().prefix

    @property
    def stop(self) -> tuple[str, ...]:
        return self._single().stop

    @property
    def hash(self) -> str:
        return self._single().hash

    def render(self, title: str, text: str) -> str:
        return self._single().render(title, text)


# Kept for readers of the single-template API.
PromptTemplate = Strategy


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
def load(strategy: str) -> Strategy:
    """Load a strategy by id; an unknown id is a user error that lists the known ones."""
    res = resources.files("engine") / "prompts" / f"{strategy}.toml"
    if not res.is_file():
        raise AugplanError(
            f"unknown strategy {strategy!r}", hint=f"known strategies: {', '.join(available())}"
        )
    where = f"prompts/{strategy}.toml"
    try:
        data = tomllib.loads(res.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise AugplanError(f"{where}: {exc}") from None
    try:
        variants = tuple(data["variants"])
        if not variants:
            raise AugplanError(f"{where}: no [[variants]]")
        out = Strategy(
            id=data["id"],
            version=int(data.get("version", 1)),
            description=data.get("description", ""),
            needs_chat_template=bool(data.get("needs_chat_template", False)),
            prefer=data.get("prefer", "completion"),
            max_passage_words=int(data.get("max_passage_words", 140)),
            max_tokens=int(data.get("max_tokens", 48)),
            needs_examples=bool(data.get("needs_examples", False)),
            max_examples=int(data.get("max_examples", 8)),
            max_example_words=int(data.get("max_example_words", 70)),
            raw_variants=variants,
        )
    except KeyError as exc:
        raise AugplanError(f"{where}: missing field {exc.args[0]!r}") from None
    if not out.forms:
        raise AugplanError(f"{where}: every variant needs prefix+item or chat_user")
    return out
