"""Images (PNG/JPEG, header-only until asked) and text files as rows."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pytest
from PIL import Image

import treadle.data as td
from treadle.errors import InvalidArgument


def _images(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 16), (255, 0, 0)).save(folder / "red.png")
    (folder / "sub").mkdir()
    Image.new("L", (8, 9), 128).save(folder / "sub" / "gray.jpg")
    Image.new("RGBA", (3, 4), (0, 0, 255, 10)).save(folder / "blue.PNG")
    (folder / "notes.txt").write_text("not an image")


def test_image_folder_as_table(tmp_path: Path) -> None:
    _images(tmp_path / "imgs")
    src = td.FileSource(tmp_path / "imgs", "image")
    table = src.to_arrow()
    assert src.num_rows() == 3
    assert table.schema.names == ["path", "size", "width", "height", "format", "mode", "bytes"]
    rows = {Path(r["path"]).name: r for r in table.to_pylist()}
    assert set(rows) == {"red.png", "blue.PNG", "gray.jpg"}
    assert (rows["red.png"]["width"], rows["red.png"]["height"], rows["red.png"]["format"]) == (32, 16, "PNG")
    assert (rows["gray.jpg"]["format"], rows["gray.jpg"]["mode"]) == ("JPEG", "L")
    assert rows["blue.PNG"]["bytes"] == (tmp_path / "imgs" / "blue.PNG").read_bytes()
    assert rows["red.png"]["size"] == (tmp_path / "imgs" / "red.png").stat().st_size
    decoded = Image.open(io.BytesIO(rows["red.png"]["bytes"]))
    assert decoded.getpixel((0, 0)) == (255, 0, 0)
    lean = td.read(tmp_path / "imgs", "image", with_bytes=False)
    assert "bytes" not in lean.column_names and lean.num_rows == 3
    infos = {Path(i["path"]).name: i for i in src.file_infos()}
    red = (tmp_path / "imgs" / "red.png").stat()
    assert infos["red.png"] == {"path": str(tmp_path / "imgs" / "red.png"), "size": red.st_size, "mtime": red.st_mtime}


def test_images_decode_lazily(tmp_path: Path) -> None:
    """A PNG cut after its header lists fine (header only) and fails only when decoded."""
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buf, "PNG")
    (tmp_path / "cut.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    Image.new("RGB", (5, 6), (9, 9, 9)).save(tmp_path / "ok.png")
    images = list(td.iter_images(str(tmp_path)))
    assert [(Path(i.path).name, i.width, i.height) for i in images] == [("cut.png", 64, 64), ("ok.png", 5, 6)]
    ok = images[1].open()
    assert ok.size == (5, 6) and ok.getpixel((0, 0)) == (9, 9, 9)
    with pytest.raises(InvalidArgument, match=r"cannot decode image .*cut\.png"):
        images[0].open()


def test_corrupt_image_names_the_file(tmp_path: Path) -> None:
    Image.new("RGB", (2, 2)).save(tmp_path / "fine.png")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 this is not a jpeg")
    with pytest.raises(InvalidArgument, match=r"broken\.jpg is not a readable image"):
        td.read(tmp_path, "image")


def test_images_from_memory_filesystem() -> None:
    import fsspec

    fs = fsspec.filesystem("memory")
    buf = io.BytesIO()
    Image.new("RGB", (4, 3)).save(buf, "JPEG")
    fs.pipe("/imgset/a.jpeg", buf.getvalue())
    images = list(td.iter_images("memory://imgset"))
    assert [(i.path, i.width, i.height, i.format) for i in images] == [("memory:///imgset/a.jpeg", 4, 3, "JPEG")]
    assert images[0].open().size == (4, 3)


def test_text_files(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("héllo\nworld")
    (tmp_path / "docs" / "b.md").write_text("# title")
    table = td.read(tmp_path / "docs", "text")
    assert table.schema == pa.schema([("path", pa.string()), ("size", pa.int64()), ("text", pa.string())])
    assert [(Path(r["path"]).name, r["text"]) for r in table.to_pylist()] == [
        ("a.txt", "héllo\nworld"),
        ("b.md", "# title"),
    ]
    assert table.column("size").to_pylist()[0] == len("héllo\nworld".encode())
    (tmp_path / "latin.txt").write_bytes("café".encode("latin-1"))
    with pytest.raises(InvalidArgument, match=r"latin\.txt is not valid utf-8 text \(byte 3"):
        td.read(tmp_path / "latin.txt")
    assert td.read(tmp_path / "latin.txt", encoding="latin-1").column("text").to_pylist() == ["café"]
