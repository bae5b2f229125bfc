"""Load files with ms-swift's own dataset loader, as ``swift sft --dataset FILE`` does; print a JSON summary.

Run by ``tests/test_swift.py`` with the Python of a separate ms-swift environment
(``$ROBOMME_MEM_SWIFT_PYTHON``): ms-swift pins its own ``datasets``. Usage:
``python swift_load.py FILE [FILE ...]``; exits 1 with the error when ms-swift rejects a file.
"""

import json
import os
import sys
import tempfile

WORK = tempfile.mkdtemp(prefix="swift-load-")
os.environ.update(
    MODELSCOPE_CACHE=os.path.join(WORK, "modelscope"),
    HF_HOME=os.path.join(WORK, "hf"),
    HF_DATASETS_OFFLINE="1",
    HF_HUB_OFFLINE="1",
    USE_HF="1",
)

from swift.dataset import load_dataset  # noqa: E402  (after the environment: it reads it at import)

out = {}
for path in sys.argv[1:]:
    if not os.path.isfile(path):  # a missing path would be taken for a hub dataset id
        sys.exit(f"no such file: {path}")
    try:
        train, _ = load_dataset(
            [path],
            split_dataset_ratio=0.0,
            shuffle=False,
            seed=42,
            num_proc=1,
            load_from_cache_file=False,
            strict=True,
            remove_unused_columns=True,
        )
    except Exception as exc:  # noqa: BLE001 - report whatever ms-swift raised
        sys.exit(f"{path}: {type(exc).__name__}: {exc}")
    first = train[0]
    images = first.get("images") or []
    out[path] = {
        "rows": len(train),
        "columns": sorted(train.column_names),
        "roles": [m["role"] for m in first["messages"]],
        "image": None
        if not images
        else {
            "path": images[0].get("path") if isinstance(images[0], dict) else None,
            "has_bytes": bool(isinstance(images[0], dict) and images[0].get("bytes")),
        },
    }
print(json.dumps(out))
