"""Strategies as data: every strategy renders in each form it declares, with a shared prefix."""

from __future__ import annotations

import pytest

from engine import catalogue, prompts
from engine.generate import GenerateRequest, _chat_info, resolve_plan
from store.errors import AugplanError

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content']"
    " + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
EXAMPLES = (("does x cause y", "X is known to cause Y in mice."), ("what is z", "Z is a protein."))


def test_all_strategies_listed() -> None:
    assert set(prompts.available()) >= {"inpars", "inpars-gbq", "promptagator", "query-types"}


@pytest.mark.parametrize("name", ["inpars", "inpars-gbq", "promptagator", "query-types"])
def test_completion_form_renders_with_shared_prefix(name: str) -> None:
    plan = prompts.load(name).resolve(examples=EXAMPLES, form="completion")
    assert plan.form == "completion"
    for v in plan.variants:
        a, b = v.render("Title A", "first passage text"), v.render("", "second one")
        assert a.startswith(v.prefix) and b.startswith(v.prefix)
        assert "first passage text" in a and "second one" in b
        assert "{document}" not in a and "{examples}" not in a
        assert v.stop and "\n" in v.stop


def test_query_types_chat_form_uses_the_model_template() -> None:
    plan = prompts.load("query-types").resolve(chat_template=CHATML, eos_token="<|im_end|>")
    assert plan.form == "chat"
    assert [v.name for v in plan.variants] == ["keywords", "question", "claim", "title"]
    text = plan.variants[1].render("T", "body")
    assert text.endswith("Document: T. body<|im_end|>\n<|im_start|>assistant\n")
    assert text.count("<|im_start|>user") == 3  # two few-shot turns + the passage
    assert "<|im_end|>" in plan.variants[1].stop
    # variants rotate over passages and indices, so one query per passage mixes the types
    assert {plan.variant_for(o, 0).name for o in range(4)} == {v.name for v in plan.variants}
    assert {plan.variant_for(7, i).name for i in range(4)} == {v.name for v in plan.variants}


def test_chat_preference_falls_back_to_completion_without_template() -> None:
    plan = prompts.load("query-types").resolve(chat_template=None)
    assert plan.form == "completion"
    with pytest.raises(AugplanError, match="chat template"):
        prompts.load("query-types").resolve(chat_template=None, form="chat")


def test_promptagator_needs_examples_and_hashes_them() -> None:
    with pytest.raises(AugplanError, match="example"):
        prompts.load("promptagator").resolve()
    a = prompts.load("promptagator").resolve(examples=EXAMPLES)
    b = prompts.load("promptagator").resolve(examples=EXAMPLES[:1])
    assert "Query: does x cause y" in a.variants[0].prefix
    assert a.variants[0].hash != b.variants[0].hash


def test_prompt_hash_changes_with_content() -> None:
    hashes = {prompts.load(n).resolve(examples=EXAMPLES, form="completion").variants[0].hash
              for n in prompts.available()}
    assert len(hashes) == len(prompts.available())


def test_unknown_strategy_lists_known() -> None:
    with pytest.raises(AugplanError, match="inpars"):
        prompts.load("no-such-strategy")


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        (" how do bees dance\nExample 5:", "how do bees dance"),
        ('Relevant Query: "vitamin d and bones"', "vitamin d and bones"),
        ("Question:   why   is the sky blue?  ", "why is the sky blue?"),
        ("", ""),
    ],
)
def test_parse_query(raw: str, parsed: str) -> None:
    assert prompts.parse_query(raw) == parsed


def test_completion_only_model_gets_completion_form(models_dir) -> None:
    gemma = catalogue.get_entry("gemma3-270m")
    assert gemma.completion_only and not gemma.chat_template
    smol = catalogue.get_entry("smollm2-135m")
    path = catalogue.verify("smollm2-135m", models_dir)
    template, eos = _chat_info(str(path))
    assert template and eos == "<|im_end|>"
    plan, model_id = resolve_plan(
        GenerateRequest(corpus="c", augmenter="smollm2-135m", strategy="query-types"), models_dir
    )
    assert plan.form == "chat" and model_id == smol.sha256


def test_gemma_base_is_completion_only_even_for_chat_strategies(tmp_path) -> None:
    plan, _ = resolve_plan(
        GenerateRequest(corpus="c", augmenter="gemma3-270m", strategy="query-types"), tmp_path
    )
    assert plan.form == "completion"
    with pytest.raises(AugplanError, match="chat"):
        resolve_plan(GenerateRequest(corpus="c", augmenter="gemma3-270m", strategy="query-types",
                                     form="chat"), tmp_path)
