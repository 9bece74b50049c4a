"""Untrusted photo uploads: the size is read from the header and a photo over the pixel limit
is refused before OpenCV decodes anything; what is not a whole image of a format taken is
refused as no photo."""

import io
import struct
import warnings
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from vision.inspector import PHOTO_FORMATS, NotAPhoto, PhotoTooLarge, decode, read_header

LIMIT = 40_000_000


def png_declaring(width: int, height: int, rows: int = 4) -> bytes:
    """A PNG whose header declares `width` × `height` RGB pixels but whose data (a few rows of
    compressed zeros) is tiny: a decompression bomb of a few kilobytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows_of_zeros = zlib.compress(b"\0" * ((width * 3 + 1) * rows), 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows_of_zeros) + chunk(b"IEND", b"")


def photo(width: int = 120, height: int = 80) -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def encoded(image: np.ndarray, ext: str) -> bytes:
    ok, data = cv2.imencode(ext, image)
    assert ok
    return data.tobytes()


def test_a_png_declaring_more_pixels_than_the_limit_is_refused_from_its_header():
    bomb = png_declaring(6400, 6400)  # 40,960,000 pixels
    assert len(bomb) < 10_000
    header = read_header(bomb)
    assert (header.format, header.width, header.height, header.pixels) == ("PNG", 6400, 6400, 40_960_000)
    with pytest.raises(PhotoTooLarge, match="6400×6400 pixels is more than a photo"):
        decode(bomb, LIMIT)


def test_pillows_own_bomb_guard_is_a_photo_too_large():
    # 32000 × 32000 is more than twice Image.MAX_IMAGE_PIXELS: Pillow itself refuses to open it
    bomb = png_declaring(32000, 32000)
    assert len(bomb) < 10_000 and 32000 * 32000 > 2 * Image.MAX_IMAGE_PIXELS
    with pytest.raises(PhotoTooLarge, match=r"more pixels than a photo: .*1024000000 pixels"):
        decode(bomb, LIMIT)
    # between one and two times Pillow's limit it warns; as an error the warning is refused too
    side = 10_000
    assert Image.MAX_IMAGE_PIXELS < side * side < 2 * Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(PhotoTooLarge):
            decode(png_declaring(side, side), LIMIT)


def test_the_pixel_limit_is_the_one_given():
    data = encoded(photo(120, 80), ".jpg")
    assert decode(data, 120 * 80).shape == (80, 120, 3)
    with pytest.raises(PhotoTooLarge, match="120×80 pixels"):
        decode(data, 120 * 80 - 1)


@pytest.mark.parametrize("ext", [".jpg", ".png", ".bmp", ".tiff", ".webp"])
def test_every_format_taken_decodes_to_the_photo(ext):
    image = photo()
    decoded = decode(encoded(image, ext), LIMIT)
    assert decoded.shape == image.shape
    if ext not in (".jpg", ".webp"):  # lossless
        assert np.array_equal(decoded, image)
    assert read_header(encoded(image, ext)).format in (*PHOTO_FORMATS, "MPO")


def test_cut_short_damaged_and_other_files_are_not_photos():
    jpeg = encoded(photo(), ".jpg")
    with pytest.raises(NotAPhoto, match="cut short") as cut:
        decode(jpeg[: len(jpeg) // 2], LIMIT)  # the header is whole, the picture is not
    assert not isinstance(cut.value, PhotoTooLarge)
    png = encoded(photo(), ".png")
    with pytest.raises(NotAPhoto, match="cut short"):
        decode(png[: len(png) // 2], LIMIT)
    for broken in (
        jpeg[:20],
        png[:30],
        b"\x89PNG\r\n\x1a\n" + b"\0" * 40,
    ):  # the header itself cut or damaged
        with pytest.raises(NotAPhoto, match="not an image") as refused:
            decode(broken, LIMIT)
        assert not isinstance(refused.value, PhotoTooLarge)
    gif = io.BytesIO()
    Image.fromarray(photo()).save(gif, format="GIF")
    with pytest.raises(NotAPhoto, match="not an image this inspection reads"):
        decode(gif.getvalue(), LIMIT)
    with pytest.raises(NotAPhoto, match="not an image"):
        decode(b"not a photo", LIMIT)
    with pytest.raises(NotAPhoto, match="empty"):
        decode(b"", LIMIT)


def test_a_zero_sized_header_is_not_a_photo():
    with pytest.raises(NotAPhoto):
        decode(png_declaring(0, 10, rows=0), LIMIT)
