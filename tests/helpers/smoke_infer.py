"""Load a trained LoRA adapter with peft and with ms-swift's inference engine, and generate.

Run by ``tests/test_train_smoke.py`` with the training environment's Python
(``$ROBOMME_MEM_TRAIN_PYTHON``). Usage: ``python smoke_infer.py MODEL_DIR ADAPTER_DIR IMAGE``;
prints one JSON line: the adapter's trainable tensors and both generations.
"""

import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("USE_HF", "1")

import torch  # noqa: E402
from peft import PeftModel  # noqa: E402
from transformers import Qwen3VLForConditionalGeneration  # noqa: E402

model_dir, adapter_dir, image = sys.argv[1:4]
base = Qwen3VLForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32)
peft_model = PeftModel.from_pretrained(base, adapter_dir)
lora = [n for n, _ in peft_model.named_parameters() if "lora_" in n]
ids = torch.tensor([[151644, 872, 198, 151645]])
peft_out = peft_model.generate(input_ids=ids, max_new_tokens=4, do_sample=False)

from swift.infer_engine import InferRequest, RequestConfig, TransformersEngine  # noqa: E402

engine = TransformersEngine(model_dir, model_type="qwen3_vl", adapters=[adapter_dir])
request = InferRequest(
    messages=[{"role": "user", "content": "<image>What's the next language subgoal based on current observation?"}],
    images=[image],
)
response = engine.infer([request], RequestConfig(max_tokens=8, temperature=0))[0]
print(
    json.dumps(
        {
            "lora_tensors": len(lora),
            "peft_new_tokens": int(peft_out.shape[1] - ids.shape[1]),
            "swift_text": response.choices[0].message.content,
            "swift_completion_tokens": response.usage.completion_tokens,
        }
    )
)
