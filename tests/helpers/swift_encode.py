"""Encode rows with ms-swift's own Qwen3-VL template, as training does; print a JSON summary.

Run by ``tests/test_train_smoke.py`` with the training environment's Python. Usage:
``python swift_encode.py MODEL_DIR MAX_LENGTH FILE.jsonl [...]`` (image and video paths relative to
``$ROOT_IMAGE_DIR``). For every row: its length in tokens, and the supervised text (the tokens
whose label is not -100), decoded.
"""

import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("USE_HF", "1")

from swift.model import get_processor  # noqa: E402
from swift.template import get_template  # noqa: E402

model_dir, max_length, *paths = sys.argv[1:]
processor = get_processor(model_dir, model_type="qwen3_vl", download_model=False)
template = get_template(processor, max_length=int(max_length), truncation_strategy="raise")
template.set_mode("train")
root = os.environ.get("ROOT_IMAGE_DIR", ".")
out = []
for path in paths:
    with open(path) as fh:
        for line in fh:
            row = json.loads(line)
            row["images"] = [os.path.join(root, p) for p in row["images"]]
            if row.get("videos"):  # a video task's first call: its demonstration, as ms-swift reads it
                row["videos"] = [os.path.join(root, p) for p in row["videos"]]
            encoded = template.encode(row)
            supervised = [t for t, label in zip(encoded["input_ids"], encoded["labels"]) if label != -100]
            out.append(
                {
                    "length": len(encoded["input_ids"]),
                    "supervised": processor.tokenizer.decode(supervised),
                    "target": row["messages"][-1]["content"],
                }
            )
print(json.dumps(out))
