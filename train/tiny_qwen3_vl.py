"""A tiny, randomly initialised Qwen3-VL, built offline: the model of the CPU smoke run.

    python train/tiny_qwen3_vl.py OUT_DIR

Real Qwen3-VL architecture and processor, toy sizes (two layers of width 64 in each tower).
ms-swift hard-codes Qwen's special-token ids, so the tokenizer keeps them at their real ids:
a byte-level BPE over the 256 byte symbols, padded with unused filler entries up to id
151643, then Qwen's special tokens at 151643.. (``<|endoftext|>``, ``<|im_start|>``,
``<|im_end|>``, vision start/end 151652/151653, image pad 151655, video pad 151656), inside a
text vocabulary of 151,936 like the real model's. Nothing is downloaded.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

QWEN_SPECIAL = {
    151643: "<|endoftext|>",
    151644: "<|im_start|>",
    151645: "<|im_end|>",
    151646: "<|object_ref_start|>",
    151647: "<|object_ref_end|>",
    151648: "<|box_start|>",
    151649: "<|box_end|>",
    151650: "<|quad_start|>",
    151651: "<|quad_end|>",
    151652: "<|vision_start|>",
    151653: "<|vision_end|>",
    151654: "<|vision_pad|>",
    151655: "<|image_pad|>",
    151656: "<|video_pad|>",
}
VOCAB_SIZE = 151936
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>{% else %}{{ part['text'] }}{% endif %}{% endfor %}"
    "{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tiny_tokenizer():
    """Byte-level BPE (no merges) with Qwen's special tokens at their real ids."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {symbol: i for i, symbol in enumerate(sorted(alphabet))}
    first_special = min(QWEN_SPECIAL)
    for i in range(len(vocab), first_special):
        vocab[f"<|unused_{i}|>"] = i  # fillers: keep the special tokens at Qwen's ids
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([QWEN_SPECIAL[i] for i in sorted(QWEN_SPECIAL)])
    for token_id, token in QWEN_SPECIAL.items():
        assert tokenizer.token_to_id(token) == token_id, (token, tokenizer.token_to_id(token))
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


def tiny_config():
    from transformers import Qwen3VLConfig

    head_dim = 16
    text = {
        "vocab_size": VOCAB_SIZE,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": head_dim,
        "max_position_embeddings": 8192,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 5000000.0,
            "mrope_section": [2, 3, 3],
            "mrope_interleaved": True,
        },
        "tie_word_embeddings": False,
    }
    vision = {
        "depth": 2,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_heads": 4,
        "patch_size": 16,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "out_hidden_size": 64,
        "num_position_embeddings": 256,  # a square: 16 x 16 learned positions
        "deepstack_visual_indexes": [1],
    }
    return Qwen3VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=151655,
        video_token_id=151656,
        vision_start_token_id=151652,
        vision_end_token_id=151653,
        tie_word_embeddings=False,
    )


def build(out: str | Path, seed: int = 0) -> Path:
    """Write model, tokenizer and processor to ``out`` (about 40 MB)."""
    import torch
    from transformers import Qwen2VLImageProcessor, Qwen3VLForConditionalGeneration, Qwen3VLProcessor

    out = Path(out)
    torch.manual_seed(seed)
    model = Qwen3VLForConditionalGeneration(tiny_config()).to(torch.float32)
    tokenizer = tiny_tokenizer()
    image_processor = Qwen2VLImageProcessor(
        patch_size=16, merge_size=2, temporal_patch_size=2, min_pixels=64 * 64, max_pixels=256 * 256
    )
    try:
        from transformers import Qwen3VLVideoProcessor

        video_processor = Qwen3VLVideoProcessor(patch_size=16, merge_size=2, temporal_patch_size=2)
        processor = Qwen3VLProcessor(
            image_processor=image_processor,
            tokenizer=tokenizer,
            video_processor=video_processor,
            chat_template=CHAT_TEMPLATE,
        )
    except (ImportError, ValueError):
        processor = Qwen3VLProcessor(image_processor=image_processor, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE)
    model.generation_config.eos_token_id = [151645, 151643]
    model.generation_config.pad_token_id = 151643
    model.save_pretrained(out)
    processor.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "robomme_mem_tiny.json").write_text(json.dumps({"note": "randomly initialised; for smoke tests only"}))
    return out


if __name__ == "__main__":
    print(build(sys.argv[1] if len(sys.argv) > 1 else "tiny-qwen3-vl"))
