"""Generation backends beyond the in-process llama.cpp one: transformers on a GGUF file (CPU), an
OpenAI-compatible HTTP server (llama-cpp-python's own, started here), and the factory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from engine import prompts
from engine.backends import BACKENDS, make_backend
from engine.backends.http_backend import OpenAIHTTPBackend
from store import AugplanError

SMOL = "smollm2-135m"
PASSAGES = [
    ("Vitamin D", "Vitamin D deficiency goes with more respiratory infections in adults."),
    ("", "Mitochondria produce most of the cell's ATP through oxidative phosphorylation."),
    ("CRISPR", "CRISPR-Cas9 allows targeted editing of genomes in many organisms."),
]
SERVER_START_S = 90


@pytest.fixture(scope="module")
def smol_path(smollm2: Path) -> Path:
    return smollm2


@pytest.fixture(scope="module")
def inpars_prompts() -> tuple[list[str], str, tuple[str, ...]]:
    variant = prompts.load("inpars").resolve(form="completion").variants[0]
    return [variant.render(t, x) for t, x in PASSAGES], variant.prefix, variant.stop


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _check(outs: list, n: int) -> None:
    assert len(outs) == n
    for o in outs:
        assert o["text"].strip(), o
        assert "\n" not in o["text"]
        assert o["prompt_tokens"] > 100 and o["gen_tokens"] > 0 and o["seconds"] > 0


# ------------------------------------------------------------------------------ transformers


@pytest.fixture(scope="module")
def transformers_smol(smol_path: Path):
    """SmolLM2-135M through the transformers backend on the CPU, loaded once (tests set
    ``batch_size`` as they need)."""
    from engine.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(smol_path, device="cpu", batch_size=2)
    yield backend
    backend.close()


def test_transformers_backend_greedy_on_gguf(transformers_smol, inpars_prompts) -> None:
    texts, prefix, stop = inpars_prompts
    backend = transformers_smol
    backend.batch_size = 2
    assert backend.device.type == "cpu" and backend.device_name
    assert backend.chat_template and backend.eos_token
    outs = backend.complete_many(texts, prefix=prefix, max_tokens=24, temperature=0.0,
                                 top_p=1.0, top_k=1, seeds=[0, 1, 2], stop=stop)
    _check(outs, 3)
    assert all(o["gen_tokens"] <= 24 for o in outs)
    one = backend.complete(texts[2], max_tokens=24, temperature=0.0, top_p=1.0, top_k=1,
                           seed=0, stop=stop)
    assert one["text"].strip() and one["gen_tokens"] > 0


#: Sampling as ``--per-passage K`` does (short prompts and outputs: the CPU is slow).
SAMPLED = {"max_tokens": 16, "temperature": 0.8, "top_p": 0.95, "top_k": 40}


def test_transformers_sampling_is_per_row(transformers_smol) -> None:
    """A sampled row's text depends on its prompt, params and seed only: not on its batch-mates,
    its place in the batch, or how rows are split into batches."""
    backend = transformers_smol
    short = [f"Passage: {text}\nA question about it:" for _, text in PASSAGES]
    row, seed = short[1], 1234  # the longest prompt: not first in its length-sorted batch
    backend.batch_size = 4
    alone = backend.complete(row, seed=seed, stop=(), **SAMPLED)
    assert alone["text"].strip() and alone["gen_tokens"] == SAMPLED["max_tokens"]
    mixed = backend.complete_many([short[2], short[0], row], seeds=[7, 99, seed], stop=(),
                                  **SAMPLED)
    assert mixed[2]["text"] == alone["text"]
    # Same prompt twice in one batch: the first row is the lone row, the other seed differs.
    twice = backend.complete_many([row, row], seeds=[seed, seed + 1], stop=(), **SAMPLED)
    assert twice[0]["text"] == alone["text"] != twice[1]["text"]
    # Another split into batches (the row now shares one with the longer prompt, first in it),
    # and a stop string that ends rows early: the row's text is the lone text up to the stop.
    longer = f"Passage: {PASSAGES[0][1]} {PASSAGES[2][1]}\nA question about it:"
    backend.batch_size = 2
    split = backend.complete_many([short[0], row, short[2], longer], seeds=[5, seed, 6, 8],
                                  stop=["?"], **SAMPLED)
    assert split[1]["text"] == alone["text"].split("?")[0]


def test_transformers_twins_share_one_prefill(transformers_smol, inpars_prompts) -> None:
    """The K queries of a passage (equal prompts, their own seeds) prefill the prompt once and
    copy its KV cache: each row equals the row prefilled on its own, and the row its seed gives
    alone; only the first twin pays for the prompt's tokens. A group larger than a batch is
    cut, each piece with its one prefill."""
    texts, _, stop = inpars_prompts
    backend = transformers_smol
    backend.batch_size = 6
    k = 3
    rows = [t for t in texts[:2] for _ in range(k)]
    seeds = [4000 + i for i in range(len(rows))]
    forked = backend.complete_many(rows, seeds=seeds, stop=stop, **SAMPLED)
    backend.fork = False
    try:
        each = backend.complete_many(rows, seeds=seeds, stop=stop, **SAMPLED)
    finally:
        backend.fork = True
    assert [c["text"] for c in forked] == [c["text"] for c in each]
    assert len({c["text"] for c in forked}) > 2  # the seeds differ, so do rows
    paid = [c["evaluated_tokens"] for c in forked]
    assert paid == [forked[0]["prompt_tokens"], 0, 0, forked[3]["prompt_tokens"], 0, 0]
    assert all(c["evaluated_tokens"] == c["prompt_tokens"] > 100 for c in each)
    alone = backend.complete(rows[4], seed=seeds[4], stop=stop, **SAMPLED)
    assert alone["text"] == forked[4]["text"]
    backend.batch_size = 2  # three twins, two rows a batch: a group of 2, then one of 1
    cut = backend.complete_many(rows[:3], seeds=seeds[:3], stop=stop, **SAMPLED)
    assert [c["text"] for c in cut] == [c["text"] for c in forked[:3]]
    assert [c["evaluated_tokens"] > 0 for c in cut] == [True, False, True]


def test_row_sampler_is_row_wise() -> None:
    """The sampling step alone: a row's tokens are the same whatever rows share its batch, the
    top-k/top-p cuts hold, and a tiny top-p or top_k=1 is the arg-max."""
    import torch

    from engine.backends._rows import RowSampler

    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(5, 300, generator=gen) * 3
    steps, prompt_len = 6, 10

    def tokens(rows: list[int], seeds: list[int], **params: float) -> list[list[int]]:
        sampler = RowSampler(seeds, prompt_len=prompt_len, steps=steps, device="cpu",
                              **{"temperature": 0.9, "top_p": 0.9, "top_k": 50, **params})
        out = []
        for step in range(steps):
            ids = torch.zeros(len(rows), prompt_len + step, dtype=torch.long)
            masked = sampler(ids, scores[rows] * (1 + step / 10))
            assert torch.isfinite(masked).sum(dim=1).tolist() == [1] * len(rows)
            out.append(masked.argmax(dim=1).tolist())
        return [list(col) for col in zip(*out, strict=True)]

    alone = tokens([2], [42])[0]
    assert tokens([0, 2, 4], [1, 42, 3])[1] == alone
    assert tokens([2, 1], [42, 5])[0] == alone
    assert tokens([4, 3, 2], [42, 42, 42])[2] == alone
    top50 = set(torch.topk(scores[2], 50).indices.tolist())
    assert set(alone) <= top50
    argmax = int(scores[2].argmax())
    assert tokens([2], [9], top_p=1e-6)[0] == [argmax] * steps
    assert tokens([2], [9], top_k=1, top_p=1.0)[0] == [argmax] * steps
    assert len({tuple(tokens([2], [s], top_k=0, top_p=1.0)[0]) for s in range(4)}) > 1


def test_transformers_backend_rejects_missing_file(tmp_path: Path) -> None:
    from engine.backends.transformers_backend import TransformersBackend

    with pytest.raises(AugplanError, match="does not exist"):
        TransformersBackend(tmp_path / "absent.gguf", device="cpu")


# ------------------------------------------------------------------------------ http


@pytest.fixture(scope="module")
def server(smol_path: Path, tmp_path_factory: pytest.TempPathFactory):
    """``python -m llama_cpp.server`` on a free local port, one thread; yields its base URL."""
    import llama_cpp.server  # noqa: F401 - the test extras install it
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(smol_path), "--host",
           "127.0.0.1", "--port", str(port), "--n_threads", "1", "--n_ctx", "2048"]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the server exited ({proc.returncode}): {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not answer in {SERVER_START_S} s: "
                            f"{log.read_text()[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_http_backend_greedy(server: str, inpars_prompts) -> None:
    texts, prefix, stop = inpars_prompts
    backend = OpenAIHTTPBackend(server + "/v1/", SMOL, concurrency=2)
    try:
        assert backend.url == f"{server}/v1/completions"
        outs = backend.complete_many(texts, prefix=prefix, max_tokens=24, temperature=0.0,
                                     top_p=1.0, top_k=1, seeds=[0, 1, 2], stop=stop)
        _check(outs, 3)
        again = backend.complete(texts[0], max_tokens=24, temperature=0.0, top_p=1.0, top_k=1,
                                 seed=0, stop=stop)
        assert again["text"] == outs[0]["text"]  # greedy: the same text, in order
    finally:
        backend.close()


def test_http_backend_error_status_names_url_and_status(server: str) -> None:
    backend = OpenAIHTTPBackend(server, SMOL)
    try:
        with pytest.raises(AugplanError, match=r"/completions answered HTTP \d{3}: .*max_tokens"):
            backend.complete("x", max_tokens=-5, temperature=0.0, top_p=1.0, top_k=1, seed=0,
                             stop=[])
    finally:
        backend.close()


def test_http_backend_unreachable_server() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    backend = OpenAIHTTPBackend(url, SMOL, timeout=5)
    try:
        with pytest.raises(AugplanError, match="cannot reach") as info:
            backend.complete_many(["a", "b"], max_tokens=4, temperature=0.0, seeds=[0, 0])
        assert url in str(info.value)
    finally:
        backend.close()


def test_http_backend_rejects_a_bad_url() -> None:
    with pytest.raises(AugplanError, match="http:// or https://"):
        OpenAIHTTPBackend("localhost:8080", SMOL)


# ------------------------------------------------------------------------------ factory


def test_factory_kinds(smol_path: Path, models_dir: Path) -> None:
    from engine.backends.llamacpp import LlamaCppBackend
    from engine.backends.llamacpp_batched import LlamaCppBatchedBackend

    assert {"llama.cpp", "llama.cpp-sequential", "transformers", "http"} <= set(BACKENDS)
    with pytest.raises(AugplanError, match="unknown backend.*llama.cpp"):
        make_backend("vllm-in-process", SMOL)
    with pytest.raises(AugplanError, match="--base-url"):
        make_backend("http", SMOL)
    with pytest.raises(AugplanError, match="not an augmenter"):
        make_backend("llama.cpp", "minilm-l6", models_dir=models_dir)
    http = make_backend("http", SMOL, base_url="http://127.0.0.1:1", concurrency=3)
    assert isinstance(http, OpenAIHTTPBackend) and http.model == SMOL and http.concurrency == 3
    http.close()
    llama = make_backend("llama.cpp", SMOL, models_dir=models_dir, n_parallel=4)
    try:
        assert isinstance(llama, LlamaCppBatchedBackend) and llama.n_parallel == 4
        assert llama.chat_template and llama.eos_token
    finally:
        llama.close()
    sequential = make_backend("llama.cpp-sequential", SMOL, models_dir=models_dir)
    try:
        assert isinstance(sequential, LlamaCppBackend)
        assert sequential.chat_template == llama.chat_template
    finally:
        sequential.close()


def test_package_import_stays_light() -> None:
    code = ("import sys, engine.backends as b; "
            "assert 'TransformersBackend' in b.__all__; "
            "print(sorted(m for m in ('torch', 'transformers', 'httpx') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=Path(__file__).resolve().parents[2])
    assert done.stdout.strip() == "[]"
