"""Frames are written as standard PNG files: any decoder reads back the exact pixels."""

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from robomme_mem import png


@pytest.mark.parametrize("seed", [0, 1])
def test_png_round_trips_through_pillow(seed, tmp_path):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, size=(256, 256, 3), dtype=np.uint8)
    image[:100, :100] = (10, 200, 30)  # flat areas and noise, like a rendered scene
    path = tmp_path / "frame.png"
    path.write_bytes(png.encode_png(image))
    with Image.open(path) as decoded:
        assert decoded.format == "PNG" and decoded.mode == "RGB"
        assert np.array_equal(np.asarray(decoded), image)


def test_png_without_isal_gives_the_same_pixels(monkeypatch):
    image = np.arange(64 * 48 * 3, dtype=np.uint8).reshape(64, 48, 3)
    monkeypatch.setattr(png, "isal_zlib", None)
    data = png.encode_png(image)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), image)


def test_png_bytes_are_the_same_in_another_process_and_compress():
    """Builds are byte-identical across runs and worker processes: the encoder keeps no state."""
    image = np.zeros((256, 256, 3), np.uint8)
    image[50:80, 50:80] = 255
    image[100:, :, 1] = np.arange(256, dtype=np.uint8)  # a gradient: the Sub filter has work to do
    code = (
        "import sys, numpy as np\nfrom robomme_mem.png import encode_png\n"
        "image = np.frombuffer(sys.stdin.buffer.read(), np.uint8).reshape(256, 256, 3)\n"
        "sys.stdout.buffer.write(encode_png(image))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code], input=image.tobytes(), capture_output=True, check=True, timeout=60
    ).stdout
    assert other == png.encode_png(image)
    assert len(other) < 5_000


def test_png_rejects_what_is_not_an_rgb_frame():
    with pytest.raises(ValueError, match="uint8 HxWx3"):
        png.encode_png(np.zeros((8, 8), np.uint8))
