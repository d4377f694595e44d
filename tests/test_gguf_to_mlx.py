"""scripts/gguf_to_mlx.py on the real default model: the MLX copy tokenizes and answers like the GGUF."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from router.backends import load_backend
from router.model import GEMMA3_270M, known_path
from router.types import GenerationOptions

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]

for module, hint in (("gguf", "pip install gguf"), ("mlx_lm", "pip install -e '.[mlx]'"), ("llama_cpp", "")):
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed ({hint or 'the [llama] extra'})", allow_module_level=True)
if not known_path(GEMMA3_270M).exists():
    pytest.skip("run `router model assemble gemma-3-270m` first", allow_module_level=True)

TEXTS = [
    "Hello world, how are you?",
    "  two  spaces\tand a tab\n\nand newlines",
    "ünïcödé ☃ 日本語 and <start_of_turn>user markers",
]


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("conv") / "gemma-3-270m-mlx"
    cmd = [sys.executable, str(ROOT / "scripts" / "gguf_to_mlx.py"), str(known_path(GEMMA3_270M)), str(out)]
    subprocess.run(cmd, check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def llama():  # type: ignore[no-untyped-def]
    from llama_cpp import Llama

    return Llama(str(known_path(GEMMA3_270M)), n_ctx=512, verbose=False)


def test_the_copy_tokenizes_like_llama_cpp(converted: Path, llama) -> None:  # type: ignore[no-untyped-def]
    backend = load_backend("auto", converted)
    try:
        assert backend.name == "mlx"
        for text in TEXTS:
            expected = llama.tokenize(text.encode(), add_bos=True, special=True)
            assert backend.count_tokens(text) == len(expected)
            assert backend._encode(text) == expected  # type: ignore[attr-defined]
    finally:
        backend.close()


def test_the_copy_answers_like_llama_cpp(converted: Path, llama) -> None:  # type: ignore[no-untyped-def]
    prompt = "The capital of France is"
    expected = llama.create_completion(prompt, max_tokens=6, temperature=0.0)["choices"][0]["text"]
    backend = load_backend("auto", converted)
    try:
        options = GenerationOptions(max_tokens=6, temperature=0.0)
        text = "".join(p.text for p in backend.stream(prompt, options, threading.Event()))
    finally:
        backend.close()
    # bf16 weights dequantized from Q4_K_M against llama.cpp's own kernels: the first words agree.
    assert text.split()[:4] == expected.split()[:4]
