"""Fixtures of the tracks' loader tests: no network, and PNG bytes for parquet fixtures in the hub layout."""

import io

import pytest


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def png():
    """``png(array)``: the PNG encoding of an (H, W, 3) uint8 array."""
    from PIL import Image

    def encode(a):
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, format="PNG")
        return buf.getvalue()

    return encode
