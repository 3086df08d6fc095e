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

from engine import catalogue, prompts
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


def test_transformers_backend_greedy_on_gguf(smol_path: Path, inpars_prompts) -> None:
    from engine.backends.transformers_backend import TransformersBackend

    texts, prefix, stop = inpars_prompts
    backend = TransformersBackend(smol_path, device="cpu", batch_size=2)
    try:
        assert backend.device.type == "cpu" and backend.device_name
        assert backend.chat_template and backend.eos_token
        outs = backend.complete_many(texts, prefix=prefix, max_tokens=24, temperature=0.0,
                                     top_p=1.0, top_k=1, seeds=[0, 1, 2], stop=stop)
        _check(outs, 3)
        assert all(o["gen_tokens"] <= 24 for o in outs)
        one = backend.complete(texts[2], max_tokens=24, temperature=0.0, top_p=1.0, top_k=1,
                               seed=0, stop=stop)
        assert one["text"].strip() and one["gen_tokens"] > 0
    finally:
        backend.close()


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
