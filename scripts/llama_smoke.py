"""Exit 0 when llama-cpp-python can run the default model for one token (used by scripts/setup)."""

from router.backends import load_backend
from router.model import resolve_model

backend = load_backend("llama_cpp", resolve_model(None), n_ctx=256)
backend.count_tokens("hello")
backend._llm.eval(backend._llm.tokenize(b"Hello"))  # type: ignore[attr-defined]
print("ok")
