"""Tests for the emoji pictures: decoding a (fake) package into palette tokens, offline."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scaling_debate.data import emoji

CELL = emoji.SHEET_CELL + 2


def _fake_package(path: Path, style: str, records: list[dict], colours: list[tuple]) -> Path:
    sheet = Image.new("RGBA", (CELL * len(records), CELL), (0, 0, 0, 0))
    for record, colour in zip(records, colours, strict=True):
        x = record["sheet_x"] * CELL + 1
        block = Image.new("RGBA", (emoji.SHEET_CELL // 2, emoji.SHEET_CELL // 2), colour)
        sheet.paste(block, (x + (8 if style == "google" else 2), 9))  # the sets differ
    files = {
        "package/emoji.json": json.dumps(records).encode(),
        f"package/img/{style}/sheets-clean/{emoji.SHEET_CELL}.png": _png(sheet),
    }
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def fake_emoji(tmp_path, monkeypatch):
    categories = [
        ("Food & Drink", "food-fruit"),
        ("Food & Drink", "food-fruit"),
        ("Animals & Nature", "animal-bird"),
        ("Smileys & Emotion", "face-smiling"),
    ]
    records = [
        {
            "unified": f"1F{i:03d}",
            "short_name": f"e{i}",
            "category": c,
            "subcategory": s,
            "sheet_x": i,
            "sheet_y": 0,
            "sort_order": i,
            "has_img_google": True,
            "has_img_twitter": True,
        }
        for i, (c, s) in enumerate(categories)
    ]
    colours = {
        "google": [(200, 30, 30, 255), (30, 200, 30, 255), (30, 30, 200, 255), (240, 200, 40, 255)],
        "twitter": [
            (180, 40, 40, 255),
            (40, 180, 40, 255),
            (40, 40, 180, 255),
            (230, 190, 60, 255),
        ],
    }
    tarballs = {
        style: _fake_package(tmp_path / f"{style}.tgz", style, records, colours[style])
        for style in emoji.STYLES
    }
    asked = []

    def fake_fetch(spec, integrity, dest_dir):
        asked.append(spec)
        return tarballs[spec.split("-")[2].split("@")[0]]

    monkeypatch.setattr(emoji, "fetch_npm_package", fake_fetch)
    emoji._load.cache_clear()
    yield tmp_path / "cache", asked
    emoji._load.cache_clear()


def test_pictures_become_palette_tokens_with_labels(fake_emoji):
    cache, asked = fake_emoji
    pictures = emoji.load_emoji(size=8, n_colors=8, cache_dir=cache)
    assert sorted(asked) == ["emoji-datasource-google@16.0.0", "emoji-datasource-twitter@16.0.0"]
    assert len(pictures) == 4 and pictures.vocab_size == 9 and pictures.start_token == 8
    assert pictures.tokens["google"].shape == (4, 64)
    assert pictures.tokens["google"].max() < 8
    assert list(pictures.is_object()) == [True, True, True, False]
    assert pictures.subcategory[2] == "animal-bird"
    sequence = pictures.sequence(0, "twitter")
    assert sequence[0] == 8 and sequence.dtype == np.int64 and len(sequence) == 65
    # the background is white, the drawing is not, and the two sets differ
    assert tuple(pictures.palette[pictures.tokens["google"][0][0]]) == (255, 255, 255)
    assert not np.array_equal(pictures.tokens["google"][0], pictures.tokens["twitter"][0])
    assert pictures.rgb(0, "google").shape == (8, 8, 3)


def test_decoding_is_deterministic_and_cached(fake_emoji):
    cache, asked = fake_emoji
    first = emoji.load_emoji(size=8, n_colors=8, cache_dir=cache)
    emoji._load.cache_clear()
    second = emoji.load_emoji(size=8, n_colors=8, cache_dir=cache)
    assert len(asked) == 2  # the second load used the extracted sheets, not the tarballs
    for style in emoji.STYLES:
        np.testing.assert_array_equal(first.tokens[style], second.tokens[style])
    np.testing.assert_array_equal(first.palette, second.palette)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="size=12: must be one of 8, 16, 32"):
        emoji.load_emoji(size=12)
    with pytest.raises(ValueError, match="n_colors=1"):
        emoji.load_emoji(n_colors=1)
    with pytest.raises(ValueError, match="style='apple'"):
        emoji.EmojiPictures((), (), (), (), {}, np.zeros((2, 3), np.uint8), 8).sequence(0, "apple")


def test_the_apple_and_facebook_sets_are_never_fetched():
    specs = " ".join(spec for spec, _ in emoji.EMOJI_PACKAGES.values())
    assert "apple" not in specs and "facebook" not in specs
