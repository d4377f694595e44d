"""Build a tiny MLX model of a real architecture (Gemma 3 text) for the tests, fully offline.

The model has random weights and tiny dimensions; the tokenizer is a real byte-level BPE tokenizer trained
here with `tokenizers` on a few sentences. The directory has the layout of an mlx-community conversion
(config.json, model.safetensors, tokenizer.json, tokenizer_config.json), so the backend loads it through
mlx-lm's normal loading path. Building takes well under a second.
"""

from __future__ import annotations

import json
from pathlib import Path

# Special tokens at Gemma's ids for pad/eos/bos/unk; the turn markers follow.
SPECIAL_TOKENS = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
PAD, EOS, BOS, UNK, START_OF_TURN, END_OF_TURN = range(len(SPECIAL_TOKENS))

# Gemma's own template, shortened (no system-prompt folding): each turn is wrapped in turn markers.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "<start_of_turn>{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n"
    "{{ message['content'] | trim }}<end_of_turn>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)

_CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "A router decides where each request goes: to the small local model or to the cloud.",
    "Private data stays on the device; long and hard questions may go out when the policy allows.",
    "User: what is the capital of France? Assistant: Paris is the capital of France.",
    "System: you are a helpful assistant. User: hello there. Assistant: hello, how can I help?",
    "Numbers 0 1 2 3 4 5 6 7 8 9 10 100 1000 and punctuation , . ; : ! ? ( ) [ ] { } - _ / \\ ' \"",
    "model user system assistant turn start end of text tokens bytes merges vocabulary",
]

# Dimensions: two layers, one sliding-window and one global, so both cache kinds are exercised; a
# window of 16 tokens so a test prompt can be longer than it.
SLIDING_WINDOW = 16


def _build_tokenizer(vocab_size: int):  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    # Like Gemma: a BOS in front of every encoded text (when special tokens are added).
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", BOS)]
    )
    return tok


def build_tiny_gemma3(path: Path, *, chat_template: str | None = CHAT_TEMPLATE, seed: int = 0) -> Path:
    """Write a tiny Gemma 3 text model into `path` (created) and return it; no template when None."""
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.models import gemma3_text

    path.mkdir(parents=True, exist_ok=True)
    tok = _build_tokenizer(vocab_size=400)
    tok.save(str(path / "tokenizer.json"))
    vocab_size = tok.get_vocab_size()

    tokenizer_config: dict[str, object] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<bos>",
        "eos_token": "<eos>",
        "pad_token": "<pad>",
        "unk_token": "<unk>",
        "add_bos_token": True,
        "add_eos_token": False,
        "model_max_length": 4096,
    }
    if chat_template is not None:
        tokenizer_config["chat_template"] = chat_template
    (path / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=1))
    (path / "special_tokens_map.json").write_text(
        json.dumps({"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>"})
    )

    config = {
        "architectures": ["Gemma3ForCausalLM"],
        "model_type": "gemma3_text",
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 32,
        "query_pre_attn_scalar": 32,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1_000_000.0,
        "rope_local_base_freq": 10_000.0,
        "sliding_window": SLIDING_WINDOW,
        "sliding_window_pattern": 2,
        "max_position_embeddings": 4096,
        "vocab_size": vocab_size,
        "bos_token_id": BOS,
        "eos_token_id": [EOS, END_OF_TURN],
        "pad_token_id": PAD,
        "torch_dtype": "float32",
    }
    (path / "config.json").write_text(json.dumps(config, indent=1))

    mx.random.seed(seed)
    model = gemma3_text.Model(gemma3_text.ModelArgs.from_dict(config))
    weights = dict(tree_flatten(model.parameters()))
    # Shrink the output rows of the special tokens and of byte pieces that are not printable ASCII, so
    # generation runs its full length (the tests choose their stops) and its text is readable.
    readable = [tok.decode([i], skip_special_tokens=False) for i in range(vocab_size)]
    scale = mx.array(
        [
            [1.0 if i >= len(SPECIAL_TOKENS) and text.isascii() and text.isprintable() else 1e-3]
            for i, text in enumerate(readable)
        ]
    )
    weights["lm_head.weight"] = weights["lm_head.weight"] * scale
    # float32 (real conversions are bf16 or 4-bit) keeps greedy ties out of the equality checks.
    weights = {k: v.astype(mx.float32) for k, v in weights.items()}
    mx.save_safetensors(str(path / "model.safetensors"), weights, metadata={"format": "mlx"})
    return path
