"""Writers: frames and videos, ms-swift JSONL, manifest."""
