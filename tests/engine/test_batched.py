"""The batched llama.cpp backend against the sequential one: SmolLM2-135M, InPars prompts for the
first 24 SciFact passages. One sequential and one batched greedy run are shared by the module."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import catalogue, prompts
from engine.backends.llamacpp import LlamaCppBackend
from engine.backends.llamacpp_batched import BatchedCompletion, LlamaCppBatchedBackend
from engine.datasets import locate
from store import corpus as corpus_io

SMOL = "smollm2-135m"
N = 24
GREEDY = {"max_tokens": 48, "temperature": 0.0, "top_p": 1.0, "top_k": 1, "stop": ["\n"]}
SAMPLED = {"max_tokens": 48, "temperature": 0.8, "top_p": 0.95, "top_k": 40, "stop": ["\n"]}


@pytest.fixture(scope="module")
def template() -> prompts.PromptTemplate:
    return prompts.load("inpars")


@pytest.fixture(scope="module")
def rendered(data_dir: Path, template: prompts.PromptTemplate) -> list[str]:
    files = corpus_io.detect(locate("scifact", data_dir))
    rows = next(corpus_io.iter_passages(files, batch_size=N)).to_pylist()[:N]
    return [template.render(r["title"], r["text"]) for r in rows]


@pytest.fixture(scope="module")
def model_path(models_dir: Path) -> Path:
    return catalogue.verify(SMOL, models_dir)


@pytest.fixture(scope="module")
def batched(model_path: Path):
    backend = LlamaCppBatchedBackend(model_path, n_parallel=8)
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def greedy_batched(
    batched: LlamaCppBatchedBackend, rendered: list[str], template: prompts.PromptTemplate
) -> list[BatchedCompletion]:
    return batched.complete_many(rendered, prefix=template.prefix, seeds=[0] * N, **GREEDY)


@pytest.fixture(scope="module")
def greedy_sequential(model_path: Path, rendered: list[str]) -> list:
    backend = LlamaCppBackend(model_path)
    try:
        return [backend.complete(p, seed=0, **GREEDY) for p in rendered]
    finally:
        backend.close()


def test_greedy_matches_sequential(greedy_batched, greedy_sequential) -> None:
    same = sum(a["text"] == b["text"] for a, b in zip(greedy_batched, greedy_sequential,
                                                      strict=True))
    print(f"\ngreedy agreement with the sequential backend: {same}/{N} = {same / N:.1%}")
    assert same / N >= 0.95
    assert all(a["text"] for a in greedy_batched)
    assert all("\n" not in a["text"] for a in greedy_batched)


def test_token_counts_match_sequential(greedy_batched, greedy_sequential) -> None:
    for a, b in zip(greedy_batched, greedy_sequential, strict=True):
        assert a["prompt_tokens"] == b["prompt_tokens"]
        if a["text"] == b["text"]:
            assert a["gen_tokens"] == b["gen_tokens"]
        assert 0 < a["gen_tokens"] <= GREEDY["max_tokens"]
        assert a["seconds"] > 0


def test_prefix_is_evaluated_once(
    batched: LlamaCppBatchedBackend, greedy_batched, template: prompts.PromptTemplate
) -> None:
    prefix_tokens = len(batched.llm.tokenize(template.prefix.encode(), add_bos=False,
                                             special=True))
    first, rest = greedy_batched[0], greedy_batched[1:]
    # The first prompt paid for the prefix and its own suffix.
    assert first["evaluated_tokens"] >= prefix_tokens
    for c in rest:
        assert c["evaluated_tokens"] < c["prompt_tokens"] - prefix_tokens + 2
        assert c["evaluated_tokens"] > 0
    # A second call with the same prefix pays for suffixes only, the first prompt included.
    again = batched.complete_many([template.render("T", "A short text.")],
                                  prefix=template.prefix, seeds=[0], **GREEDY)
    assert again[0]["evaluated_tokens"] < again[0]["prompt_tokens"] - prefix_tokens + 2


def test_sampling_is_seeded(
    batched: LlamaCppBatchedBackend, rendered: list[str], template: prompts.PromptTemplate
) -> None:
    some = rendered[:8]
    seeds = list(range(100, 108))
    one = batched.complete_many(some, prefix=template.prefix, seeds=seeds, **SAMPLED)
    two = batched.complete_many(some, prefix=template.prefix, seeds=seeds, **SAMPLED)
    other = batched.complete_many(some, prefix=template.prefix,
                                  seeds=[s + 1000 for s in seeds], **SAMPLED)
    assert [c["text"] for c in one] == [c["text"] for c in two]
    differ = sum(a["text"] != b["text"] for a, b in zip(one, other, strict=True))
    print(f"\nsampled outputs that change with the seed: {differ}/{len(some)}")
    assert differ > len(some) // 2


def test_sampled_row_does_not_depend_on_its_batch(
    batched: LlamaCppBatchedBackend, rendered: list[str], template: prompts.PromptTemplate
) -> None:
    """A sampled row's text depends on its own prompt, params and seed only: each sequence has
    its own sampler, seeded with its seed, and its own KV stream, so its batch-mates, its slot and
    when it gets one do not change it."""
    row, seed = rendered[5], 4321
    alone = batched.complete_many([row], prefix=template.prefix, seeds=[seed], **SAMPLED)[0]
    assert alone["gen_tokens"] > 0
    mixed = batched.complete_many([rendered[9], rendered[2], row], prefix=template.prefix,
                                  seeds=[1, 2, seed], **SAMPLED)
    assert mixed[2]["text"] == alone["text"]
    # More prompts than slots: the row, last, waits for a slot that another row has used.
    crowd = rendered[10:18] + [row]
    assert len(crowd) > batched.n_parallel
    waited = batched.complete_many(crowd, prefix=template.prefix,
                                   seeds=list(range(50, 58)) + [seed], **SAMPLED)
    assert waited[-1]["text"] == alone["text"]
    twice = batched.complete_many([row, row], prefix=template.prefix, seeds=[seed, seed + 1],
                                  **SAMPLED)
    assert twice[0]["text"] == alone["text"]


def test_queries_of_one_passage_fork_from_one_decode(
    batched: LlamaCppBatchedBackend, rendered: list[str], template: prompts.PromptTemplate
) -> None:
    """K queries of one passage (equal prompts, each with its own seed) decode the prompt once
    and fork: each row is the row its seed gives alone, and only the first of each passage
    pays for its tokens. With more twins than slots the rest take their siblings' slots over
    as these finish, still from the one decode."""
    k, passages = 3, rendered[:4]
    prompts_k = [p for p in passages for _ in range(k)]
    seeds = [7000 + i for i in range(len(prompts_k))]
    forked = batched.complete_many(prompts_k, prefix=template.prefix, seeds=seeds, **SAMPLED)
    batched.fork = False
    try:
        each = batched.complete_many(prompts_k, prefix=template.prefix, seeds=seeds, **SAMPLED)
    finally:
        batched.fork = True
    assert [c["text"] for c in forked] == [c["text"] for c in each]
    for j in (0, 4, 11):  # a row sampled alone, one prompt per call
        alone = batched.complete_many([prompts_k[j]], prefix=template.prefix,
                                      seeds=[seeds[j]], **SAMPLED)[0]
        assert alone["text"] == forked[j]["text"]
    assert len({c["text"] for c in forked}) > len(passages)  # the seeds differ, so do rows
    paid = [c["evaluated_tokens"] for c in forked]
    assert all(paid[i] > 0 for i in range(0, len(paid), k))
    assert all(paid[i] == 0 for i in range(len(paid)) if i % k)
    assert sum(paid) < sum(c["evaluated_tokens"] for c in each) / 2
    # twelve twins, eight slots: all from one decode; the last four wait for a sibling's slot
    many = batched.complete_many([passages[0]] * 12 + [passages[1]], prefix=template.prefix,
                                 seeds=list(range(13)), **SAMPLED)
    assert [c["evaluated_tokens"] > 0 for c in many] == [True] + [False] * 11 + [True]
    for j in (7, 8, 11):
        alone = batched.complete_many([passages[0]], prefix=template.prefix, seeds=[j],
                                      **SAMPLED)[0]
        assert many[j]["text"] == alone["text"]
    assert many[12]["text"] == batched.complete_many([passages[1]], prefix=template.prefix,
                                                     seeds=[12], **SAMPLED)[0]["text"]


def test_single_complete_without_prefix(
    batched: LlamaCppBatchedBackend, rendered: list[str], greedy_sequential
) -> None:
    one = batched.complete(rendered[0], seed=0, **GREEDY)
    assert one["prompt_tokens"] == greedy_sequential[0]["prompt_tokens"]
    assert one["evaluated_tokens"] == one["prompt_tokens"]  # no prefix given: all of it
    # Alone in the batch, the sequence is decoded exactly as by the sequential backend.
    assert one["text"] == greedy_sequential[0]["text"]


def test_prompt_without_the_prefix_is_refused(
    batched: LlamaCppBatchedBackend, rendered: list[str], template: prompts.PromptTemplate
) -> None:
    with pytest.raises(ValueError, match="prefix"):
        batched.complete_many([rendered[0], "Something else entirely."],
                              prefix=template.prefix, seeds=[0, 0], **GREEDY)
    with pytest.raises(ValueError, match="seeds"):
        batched.complete_many(rendered[:2], prefix=template.prefix, seeds=[0], **GREEDY)
    assert batched.complete_many([], prefix=template.prefix, seeds=[], **GREEDY) == []


def test_k_quant_model_matches_sequential(
    gemma: Path, rendered: list[str], template: prompts.PromptTemplate
) -> None:
    """Gemma 3 270M is a Q4_K_M file: with repacked weights its greedy outputs changed with the
    decode grouping; both backends load the file layout, so they agree."""
    path = gemma
    some = rendered[:8]
    seq = LlamaCppBackend(path, n_batch=128)
    try:
        expected = [seq.complete(p, seed=0, **GREEDY)["text"] for p in some]
    finally:
        seq.close()
    bat = LlamaCppBatchedBackend(path, n_parallel=8, n_batch=256)
    try:
        got = [c["text"] for c in bat.complete_many(some, prefix=template.prefix,
                                                     seeds=[0] * len(some), **GREEDY)]
    finally:
        bat.close()
    same = sum(a == b for a, b in zip(got, expected, strict=True))
    print(f"\ngemma3-270m greedy agreement: {same}/{len(some)}")
    assert same / len(some) >= 0.95
