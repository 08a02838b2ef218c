"""Input files a case names (`inputs.image`, `inputs.video`, `inputs.mask`): taken from a folder when there,
otherwise a small real placeholder of the right kind is made (a PNG written with zlib, an MP4 with PyAV)."""

from __future__ import annotations

import io
import struct
import zlib
from fractions import Fraction
from pathlib import Path

from evals.errors import InputFileError

PLACEHOLDER_SIZE = (64, 64)
PLACEHOLDER_FRAMES = 9
_VIDEO_FORMATS = {".mp4": ("mp4", "libx264"), ".mov": ("mov", "libx264"), ".mkv": ("matroska", "libx264")}


def png_bytes(width: int = 64, height: int = 64, *, gray: bool = False) -> bytes:
    """A valid PNG with a diagonal gradient (a flat image hides scaling bugs), 8-bit RGB or grayscale."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = []
    for y in range(height):
        row = bytearray([0])  # filter type None
        for x in range(width):
            v = (x * 255 // max(width - 1, 1) + y * 255 // max(height - 1, 1)) // 2
            row.extend([v] if gray else [v, 255 - v, (x * 7 + y * 3) % 256])
        rows.append(bytes(row))
    header = struct.pack(">IIBBBBB", width, height, 8, 0 if gray else 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )


def video_bytes(name: str, width: int = 64, height: int = 64, frames: int = PLACEHOLDER_FRAMES) -> bytes:
    """A short real H.264 video (moving gradient) in the container the file name asks for, made with PyAV."""
    suffix = Path(name).suffix.lower()
    if suffix not in _VIDEO_FORMATS:
        raise InputFileError(
            f"cannot make a placeholder video named {name!r}: use one of {sorted(_VIDEO_FORMATS)} "
            "or put the file in the --inputs folder"
        )
    try:
        import av
    except ImportError as exc:
        raise InputFileError(
            f"making the placeholder video {name!r} needs PyAV (pip install av); "
            "or put the file in the --inputs folder"
        ) from exc
    container_format, codec = _VIDEO_FORMATS[suffix]
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=Fraction(8))
        if not isinstance(stream, av.VideoStream):  # pragma: no cover - PyAV returns a video stream here
            raise InputFileError(f"PyAV gave no video stream for {codec}")
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame(width, height, "rgb24")
            plane = frame.planes[0]
            pad = bytes(plane.line_size - width * 3)  # rows may be padded for alignment
            plane.update(
                b"".join(
                    bytes(
                        c
                        for x in range(width)
                        for c in ((x * 4 + i * 20) % 256, y * 255 // max(height - 1, 1), 128)
                    )
                    + pad
                    for y in range(height)
                )
            )
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def placeholder(kind: str, name: str) -> bytes:
    """A small real file of `kind` ("image", "mask", "video") for a case that names `name`."""
    if kind == "image":
        return png_bytes(*PLACEHOLDER_SIZE)
    if kind == "mask":
        return png_bytes(*PLACEHOLDER_SIZE, gray=True)
    if kind == "video":
        return video_bytes(name, *PLACEHOLDER_SIZE)
    raise InputFileError(f"no placeholder for input kind {kind!r} ({name!r})")


def input_file(kind: str, name: str, inputs_dir: Path | None) -> tuple[bytes, bool]:
    """(content, is_placeholder): the file from `inputs_dir` when it has it, else a placeholder."""
    if inputs_dir is not None:
        path = inputs_dir / name
        if path.is_file():
            try:
                return path.read_bytes(), False
            except OSError as exc:
                raise InputFileError(f"cannot read input file {path}: {exc}") from exc
    return placeholder(kind, name), True
