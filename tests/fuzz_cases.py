"""Seeded generator of malformed (and valid) node inputs for the fuzz suite: no ROS here, plain field values.

A perception node on a vehicle must survive whatever arrives on its topics. :func:`generate_cases` builds a
reproducible list of :class:`FuzzCase` objects covering the problem kinds a node must survive -- images (unsupported ROS
encodings, wrong step, short/long data, empty and one-pixel frames, 8K headers, big-endian flag, odd widths,
16-bit/float encodings, undecodable or truncated JPEG/PNG, random bytes), feature maps (shape, dtype, length, NaN/Inf,
another model's id, oversized output claims) and time (duplicate, backwards, huge-jump, zero, negative and
near-overflow stamps, bursts, gaps longer than the history) -- with valid inputs interleaved. Each case says what
the node must do with it (:attr:`FuzzCase.outcome`): reject it with a given diagnostics reason, answer it with an
output of a known size and stamp, stay silent (no history yet: a forecast would be a guess), or either.

The harness that turns cases into messages and checks the nodes' answers is ``tests/fuzz_world.py`` (used by
``tests/test_fuzz_nodes.py`` and ``benchmarks/fuzz_nodes.py``); keeping the generator here lets both share it and
lets it be checked without ROS (every image case's expected reason is confirmed against
:func:`swiftcast.runtime.images.decode_raw` / ``decode_compressed`` in the tests).
"""

from __future__ import annotations

import struct
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from swiftcast.forecast.history import FeatureHistory
from swiftcast.forecast.protocol import FRAME_PERIOD_NS, HORIZONS, INPUT_OFFSETS
from swiftcast.runtime.images import DEFAULT_MAX_PIXELS, SUPPORTED_ENCODINGS

NS = 1_000_000_000
#: builtin_interfaces/Time.sec is an int32: the largest stamp a message can carry, in ns.
MAX_STAMP_NS = (2**31 - 1) * NS + NS - 1
MIN_STAMP_NS = -(2**31) * NS

#: Every encoding string of ROS 2 ``sensor_msgs/image_encodings.hpp`` that the semseg node does not accept.
ROS_ENCODINGS: tuple[str, ...] = (
    "rgb8", "rgba8", "rgb16", "rgba16", "bgr8", "bgra8", "bgr16", "bgra16", "mono8", "mono16",
    *(f"{bits}{kind}C{n}" for bits, kind in (("8", "U"), ("8", "S"), ("16", "U"), ("16", "S"), ("32", "S"),
                                             ("32", "F"), ("64", "F")) for n in (1, 2, 3, 4)),
    "bayer_rggb8", "bayer_bggr8", "bayer_gbrg8", "bayer_grbg8",
    "bayer_rggb16", "bayer_bggr16", "bayer_gbrg16", "bayer_grbg16",
    "yuv422", "UYVY", "YUYV", "yuv422_yuy2", "nv21", "nv24", "nv12",
)
UNSUPPORTED_ENCODINGS: tuple[str, ...] = tuple(e for e in ROS_ENCODINGS if e not in SUPPORTED_ENCODINGS)
#: Strings no driver should send but a broken one might (no NUL inside: ROS strings end at the first one, so
#: "rgb8\0junk" arrives as a valid "rgb8").
JUNK_ENCODINGS: tuple[str, ...] = ("", "BGR8", "bgr 8", "rgb8 ", "jpeg", "8UC", "ünïcode", "x" * 300)
#: Bytes per pixel of some unsupported encodings (to give their buffers a plausible size).
_PIXEL_BYTES = {"mono16": 2, "16UC1": 2, "32FC1": 4, "rgb16": 6, "bgr16": 6, "rgba16": 8, "bgra16": 8,
                "64FC1": 8, "yuv422": 2, "UYVY": 2, "YUYV": 2, "yuv422_yuy2": 2}

# what a node must do with a case
REJECT, ANSWER, SILENT, EITHER = "reject", "answer", "silent", "either"


@dataclass
class FuzzCase:
    """One message for one node.

    ``target``: ``image`` (raw camera -> semseg), ``compressed`` (CompressedImage -> semseg with
    input_transport=compressed), ``features`` (FeatureMap -> forecast), ``labels`` (semseg/labels -> the forecast
    node's online score). ``kind``: the problem it exercises (report grouping). ``fields``: message fields
    (``stamp_ns`` for the header; the frame id is set by the harness to ``fuzz<index>`` so answers can be matched).
    ``outcome``: REJECT (with diagnostics reason ``reason``), ANSWER (an output of ``out_size`` must come back,
    stamped ``stamp_ns`` or, for forecasts, ``stamp_ns + horizon``), SILENT (no output allowed: the forecast node
    must wait for history instead of guessing) or EITHER (no output required; any output must still be right,
    and a rejection must carry one of ``reasons``).
    """

    index: int
    target: str
    kind: str
    outcome: str
    fields: dict[str, Any]
    reason: str | None = None
    reasons: tuple[str, ...] = ()
    out_size: tuple[int, int] | None = None
    note: str = ""

    @property
    def frame_id(self) -> str:
        return f"fuzz{self.index}"

    @property
    def stamp_ns(self) -> int:
        return int(self.fields.get("stamp_ns", 0))


@dataclass
class FuzzSpec:
    """What the nodes under test expect (their model id, feature layout, forecast timing)."""

    model_id: str
    channels: int = 128
    feature_hw: tuple[int, int] = (2, 4)
    period_ns: int = FRAME_PERIOD_NS
    tolerance_ns: int = FRAME_PERIOD_NS // 2
    max_history: int = 256
    max_pixels: int = DEFAULT_MAX_PIXELS
    #: share of cases per target (the rest of a target's cases are split over its kinds)
    targets: dict[str, float] = field(
        default_factory=lambda: {"image": 0.42, "compressed": 0.2, "features": 0.33, "labels": 0.05}
    )

    @property
    def max_offset_ns(self) -> int:
        return max(h.frames for h in HORIZONS.values()) * self.period_ns


def _pick(rng: np.random.Generator, options: tuple[Any, ...]) -> Any:
    """One of ``options`` as given (``rng.choice`` would turn strings into numpy strings, which drop a trailing NUL)."""
    return options[int(rng.integers(len(options)))]


def split_stamp(ns: int) -> tuple[int, int]:
    """(sec, nanosec) of a stamp in ns (nanosec always in [0, 1e9), as ROS stores negative times)."""
    return int(ns // NS), int(ns % NS)


# --- small encoders -------------------------------------------------------------------------------------------------
def png_header(width: int, height: int, bit_depth: int = 8, colour: int = 2) -> bytes:
    """A PNG signature + IHDR chunk claiming ``width`` x ``height`` (no pixel data)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))


def jpeg_header(width: int, height: int) -> bytes:
    """A JPEG SOI + baseline SOF0 segment claiming ``width`` x ``height`` (no scan data)."""
    sof = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + b"\xff\xc0" + struct.pack(">H", len(sof) + 2) + sof


def _encode(ext: str, pixels: np.ndarray, *params: int) -> bytes:
    ok, buf = cv2.imencode(ext, pixels, list(params))
    if not ok:  # pragma: no cover - OpenCV always encodes these
        raise RuntimeError(f"cv2.imencode({ext}) failed")
    return buf.tobytes()


# --- the generator ----------------------------------------------------------------------------------------------
class _Generator:
    def __init__(self, spec: FuzzSpec, seed: int) -> None:
        self.spec = spec
        self.rng = np.random.default_rng(seed)
        self.cases: list[FuzzCase] = []
        self.image_clock = 1_000 * NS  # stamps of valid images (semseg copies them, so any value works)
        self.feature_clock = 1_000 * NS  # stamps of valid feature maps, as the forecast node's history sees them
        self.history: FeatureHistory[None] = FeatureHistory(
            spec.period_ns, spec.tolerance_ns, INPUT_OFFSETS, max_items=spec.max_history
        )
        self.feature_hw: tuple[int, int] | None = None

    # helpers
    def add(self, target: str, kind: str, outcome: str, fields: dict[str, Any], reason: str | None = None,
            out_size: tuple[int, int] | None = None, note: str = "", reasons: tuple[str, ...] = ()) -> FuzzCase:
        case = FuzzCase(len(self.cases), target, kind, outcome, fields, reason, reasons or ((reason,) if reason else ()),
                        out_size, note)
        self.cases.append(case)
        return case

    def small_size(self, lo: int = 1, hi: int = 48) -> tuple[int, int]:
        return int(self.rng.integers(lo, hi + 1)), int(self.rng.integers(lo, hi + 1))

    def next_image_stamp(self) -> int:
        self.image_clock += int(self.rng.integers(1, 100)) * 1_000_000
        return self.image_clock

    def raw(self, encoding: str, h: int, w: int, step: int | None = None, data: bytes | None = None,
            bigendian: int = 0, stamp_ns: int | None = None, channels: int | None = None) -> dict[str, Any]:
        channels = channels or SUPPORTED_ENCODINGS.get(encoding, (1, ""))[0]
        step = w * channels if step is None else step
        if data is None:
            data = self.rng.bytes(h * step)
        return {"encoding": encoding, "height": h, "width": w, "step": step, "data": data,
                "is_bigendian": bigendian, "stamp_ns": self.next_image_stamp() if stamp_ns is None else stamp_ns}

    def picture(self, h: int, w: int, channels: int = 3) -> np.ndarray:
        """Smooth-ish pixels (JPEG of white noise is large); a few random blobs on a gradient."""
        yy, xx = np.mgrid[0:h, 0:w]
        base = (xx * 255 // max(w, 1) + yy * 127 // max(h, 1)) % 256
        img = np.stack([base, 255 - base, (base * 3) % 256][:channels], -1).astype(np.uint8)
        return img + self.rng.integers(0, 16, img.shape, dtype=np.uint8)

    # --- raw images (semseg, input_transport=raw) ------------------------------------------------------------------
    def image_case(self) -> None:
        rng, kinds = self.rng, ("encoding", "step", "data_size", "size", "too_large", "valid", "bigendian",
                                "random_bytes", "time")
        kind = kinds[int(rng.choice(len(kinds), p=[0.24, 0.1, 0.14, 0.08, 0.08, 0.11, 0.05, 0.05, 0.15]))]
        enc = _pick(rng, ("bgr8", "rgb8", "bgra8", "rgba8", "mono8"))
        ch = SUPPORTED_ENCODINGS[enc][0]
        h, w = self.small_size()
        if kind == "encoding":
            bad = _pick(rng, UNSUPPORTED_ENCODINGS if rng.random() < 0.8 else JUNK_ENCODINGS)
            pix = _PIXEL_BYTES.get(bad, int(rng.integers(1, 5)))
            self.add("image", "encoding", REJECT, self.raw(bad, h, w, channels=pix), "encoding", note=bad[:40])
        elif kind == "step":
            step = int(rng.integers(0, w * ch))  # shorter than one row of pixels
            self.add("image", "step", REJECT, self.raw(enc, h, w, step=step, data=self.rng.bytes(h * step)), "step",
                     note=f"{enc} {w}x{h} step {step} < {w * ch}")
        elif kind == "data_size":
            step = w * ch + int(rng.integers(0, 3))
            delta = int(rng.choice((-1, 1))) * int(rng.integers(1, h * step + 2))
            n = max(0, h * step + delta)
            if n == h * step:
                n += 1
            self.add("image", "data_size", REJECT, self.raw(enc, h, w, step=step, data=self.rng.bytes(n)),
                     "data_size", note=f"{n} bytes for {h}x{step}")
        elif kind == "size":
            if rng.random() < 0.4:
                h, w = 0, 0
            elif rng.random() < 0.5:
                h = 0
            else:
                w = 0
            self.add("image", "size", REJECT, self.raw(enc, h, w, data=b""), "size", note=f"{w}x{h}")
        elif kind == "too_large":
            choices = ((4320, 7680), (8640, 15360), (4097, 4097), (1, self.spec.max_pixels + 1),
                       (2**32 - 1, 2**32 - 1), (100_000, 100_000))
            h, w = choices[int(rng.integers(len(choices)))]
            step = min(w * ch, 2**32 - 1)
            self.add("image", "too_large", REJECT, self.raw(enc, h, w, step=step, data=self.rng.bytes(64)),
                     "too_large", note=f"{w}x{h} header, 64 bytes of data")
        elif kind == "valid":
            special = ((1, 1), (1, 2), (2, 1), (1, 37), (37, 1), (3, 5), (11, 33), (48, 81))
            if rng.random() < 0.5:
                h, w = special[int(rng.integers(len(special)))]
            pad = int(rng.integers(0, 9)) if rng.random() < 0.4 else 0
            self.add("image", "valid", ANSWER, self.raw(enc, h, w, step=w * ch + pad), out_size=(h, w),
                     note=f"{enc} {w}x{h} pad {pad}")
        elif kind == "bigendian":
            self.add("image", "bigendian", ANSWER, self.raw(enc, h, w, bigendian=1), out_size=(h, w),
                     note=f"{enc} is_bigendian=1 (8-bit: byte order irrelevant)")
        elif kind == "random_bytes":
            # random pixels that fit: a valid (noise) frame
            self.add("image", "random_bytes", ANSWER, self.raw(enc, h, w), out_size=(h, w), note="noise pixels")
        else:
            self.image_time_case(enc, h, w)

    def image_time_case(self, enc: str, h: int, w: int) -> None:
        """The semseg node copies any stamp: zero, duplicate, backwards, far future, negative, int32 extremes."""
        what = _pick(self.rng, ("zero", "duplicate", "backwards", "jump", "max", "negative", "min"))
        stamp = {"zero": 0, "duplicate": self.image_clock, "backwards": self.image_clock - 500 * NS,
                 "jump": self.image_clock + 10**6 * NS, "max": MAX_STAMP_NS, "negative": -5 * NS - 1,
                 "min": MIN_STAMP_NS}[what]
        self.add("image", "time", ANSWER, self.raw(enc, h, w, stamp_ns=stamp), out_size=(h, w), note=f"stamp {what}")

    # --- compressed images ------------------------------------------------------------------------------------------
    def compressed_case(self) -> None:
        rng = self.rng
        kinds = ("format", "truncated", "corrupted", "too_large", "size", "valid", "random_bytes")
        kind = kinds[int(rng.choice(len(kinds), p=[0.12, 0.22, 0.14, 0.1, 0.05, 0.25, 0.12]))]
        h, w = self.small_size(1, 40)
        fmt_jpeg, fmt_png = "bgr8; jpeg compressed bgr8", "png"
        stamp = self.next_image_stamp()
        if kind in ("truncated", "corrupted", "valid"):
            use_png = rng.random() < 0.5
            if use_png:
                variant = int(rng.integers(3))
                if variant == 0:
                    data = _encode(".png", self.picture(h, w))
                elif variant == 1:  # grey
                    data = _encode(".png", self.picture(h, w, 1)[..., 0])
                else:  # 16-bit grey (mono16 PNG): OpenCV reduces it to 8-bit colour
                    data = _encode(".png", self.picture(h, w, 1)[..., 0].astype(np.uint16) * 257)
                fmt = fmt_png
            else:
                data = _encode(".jpg", self.picture(h, w), cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 95)))
                fmt = fmt_jpeg
            kind_name = "PNG" if use_png else "JPEG"
            if kind == "valid":
                self.add("compressed", "valid", ANSWER, {"format": fmt, "data": data, "stamp_ns": stamp},
                         out_size=(h, w), note=f"{kind_name} {w}x{h}")
            elif kind == "truncated":
                cut = int(rng.integers(0, len(data) - 2))
                # a cut inside the first bytes leaves no magic number (format) or nothing at all (size)
                self.add("compressed", "truncated", REJECT, {"format": fmt, "data": data[:cut], "stamp_ns": stamp},
                         reasons=("decode", "size", "format"), note=f"{kind_name} cut at {cut}/{len(data)}")
            else:
                # garbage after the header (the size stays readable), both ends kept: libjpeg may still decode a
                # garbled picture -- then it must have the header's size
                data = bytearray(data)
                lo = 33 if use_png else data.find(b"\xff\xda") + 2
                lo = min(max(lo, 2), len(data) - 3)
                start = int(rng.integers(lo, len(data) - 2))
                n = int(rng.integers(1, max(2, len(data) - start - 2)))
                data[start:start + n] = rng.bytes(n)
                self.add("compressed", "corrupted", EITHER, {"format": fmt, "data": bytes(data), "stamp_ns": stamp},
                         reasons=("decode", "too_large", "size", "format"), out_size=(h, w),
                         note=f"{kind_name} {n} bytes garbled at {start}")
        elif kind == "format":
            data = rng.bytes(int(rng.integers(1, 2000)))
            if data[:1] in (b"\xff", b"\x89"):
                data = b"\x00" + data
            self.add("compressed", "format", REJECT, {"format": _pick(rng, ("jpeg", "png", "", "theora")),
                                                       "data": data, "stamp_ns": stamp}, "format",
                     note="bytes that are neither JPEG nor PNG")
        elif kind == "too_large":
            sizes = ((4320, 7680), (65535, 65535), (8192, 8192), (1, self.spec.max_pixels + 1))
            hh, ww = sizes[int(rng.integers(len(sizes)))]
            if rng.random() < 0.5:
                data, fmt = png_header(ww, hh) + rng.bytes(64), fmt_png
            else:
                hh, ww = (hh, ww) if max(hh, ww) < 65536 else (4097, 4097)  # JPEG sizes are 16-bit
                data, fmt = jpeg_header(ww, hh) + rng.bytes(64) + b"\xff\xd9", fmt_jpeg
            self.add("compressed", "too_large", REJECT, {"format": fmt, "data": data, "stamp_ns": stamp}, "too_large",
                     note=f"{ww}x{hh} header")
        elif kind == "size":
            self.add("compressed", "size", REJECT, {"format": "jpeg", "data": b"", "stamp_ns": stamp}, "size",
                     note="empty data")
        else:  # random bytes behind a real magic number
            magic = b"\xff\xd8" if rng.random() < 0.5 else b"\x89PNG\r\n\x1a\n"
            data = magic + rng.bytes(int(rng.integers(0, 3000)))
            self.add("compressed", "random_bytes", EITHER, {"format": "jpeg", "data": data, "stamp_ns": stamp},
                     reasons=("decode", "too_large", "size"), note="magic number + random bytes")

    # --- feature maps (forecast node) -------------------------------------------------------------------------------
    def features(self, stamp_ns: int, hw: tuple[int, int] | None = None, channels: int | None = None,
                 dtype: str = "float16", image: tuple[int, int] | None = None, model_id: str | None = None,
                 data: bytes | None = None) -> dict[str, Any]:
        c = self.spec.channels if channels is None else channels
        h, w = hw or self.feature_hw or self.spec.feature_hw
        if data is None:
            values = self.rng.normal(0, 1, (c, h, w)).astype(dtype if dtype in ("float16", "float32") else "float16")
            data = values.astype(values.dtype.newbyteorder("<")).tobytes()
        ih, iw = image or self.out_size()
        return {"channels": c, "height": h, "width": w, "stride": 32, "dtype": dtype, "data": data,
                "model_id": self.spec.model_id if model_id is None else model_id, "image_height": ih,
                "image_width": iw, "stamp_ns": stamp_ns}

    def out_size(self) -> tuple[int, int]:
        sizes = ((1, 1), (7, 13), (24, 40), (31, 17), (48, 96), (96, 160))
        return sizes[int(self.rng.integers(len(sizes)))]

    def valid_feature(self, stamp_ns: int, kind: str, wait: bool = True, hw: tuple[int, int] | None = None,
                      note: str = "") -> FuzzCase:
        """A well-formed feature map; the outcome follows the forecast node's history (same class, same rules)."""
        hw = hw or self.feature_hw or self.spec.feature_hw
        if self.feature_hw is not None and hw != self.feature_hw and len(self.history):
            self.history.reset()  # the node resets on a feature-size change
        self.feature_hw = hw
        self.history.insert(stamp_ns, None)
        self.feature_clock = stamp_ns
        image = self.out_size()
        matched = self.history.match(stamp_ns).ok
        outcome = (ANSWER if wait else EITHER) if matched else SILENT
        return self.add("features", kind, outcome, self.features(stamp_ns, hw=hw, image=image), out_size=image,
                        note=note)

    def feature_case(self) -> None:
        rng, spec = self.rng, self.spec
        kinds = ("dtype", "shape", "data_size", "non_finite", "model_id", "too_large", "stamp_range", "time")
        kind = kinds[int(rng.choice(len(kinds), p=[0.1, 0.14, 0.1, 0.1, 0.08, 0.06, 0.04, 0.38]))]
        stamp = self.feature_clock + spec.period_ns  # bad cases never reach the history: any stamp
        if kind == "dtype":
            bad = _pick(rng, ("int8", "float64", "", "bfloat16", "float16 ", "FLOAT32", ">f4", "f2", "uint8"))
            self.add("features", "dtype", REJECT, self.features(stamp, dtype=bad), "dtype", note=repr(bad))
        elif kind == "shape":
            c, (h, w) = spec.channels, spec.feature_hw
            variant = int(rng.integers(5))
            if variant == 0:  # another channel count, data consistent with it
                c2 = int(rng.choice((1, 64, 127, 129, 512)))
                f = self.features(stamp, channels=c2)
                note = f"{c2} channels"
            elif variant == 1:  # an empty dimension
                dims = [c, h, w]
                dims[int(rng.integers(3))] = 0
                f = self.features(stamp, data=b"")
                f.update(channels=dims[0], height=dims[1], width=dims[2])
                note = "empty dimension"
            elif variant == 2:  # claims far more values than allowed (before any allocation)
                f = self.features(stamp, data=rng.bytes(64))
                f.update(channels=2**32 - 1, height=2**32 - 1, width=2**32 - 1)
                note = "4e9 x 4e9 x 4e9 claimed"
            elif variant == 3:
                f = self.features(stamp)
                f["image_height" if rng.random() < 0.5 else "image_width"] = 0
                note = "image size 0"
            else:  # transposed layout: (h, w) swapped with matching data is a *valid* other size -> use channels
                f = self.features(stamp, channels=c // 2, hw=(h * 2, w))
                note = f"{c // 2}x{h * 2}x{w}"
            self.add("features", "shape", REJECT, f, "shape", note=note)
        elif kind == "data_size":
            f = self.features(stamp)
            n = len(f["data"])
            cut = int(rng.integers(1, n))
            f["data"] = f["data"][:-cut] if rng.random() < 0.5 else f["data"] + rng.bytes(cut)
            self.add("features", "data_size", REJECT, f, "data_size", note=f"{len(f['data'])} bytes, want {n}")
        elif kind == "non_finite":
            values = rng.normal(0, 1, (spec.channels, *(self.feature_hw or spec.feature_hw))).astype(np.float32)
            k = int(rng.integers(1, 6))
            flat = values.reshape(-1)
            flat[rng.integers(0, flat.size, k)] = rng.choice((np.nan, np.inf, -np.inf), k)
            dtype = _pick(rng, ("float16", "float32"))
            f = self.features(stamp, dtype=dtype, data=values.astype(np.dtype(dtype).newbyteorder("<")).tobytes())
            self.add("features", "non_finite", REJECT, f, "non_finite", note=f"{k} NaN/Inf in {dtype}")
        elif kind == "model_id":
            other = _pick(rng, ("", "swiftnet_mnv2-0123456789ab", spec.model_id + "x", spec.model_id.upper(),
                                    "x" * 500))
            self.add("features", "model_id", REJECT, self.features(stamp, model_id=other), "model_id",
                     note=repr(other[:30]))
        elif kind == "too_large":
            sizes = ((4320, 7680), (65535, 65535), (2**32 - 1, 2**32 - 1), (1, spec.max_pixels + 1))
            ih, iw = sizes[int(rng.integers(len(sizes)))]
            self.add("features", "too_large", REJECT, self.features(stamp, image=(ih, iw)), "too_large",
                     note=f"forecast asked at {iw}x{ih}")
        elif kind == "stamp_range":
            # t + the longest horizon is past the largest stamp a message can carry
            t = MAX_STAMP_NS - int(rng.integers(0, spec.max_offset_ns))
            self.add("features", "stamp_range", REJECT, self.features(t), "stamp_range", note="target past int32 sec")
        else:
            self.feature_time_episode()

    def feature_time_episode(self) -> None:
        """Valid feature maps with stamps that stress the history: each episode is several cases."""
        rng, P = self.rng, self.spec.period_ns
        what = _pick(rng, ("stream", "stream30", "duplicate", "backwards", "jump", "zero", "burst", "gap",
                               "resize", "negative"))
        t = self.feature_clock
        if what in ("stream", "stream30"):
            step = P if what == "stream" else round(NS / 30)
            for i in range(int(rng.integers(4, 14))):
                self.valid_feature(t + (i + 1) * step, "time", note=f"{what} frame")
        elif what == "duplicate":
            self.valid_feature(t + P, "time", note="stamp")
            self.valid_feature(t + P, "time", note="duplicate stamp")
        elif what == "jump" and t < 10**9 * NS:  # (far below the int32 end of time: long runs stay valid)
            self.valid_feature(t + int(rng.integers(10**4, 10**6)) * NS, "time", note="huge jump forward")
        elif what in ("backwards", "jump"):
            self.valid_feature(t - int(rng.integers(1, 1000)) * P, "time", note="stamp went backwards")
        elif what == "zero":
            self.valid_feature(0, "time", note="zero stamp")
        elif what == "negative":
            self.valid_feature(-int(rng.integers(1, 10**4)) * NS, "time", note="negative stamp")
        elif what == "gap":
            self.valid_feature(t + int(rng.integers(10, 40)) * P, "time", note="gap longer than the history")
        elif what == "resize":
            hw = ((3, 5), (1, 1), (2, 4), (4, 8))[int(rng.integers(4))]
            self.valid_feature(t + P, "time", hw=hw, note=f"feature map {hw[0]}x{hw[1]}")
        else:  # a burst: sent back to back (the node keeps only the newest job); the last one must be answered
            n = int(rng.integers(5, 20))
            for i in range(n):
                self.valid_feature(t + (i + 1) * P, "time", wait=i == n - 1, note="burst")

    # --- label maps for the forecast node's online score ------------------------------------------------------------
    def labels_case(self) -> None:
        rng = self.rng
        h, w = self.small_size(1, 40)
        kind = _pick(rng, ("ids", "encoding", "data_size", "size", "huge", "valid"))
        stamp = self.feature_clock + int(rng.integers(-20, 20)) * self.spec.period_ns
        labels = rng.integers(0, 19, (h, w), dtype=np.uint8)
        fields = {"encoding": "mono8", "height": h, "width": w, "step": w, "data": labels.tobytes(), "is_bigendian": 0,
                  "stamp_ns": stamp}
        if kind == "ids":
            labels[rng.integers(0, h), rng.integers(0, w)] = int(rng.integers(19, 255))
            fields["data"] = labels.tobytes()
        elif kind == "encoding":
            fields.update(encoding=_pick(rng, ("rgb8", "16UC1", "32FC1", "")))
        elif kind == "data_size":
            fields["data"] = fields["data"][: int(rng.integers(0, h * w))]
        elif kind == "size":
            fields.update(height=0, width=0, step=0, data=b"")
        elif kind == "huge":
            fields.update(height=100_000, width=100_000, step=100_000)
        outcome = EITHER if kind == "valid" else REJECT
        self.add("labels", f"labels_{kind}", outcome, fields, None if kind == "valid" else "labels",
                 note=f"{w}x{h} {kind}")

    def generate(self, n: int) -> list[FuzzCase]:
        targets = list(self.spec.targets)
        weights = np.asarray([self.spec.targets[t] for t in targets], float)
        make = {"image": self.image_case, "compressed": self.compressed_case, "features": self.feature_case,
                "labels": self.labels_case}
        while len(self.cases) < n:
            make[targets[int(self.rng.choice(len(targets), p=weights / weights.sum()))]]()
        return self.cases


def generate_cases(n: int, spec: FuzzSpec, seed: int = 0) -> list[FuzzCase]:
    """At least ``n`` cases (an episode of time cases may overshoot by a few), reproducible for one ``seed``."""
    return _Generator(spec, seed).generate(n)


def case_counts(cases: list[FuzzCase]) -> dict[str, Counter]:
    """{target: Counter(kind)} -- how many cases of each problem kind go to each node."""
    out: dict[str, Counter] = {}
    for c in cases:
        out.setdefault(c.target, Counter())[c.kind] += 1
    return out
