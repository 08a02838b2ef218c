"""The NaN check on decoded frames: finite smoke output passes, NaN/inf-born frames fail, also via h264."""

from __future__ import annotations

import random

import pytest

from comfyui_local.smoke_weights import (
    RgbFrame,
    SmokeWeightsError,
    check_frames,
    decode_rgb_frames,
)

W = H = 64


def flat(rgb: tuple[int, int, int], w: int = W, h: int = H) -> RgbFrame:
    return RgbFrame(w, h, bytes(rgb) * (w * h))


def noise(seed: int, *, lo: int = 0, hi: int = 255) -> RgbFrame:
    rnd = random.Random(seed)
    return RgbFrame(W, H, bytes(rnd.randint(lo, hi) for _ in range(W * H * 3)))


def with_block(frame: RgbFrame, x0: int, y0: int, size: int, value: int) -> RgbFrame:
    """`frame` with a size x size square set to `value` in every channel (what NaN/inf become)."""
    data = bytearray(frame.rgb)
    for y in range(y0, y0 + size):
        for x in range(x0, x0 + size):
            i = (y * frame.width + x) * 3
            data[i : i + 3] = bytes([value] * 3)
    return RgbFrame(frame.width, frame.height, bytes(data))


# What the stub set really produced on ComfyUI 0.3.75 (seed 0): one channel clamped to 0, the others not.
STUB_COLOUR = (0, 119, 51)


def test_stub_output_passes() -> None:
    result = check_frames([flat(STUB_COLOUR)] * 5, expect_frames=5, expect_size=(64, 64))
    assert result.ok, result.reason
    assert (result.frames, result.width, result.height) == (5, 64, 64)


def test_random_weights_noise_passes_even_when_saturated() -> None:
    # Random VAEs saturate a lot: a pixel may be black in all channels, but never a whole block.
    frames = [noise(i, lo=0, hi=255) for i in range(5)]
    binary = [RgbFrame(W, H, bytes(0 if b < 128 else 255 for b in f.rgb)) for f in frames]
    assert check_frames(frames).ok
    assert check_frames(binary).ok


@pytest.mark.parametrize(("value", "kind"), [(0, "black"), (2, "black"), (255, "white"), (253, "white")])
def test_nan_or_inf_frames_fail(value: int, kind: str) -> None:
    result = check_frames([flat(STUB_COLOUR), flat((value, value, value))], expect_frames=2)
    assert not result.ok
    assert "NaN" in result.reason
    assert {b[0] for b in result.bad_blocks} == {1}
    assert {b[3] for b in result.bad_blocks} == {kind}
    assert len(result.bad_blocks) == (W // 8) * (H // 8)


def test_a_nan_region_of_one_tile_fails() -> None:
    frame = with_block(noise(1, lo=30, hi=220), 16, 24, 16, 0)
    result = check_frames([frame])
    assert not result.ok
    assert {(b[1], b[2]) for b in result.bad_blocks} >= {(16, 24), (24, 32)}


def test_partial_edge_blocks_are_checked() -> None:
    result = check_frames([flat((0, 0, 0), w=20, h=12)])
    assert not result.ok
    assert (16, 8, "black") in {b[1:] for b in result.bad_blocks}


@pytest.mark.parametrize(
    ("frames", "kwargs", "needle"),
    [
        ([], {}, "no frame"),
        ([flat(STUB_COLOUR)] * 4, {"expect_frames": 5}, "4 frames, expected 5"),
        ([flat(STUB_COLOUR, 32, 32)], {"expect_size": (64, 64)}, "32x32, expected 64x64"),
        ([flat(STUB_COLOUR), flat(STUB_COLOUR, 32, 64)], {}, "frame 1 is 32x64"),
        ([RgbFrame(64, 64, b"\0" * 10)], {}, "10 bytes"),
    ],
)
def test_wrong_shape_fails(frames: list[RgbFrame], kwargs: dict[str, object], needle: str) -> None:
    result = check_frames(frames, **kwargs)  # type: ignore[arg-type]
    assert not result.ok
    assert needle in result.reason


def encode_mp4(frames: list[RgbFrame]) -> bytes:
    """h264/yuv420p like ComfyUI's SaveVideo, so the check is tested through the same lossy path."""
    import io

    av = pytest.importorskip("av")
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for f in frames:
            vf = av.VideoFrame(f.width, f.height, "rgb24")
            assert vf.planes[0].line_size == f.width * 3
            vf.planes[0].update(f.rgb)
            for packet in stream.encode(vf.reformat(format="yuv420p")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def test_through_h264_stub_passes_and_nan_fails() -> None:
    good = decode_rgb_frames(encode_mp4([flat(STUB_COLOUR)] * 5))
    assert check_frames(good, expect_frames=5, expect_size=(W, H)).ok
    nan_born = decode_rgb_frames(encode_mp4([flat(STUB_COLOUR)] * 2 + [flat((0, 0, 0))] * 3))
    result = check_frames(nan_born, expect_frames=5, expect_size=(W, H))
    assert not result.ok
    assert {b[0] for b in result.bad_blocks} == {2, 3, 4}
    noisy = decode_rgb_frames(encode_mp4([noise(i) for i in range(5)]))
    assert check_frames(noisy, expect_frames=5).ok


def test_undecodable_video_is_a_clear_error() -> None:
    pytest.importorskip("av")
    with pytest.raises(SmokeWeightsError, match="not a decodable video"):
        decode_rgb_frames(b"this is not an mp4")
