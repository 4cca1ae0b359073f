"""Emoji pictures as palette tokens, for a tiny Image-GPT-style model.

Two drawings of the same 1,900-odd emoji come from the npm packages that iamcal/emoji-data
publishes: ``emoji-datasource-google@16.0.0`` (Noto Emoji art, Apache-2.0) and
``emoji-datasource-twitter@16.0.0`` (Twemoji graphics, CC-BY-4.0); the packages' code and
metadata are MIT. Both are fetched once with ``npm pack`` and checked against the registry's
integrity hash (:func:`scaling_debate.data.text.fetch_npm_package`) before anything is read. The
Apple and Facebook sets are never used: their images carry no licence that allows reuse.

A picture is the emoji's 32-pixel cell of the package's "clean" sprite sheet, composited on
white, shrunk to ``size`` x ``size`` pixels (box filter) and quantised to a palette of
``n_colors`` colours. The palette is computed once from all pictures of both sets with Pillow's
median cut (a deterministic algorithm), and every pixel is mapped to its nearest palette colour,
so the tokens are a pure function of the two tarballs, ``size`` and ``n_colors``. In raster order
the pixels are a token sequence; token ``n_colors`` is a start token that precedes every picture.

Categories and subcategories come from the package's ``emoji.json`` (for example ``Food &
Drink`` / ``food-fruit``). The object-like categories (animals, food, objects, places,
activities) serve as study material; the others (faces, people, symbols, flags) as pretraining
material, so a pretrained model never saw a study picture.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from scaling_debate import _checks, paths
from scaling_debate.data.text import fetch_npm_package

STYLES = ("google", "twitter")
EMOJI_PACKAGES = {
    # As the registry publishes them: `npm view emoji-datasource-<set>@16.0.0 dist.integrity`
    "google": (
        "emoji-datasource-google@16.0.0",
        "sha512-ZRexfzs7MVoLnmzZmNsO4TKhnAJp5D++Vm6PpUpH/jEQQlemp3l88CjZ+DoZ2faM9R4QxZkOPJCoT8DlPhfQ3A==",
    ),
    "twitter": (
        "emoji-datasource-twitter@16.0.0",
        "sha512-7F+uCuHH+7Qnrc15P5tnbvKkg9E6tlzi4MnT2uW1RlN4pLYTza6cP/dstIfSDMtpjFLWuZewWg8jBbuL2eyELQ==",
    ),
}
CREDITS = {
    "google": "Noto Emoji (c) Google, Apache-2.0, via emoji-datasource-google 16.0.0",
    "twitter": "Twemoji graphics by Twitter, Inc and other contributors, CC-BY-4.0, via "
    "emoji-datasource-twitter 16.0.0",
}
# Categories whose emoji are pictures of things (Brady et al.'s "objects"): the study material.
OBJECT_CATEGORIES = (
    "Animals & Nature",
    "Food & Drink",
    "Objects",
    "Travel & Places",
    "Activities",
)
SHEET_CELL = 32  # pixels per emoji in the sheet used; cells have a 1-pixel border
SIZES = (8, 16, 32)


@dataclass(frozen=True, eq=False)
class EmojiPictures:
    """Every emoji drawn in both sets, as palette tokens.

    ``tokens[style]`` has shape ``(n_emoji, size * size)`` (uint8, raster order) and row ``i``
    is emoji ``names[i]``; ``category`` and ``subcategory`` are per-emoji labels and ``palette``
    the ``(n_colors, 3)`` RGB colours. ``vocab_size`` is ``n_colors + 1``: the last token starts
    every picture.
    """

    names: tuple[str, ...]
    short_names: tuple[str, ...]
    category: tuple[str, ...]
    subcategory: tuple[str, ...]
    tokens: dict[str, np.ndarray]
    palette: np.ndarray
    size: int

    @property
    def n_colors(self) -> int:
        return int(self.palette.shape[0])

    @property
    def vocab_size(self) -> int:
        return self.n_colors + 1

    @property
    def start_token(self) -> int:
        return self.n_colors

    def __len__(self) -> int:
        return len(self.names)

    def is_object(self) -> np.ndarray:
        """Boolean mask of the emoji in :data:`OBJECT_CATEGORIES`."""
        return np.array([c in OBJECT_CATEGORIES for c in self.category])

    def sequence(self, index: int, style: str) -> np.ndarray:
        """Tokens of one picture with the start token in front (int64, length size*size + 1)."""
        _checks.one_of("style", style, STYLES)
        return np.concatenate([[self.start_token], self.tokens[style][index]]).astype(np.int64)

    def rgb(self, index: int, style: str) -> np.ndarray:
        """One picture as an RGB uint8 array of shape (size, size, 3), for figures."""
        _checks.one_of("style", style, STYLES)
        return self.palette[self.tokens[style][index]].reshape(self.size, self.size, 3)


def default_cache_dir() -> Path:
    """Folder for the tarballs and their extracted sheets: ``.cache/emoji``."""
    return paths.cache_dir() / "emoji"


def load_emoji(size: int = 16, n_colors: int = 16, cache_dir: Path | None = None) -> EmojiPictures:
    """The emoji of both sets at ``size`` pixels (one of :data:`SIZES`) and ``n_colors`` colours.

    Downloads the two packages on first use (about 136 MB, verified), keeps only their
    metadata and one sprite sheet each, and caches the decoded tokens per setting.
    """
    _checks.one_of("size", size, SIZES)
    _checks.positive_int("n_colors", n_colors, minimum=2)
    if n_colors > 255:
        raise ValueError(f"n_colors={n_colors!r}: must be an integer in [2, 255]")
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return _load(size, n_colors, str(directory))


@cache
def _load(size: int, n_colors: int, directory: str) -> EmojiPictures:
    cache_dir = Path(directory)
    decoded = cache_dir / f"emoji-{size}px-{n_colors}colors-v2.npz"
    meta = None
    for style in STYLES:
        meta = _extracted(style, cache_dir)  # same emoji.json in both packages
    records = json.loads((meta / "emoji.json").read_text(encoding="utf-8"))
    records = [r for r in records if r.get("has_img_google") and r.get("has_img_twitter")]
    records.sort(key=lambda r: r["sort_order"])
    if decoded.is_file():
        with np.load(decoded) as stored:
            names = tuple(str(n) for n in stored["names"])
            tokens = {style: stored[style] for style in STYLES}
            palette = stored["palette"]
    else:
        names, tokens, palette = _decode(records, size, n_colors, cache_dir)
        _save_npz(decoded, names=np.array(names), palette=palette, **tokens)
    by_name = {r["unified"]: r for r in records}
    chosen = [by_name[n] for n in names]
    return EmojiPictures(
        names=names,
        short_names=tuple(r["short_name"] for r in chosen),
        category=tuple(r["category"] for r in chosen),
        subcategory=tuple(r["subcategory"] for r in chosen),
        tokens=tokens,
        palette=palette,
        size=size,
    )


def _extracted(style: str, cache_dir: Path) -> Path:
    """Folder with ``emoji.json`` and ``sheet.png`` of one verified package."""
    spec, integrity = EMOJI_PACKAGES[style]
    target = cache_dir / f"{style}-16.0.0"
    if (target / "sheet.png").is_file() and (target / "emoji.json").is_file():
        return target
    tarball = fetch_npm_package(spec, integrity, cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    wanted = {
        "package/emoji.json": "emoji.json",
        f"package/img/{style}/sheets-clean/{SHEET_CELL}.png": "sheet.png",
    }
    staging = Path(tempfile.mkdtemp(dir=cache_dir, prefix=".extract-"))
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            for member in archive:
                if member.name in wanted and member.isfile():
                    content = archive.extractfile(member)
                    assert content is not None
                    (staging / wanted[member.name]).write_bytes(content.read())
        missing = [name for name in wanted.values() if not (staging / name).is_file()]
        if missing:
            raise RuntimeError(f"{tarball} lacks {missing}")
        try:
            staging.rename(target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        if staging.exists():
            for path in staging.iterdir():
                path.unlink()
            staging.rmdir()
    return target


def _decode(
    records: list[dict], size: int, n_colors: int, cache_dir: Path
) -> tuple[tuple[str, ...], dict[str, np.ndarray], np.ndarray]:
    from PIL import Image

    step = SHEET_CELL + 2
    pictures: dict[str, list[np.ndarray]] = {style: [] for style in STYLES}
    names: list[str] = []
    sheets = {}
    for style in STYLES:
        with Image.open(_extracted(style, cache_dir) / "sheet.png") as sheet:
            sheets[style] = sheet.convert("RGBA")
    for record in records:
        crops = {}
        for style in STYLES:
            x = record["sheet_x"] * step + 1
            y = record["sheet_y"] * step + 1
            cell = sheets[style].crop((x, y, x + SHEET_CELL, y + SHEET_CELL))
            if np.asarray(cell)[..., 3].max() == 0:  # an empty cell: no drawing in this set
                break
            white = Image.new("RGBA", cell.size, (255, 255, 255, 255))
            flat = Image.alpha_composite(white, cell).convert("RGB")
            crops[style] = np.asarray(flat.resize((size, size), Image.Resampling.BOX))
        else:
            names.append(record["unified"])
            for style in STYLES:
                pictures[style].append(crops[style])
    stacked = {style: np.stack(pictures[style]) for style in STYLES}
    # one palette for both sets: white (the background) plus a median cut over every other
    # pixel of every picture, so the background does not use up the palette
    pixels = np.concatenate([stacked[s].reshape(-1, 3) for s in STYLES])
    drawn = pixels[(pixels < 240).any(axis=1)][None, :, :]
    quantised = Image.fromarray(drawn, "RGB").quantize(
        colors=n_colors - 1, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
    )
    colours = np.array(quantised.getpalette()[: 3 * (n_colors - 1)], dtype=np.uint8)
    palette = np.concatenate([[[255, 255, 255]], colours.reshape(-1, 3)]).astype(np.uint8)
    tokens = {style: _nearest(stacked[style], palette) for style in STYLES}
    return tuple(names), tokens, palette


def _nearest(pictures: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Index of the nearest palette colour for every pixel: shape (n, size * size), uint8."""
    pixels = pictures.reshape(len(pictures), -1, 1, 3).astype(np.int32)
    distance = ((pixels - palette.astype(np.int32)[None, None]) ** 2).sum(-1)
    return distance.argmin(-1).astype(np.uint8)


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".npz-")
    with os.fdopen(handle, "wb") as file:
        file.write(buffer.getvalue())
    os.replace(temporary, path)
