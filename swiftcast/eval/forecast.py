"""The semantic-forecasting protocol of Šarić et al. (GCPR 2019) on a val split (``swiftcast eval-forecast``).

For every val sequence the 20th frame (index 19) is the target. Short term: the features of frames 8, 11, 14, 17
(1-based) forecast frame 20; mid term: frames 2, 5, 8, 11 (see :mod:`swiftcast.forecast.protocol`). Every method
produces SPP features of the target frame, which the segmentation model's skip-less decoder turns into labels exactly as the forecast
node does (:func:`swiftcast.forecast.forecaster.decode_labels`: decoded for the model's input size, argmax at the
decoder's output stride, nearest-neighbour resize to the ground truth's resolution):

* ``Oracle``: the true features of the target frame (the upper bound: the skip-less single-frame model);
* ``Copy last``: the features of frame t (the newest observed frame) stand for the target;
* every forecaster checkpoint: F2F applied to the four past feature maps; F2MF checkpoints forecast labels
  themselves, from the past features and the single-frame labels of frame t (cached with the features), on the
  decoder's stride-4 grid (a :class:`FineMethod`; argmax and resize as for every other row).
* a forecaster whose -FT tuned a decoder of its own (``train-forecast --tune-decoder``) is decoded by it, and two
  more references come with it, the oracle and copy-last through that decoder (``Oracle, decoder of
  DeformF2F-8-FT (tuned decoder)``, ...): a tuned decoder also decodes the true features better or worse, which is
  not forecasting.

Two more references come from the full single-frame model (with its skip connections: what the semseg node
publishes), run on the images: ``Copy last (single frame)``, its labels of frame t standing for the target (what a
user without forecasting gets), and ``Oracle (single frame)``, its labels of the target frame itself. ``Flow
extrapolation`` carries the labels of frame t on along the optical flow from frame t back to frame t-1
(:mod:`swiftcast.forecast.motion`): a forecaster without training, the forecast node's default.

Printed as the paper's table (rows = methods, columns = short mIoU, short mIoU-MO, mid mIoU, mid mIoU-MO) plus the
share of the copy-last -> oracle mIoU gap each method closes, once against the skip-less references and once
against the single-frame ones; written as JSON with one object per method and horizon (``miou``, ``miou_mo``,
``per_class``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
from tqdm import tqdm

from swiftcast.checkout import recorded_path
from swiftcast.data.cityscapes import Frame
from swiftcast.errors import DataError, SwiftcastError
from swiftcast.forecast.features import SequenceFeatures
from swiftcast.forecast.motion import DEFAULT_FLOW_WIDTH, DEFAULT_PRESET, DEFAULT_PROJECTION_WIDTH
from swiftcast.runtime.paths import DEFAULT_SEGMENTATION_CHECKPOINT
from swiftcast.forecast.protocol import HORIZONS, TARGET_INDEX, Window, get_horizon, protocol_window

ORACLE = "Oracle"
COPY_LAST = "Copy last"
SF_ORACLE = "Oracle (single frame)"
SF_COPY_LAST = "Copy last (single frame)"
#: the single-frame labels of frame t carried on along the optical flow from t back to t-1
#: (:mod:`swiftcast.forecast.motion`)
FLOW = "Flow extrapolation"
#: rows that are references, not forecasts (no gap share of their own)
REFERENCES = (ORACLE, COPY_LAST, SF_ORACLE, SF_COPY_LAST)


def own_decoder_references(label: str) -> tuple[str, str]:
    """The oracle and copy-last rows decoded by the decoder a forecaster's -FT tuned (``train-forecast
    --tune-decoder``): that decoder also decodes better or worse on its own, and only these rows tell its forecasting
    from its decoding."""
    return f"{ORACLE}, decoder of {label}", f"{COPY_LAST}, decoder of {label}"


def is_reference(row: str) -> bool:
    return row in REFERENCES or row.startswith(own_decoder_references(""))

#: (sequence features (T, C, h, w), protocol window) -> forecast features of the target frame (C, h, w)
Method = Callable[[torch.Tensor, Window], torch.Tensor]
#: (features (N, C, h, w), output size (H, W)) -> trainIds (N, H, W) uint8 (numpy array or tensor)
Decoder = Callable[[torch.Tensor, tuple[int, int]], "np.ndarray | torch.Tensor"]


class FineMethod:
    """A method that forecasts class scores (1, K, H, W) on the decoder's stride-4 grid itself, from the whole
    cached sequence (features and single-frame labels) and the window: F2MF, which warps frame t's labels."""

    def __init__(self, run: Callable[[SequenceFeatures, Window], torch.Tensor]) -> None:
        self.run = run

    def __call__(self, seq: SequenceFeatures, window: Window) -> torch.Tensor:
        return self.run(seq, window)


def oracle(features: torch.Tensor, window: Window) -> torch.Tensor:
    return features[window.target]


def copy_last(features: torch.Tensor, window: Window) -> torch.Tensor:
    return features[window.last]


@torch.no_grad()
def evaluate_protocol(
    sequences: Iterable[SequenceFeatures],
    label_of: Callable[[Frame], np.ndarray],
    decode: Decoder,
    methods: Mapping[str, Mapping[str, Method]],
    target_index: int = TARGET_INDEX,
    progress: bool = True,
) -> dict[str, dict[str, dict]]:
    """Score ``methods[name][horizon]`` on the protocol window of every sequence long enough to hold it.

    Returns ``{method: {horizon: metrics}}`` with :func:`swiftcast.metrics.summarize` dicts (plus
    ``num_sequences``). One confusion matrix per method and horizon accumulates over all sequences.
    """
    from swiftcast.metrics import ConfusionMeter
    from swiftcast.forecast.forecaster import labels_from_logits

    meters = {(m, h): ConfusionMeter() for m, per_h in methods.items() for h in per_h}
    windows = {h: protocol_window(get_horizon(h), target_index) for per_h in methods.values() for h in per_h}
    counted = 0
    sequences = list(sequences)
    for seq in tqdm(sequences, desc="eval-forecast", unit="seq", disable=not progress, leave=False):
        if len(seq.frames) <= target_index or min(min(w.inputs) for w in windows.values()) < 0:
            continue
        target = seq.frames[target_index]
        label = label_of(target)
        feats = seq.features.float()
        for (name, horizon), meter in meters.items():
            method = methods[name][horizon]
            if isinstance(method, FineMethod):
                labels = labels_from_logits(method(seq, windows[horizon]), tuple(label.shape))[0]
            else:
                labels = decode(method(feats, windows[horizon]).unsqueeze(0).float(), tuple(label.shape))
            meter.update(torch.as_tensor(labels[0]).cpu(), torch.from_numpy(label))
        counted += 1
    if counted == 0:
        raise DataError(f"no sequence has the {target_index + 1} frames the forecasting protocol needs")
    results: dict[str, dict[str, dict]] = {}
    for (name, horizon), meter in meters.items():
        summary = meter.summary()
        summary.pop("confusion", None)
        summary["num_sequences"] = counted
        results.setdefault(name, {})[horizon] = summary
    return results


@torch.no_grad()
def single_frame_rows(
    sequences: Iterable[SequenceFeatures],
    label_of: Callable[[Frame], np.ndarray],
    segment: Callable[[Frame], np.ndarray],
    horizons: Iterable[str],
    target_index: int = TARGET_INDEX,
    progress: bool = True,
    image_of: Callable[[Frame], np.ndarray] | None = None,
    flow_preset: str = DEFAULT_PRESET,
    flow_projection_width: int | None = DEFAULT_PROJECTION_WIDTH,
) -> dict[str, dict[str, dict]]:
    """The single-frame references on the protocol windows: ``segment(frame)`` (full-model trainIds of a frame;
    resized nearest-neighbour to the ground truth when their sizes differ) of the newest observed frame
    (:data:`SF_COPY_LAST`) and of the target (:data:`SF_ORACLE`), as ``{row: {horizon: metrics}}`` like
    :func:`evaluate_protocol`. Given ``image_of(frame)`` (RGB), also :data:`FLOW`: the labels of frame t carried on
    along the flow from t back to t-1 (and from t-1 to t-2), as the forecast node's ``flow`` method does (projected
    on a grid ``flow_projection_width`` wide, None: at the labels' size)."""
    from swiftcast.data.transforms import resize_label
    from swiftcast.forecast.motion import FLOW_SPAN_FRAMES, FlowExtrapolation
    from swiftcast.metrics import ConfusionMeter

    windows = {h: protocol_window(get_horizon(h), target_index) for h in horizons}
    rows = (SF_ORACLE, SF_COPY_LAST) + ((FLOW,) if image_of is not None else ())
    meters = {(row, h): ConfusionMeter() for row in rows for h in windows}
    flow = FlowExtrapolation(flow_preset, projection_width=flow_projection_width) if image_of is not None else None
    counted = 0
    for seq in tqdm(list(sequences), desc="single frame", unit="seq", disable=not progress, leave=False):
        if len(seq.frames) <= target_index or min(min(w.inputs) for w in windows.values()) < 0:
            continue
        label = label_of(seq.frames[target_index])

        def labels_of(frame: Frame) -> torch.Tensor:
            pred = segment(frame)
            return torch.from_numpy(pred if pred.shape == label.shape else resize_label(pred, label.shape))

        target, truth = labels_of(seq.frames[target_index]), torch.from_numpy(label)
        for h, window in windows.items():
            last = labels_of(seq.frames[window.last])
            meters[SF_ORACLE, h].update(target, truth)
            meters[SF_COPY_LAST, h].update(last, truth)
            if flow is not None:
                past = window.last - FLOW_SPAN_FRAMES
                before = past - FLOW_SPAN_FRAMES  # the past frame's own flow, as the node keeps it
                motion = flow.motion(image_of(seq.frames[window.last]), image_of(seq.frames[past]),
                                     window.last - past, image_of(seq.frames[before]) if before >= 0 else None,
                                     past - before)
                ahead = flow.forecast(last.numpy(), motion, window.target - window.last)
                meters[FLOW, h].update(torch.from_numpy(ahead), truth)
        counted += 1
    if counted == 0:
        raise DataError(f"no sequence has the {target_index + 1} frames the forecasting protocol needs")
    results: dict[str, dict[str, dict]] = {}
    for (row, h), meter in meters.items():
        summary = meter.summary()
        summary.pop("confusion", None)
        summary["num_sequences"] = counted
        results.setdefault(row, {})[h] = summary
    return results


def table_order(config: Mapping) -> tuple:
    """Sort key of a forecaster row: plain convs before deformable ones, MSE before -FT, the frozen decoder before a
    tuned one, fewer samples first."""
    training = config.get("training") or {}
    method = config.get("method", config.get("architecture", ""))
    return (method != "conv_f2f", method, bool(training.get("finetune")), bool(training.get("tune_decoder")),
            int(training.get("samples_per_seq") or 0))


#: below this oracle - copy-last difference (0.5 mIoU points) the share of the gap is noise over a near-zero
#: denominator, not a measurement: gap_closed says NaN and the table prints "n/a"
MIN_GAP = 0.005


def gap_closed(results: Mapping[str, Mapping[str, Mapping]], method: str, horizon: str, key: str = "miou",
               copy: str = COPY_LAST, oracle: str = ORACLE) -> float:
    """(method - copy-last) / (oracle - copy-last): the share of the copy-last -> oracle gap a method closes
    (NaN when the gap is under :data:`MIN_GAP`); ``copy``/``oracle`` name the reference rows (the skip-less ones by
    default, :data:`SF_COPY_LAST`/:data:`SF_ORACLE` for the single-frame gap)."""
    try:
        m, c, o = (results[n][horizon][key] for n in (method, copy, oracle))
    except KeyError:
        return math.nan
    if m is None or c is None or o is None or abs(o - c) < MIN_GAP:
        return math.nan
    return (m - c) / (o - c)


def format_table(results: Mapping[str, Mapping[str, Mapping]], horizons: Iterable[str] = tuple(HORIZONS)) -> str:
    """The paper's table: one row per method, mIoU / mIoU-MO (percent) per horizon, then the share of the gap
    closed against the skip-less references (``gap``) and, when their rows are there, the single-frame ones
    (``sf gap``)."""
    horizons = list(horizons)
    pct = lambda v: "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f}"  # noqa: E731
    gaps = [("gap", COPY_LAST, ORACLE, 11)]
    if SF_ORACLE in results and SF_COPY_LAST in results:
        gaps.append(("sf gap", SF_COPY_LAST, SF_ORACLE, 14))
    width = max(len(n) for n in results) + 2
    head = f"{'':<{width}}" + "".join(f"{h + ' mIoU':>12}{h + ' mIoU-MO':>15}" for h in horizons)
    head += "".join(f"{prefix + ' ' + h:>{w}}" for prefix, _, _, w in gaps for h in horizons)
    lines = [head, "-" * len(head)]
    for name, per_h in results.items():
        row = f"{name:<{width}}"
        for h in horizons:
            r = per_h.get(h, {})
            row += f"{pct(r.get('miou')):>12}{pct(r.get('miou_mo')):>15}"
        for _, copy, oracle, w in gaps:
            for h in horizons:
                g = gap_closed(results, name, h, copy=copy, oracle=oracle)
                cell = "" if is_reference(name) else "n/a" if math.isnan(g) else f"{g:.2f}"
                row += f"{cell:>{w}}"
        lines.append(row)
    for prefix, copy, oracle, _ in gaps:
        no_gap = [h for h in horizons if math.isnan(gap_closed(results, oracle, h, copy=copy, oracle=oracle))]
        if no_gap and oracle in results and copy in results:
            lines.append(f"{prefix} n/a ({', '.join(no_gap)}): {oracle.lower()} and {copy.lower()} are less than "
                         f"{100 * MIN_GAP:.1f} mIoU points apart, so a share of that gap would be noise")
    return "\n".join(lines)


def protocol_description(horizons: Iterable[str]) -> dict:
    """What the JSON records about the protocol (1-based frame numbers, as the paper writes them)."""
    out = {"target_frame": TARGET_INDEX + 1, "frame_numbering": "1-based", "horizons": {}}
    for h in horizons:
        hz = get_horizon(h)
        w = protocol_window(hz)
        out["horizons"][h] = {"frames_ahead": hz.frames, "milliseconds": round(hz.milliseconds, 1),
                              "input_frames": [i + 1 for i in w.inputs], "target_frame": w.target + 1}
    return out


@dataclass
class ForecastEvaluation:
    """The protocol's table (``results``: ``{row: {horizon: metrics}}``) and what it was measured on."""

    data: str | Path
    split: str
    horizons: list[str]
    results: dict[str, dict[str, dict]]
    seg_checkpoint: str
    seg_model_id: str
    decode_scale: float
    checkpoints: dict[str, dict[str, str]]  # forecaster row -> horizon -> checkpoint path
    flow_settings: dict | None = None  # how the flow extrapolation row was made (None: no such row)

    @property
    def num_sequences(self) -> int:
        return next(iter(next(iter(self.results.values())).values()))["num_sequences"]

    def headline(self) -> str:
        """One line: data, split, sequences, and the frames each horizon forecasts from."""
        return (f"Semantic forecasting on {self.data} ({self.split}, {self.num_sequences} sequences); target = frame "
                f"{TARGET_INDEX + 1}; "
                + "; ".join(f"{h}: t+{get_horizon(h).frames} from frames "
                            f"{', '.join(str(i + 1) for i in protocol_window(h).inputs)}" for h in self.horizons))

    def to_json(self) -> dict:
        """The JSON record: protocol, data, models, results and gap shares (NaN as null)."""
        results, horizons = self.results, self.horizons
        return {
            "protocol": protocol_description(horizons),
            "data": {"root": recorded_path(self.data), "split": self.split, "num_sequences": self.num_sequences},
            "seg_model": {"path": recorded_path(self.seg_checkpoint), "model_id": self.seg_model_id},
            "decode": {"scale": self.decode_scale, "labels": "argmax at the skip-less decoder's output stride 4, "
                       "nearest-neighbour resize to the ground truth (what the forecast node publishes)"},
            "results": results,
            "gap_closed": {m: {h: _nan_to_none(gap_closed(results, m, h)) for h in horizons}
                           for m in results if not is_reference(m)},
            "gap_closed_single_frame": {
                m: {h: _nan_to_none(gap_closed(results, m, h, copy=SF_COPY_LAST, oracle=SF_ORACLE))
                    for h in horizons} for m in results if not is_reference(m)},
            "checkpoints": {name: {h: recorded_path(p) for h, p in paths.items()}
                            for name, paths in self.checkpoints.items()},
            **({"flow_extrapolation": self.flow_settings} if self.flow_settings is not None else {}),
        }


def evaluate_forecasting(
    data: str | Path,
    *,
    seg_model: str | Path = DEFAULT_SEGMENTATION_CHECKPOINT,
    forecasters: Sequence[str | Path] | None = None,
    models_dir: str | Path = "models",
    split: str = "val",
    horizons: Sequence[str] = tuple(HORIZONS),
    decode_scale: float = 1.0,
    cache_dir: str | Path | None = None,
    device: str = "auto",
    flow: bool = True,
    flow_preset: str = DEFAULT_PRESET,
    flow_projection_width: int | None = DEFAULT_PROJECTION_WIDTH,
    progress: bool = True,
) -> ForecastEvaluation:
    """Every row of the protocol on a split of ``data``: the references, the flow extrapolation (``flow``) and the
    ``forecasters`` (default: every checkpoint under ``models_dir`` made for ``seg_model``)."""
    from swiftcast.forecast.decoder import load_forecast_decoder
    from swiftcast.forecast.features import load_features, load_segmenter
    from swiftcast.forecast.forecaster import (
        decode_labels,
        discover_forecasters,
        fine_decoder,
        forecaster_decoder,
        load_forecaster_checkpoint,
        method_label,
        needs_last_labels,
        predict_features,
        predict_fine,
    )

    horizons = list(horizons)
    if not 0.0 < decode_scale <= 1.0:
        raise SwiftcastError(f"--decode-scale must be in (0, 1], got {decode_scale}")
    segmenter = load_segmenter(seg_model, device)
    decoder, _ = load_forecast_decoder(segmenter.checkpoint, segmenter.device)
    seg_id = segmenter.model_id
    paths = forecasters if forecasters is not None else discover_forecasters(models_dir, seg_id)

    methods: dict[str, dict[str, Method]] = {ORACLE: {}, COPY_LAST: {}}
    sources: dict[str, dict[str, str]] = {}
    for h in horizons:
        methods[ORACLE][h] = oracle
        methods[COPY_LAST][h] = copy_last
    loaded = [(path, *load_forecaster_checkpoint(path, expected_feature_model_id=seg_id, device=segmenter.device))
              for path in paths]
    loaded.sort(key=lambda item: table_order(item[2]))  # the paper's row order: ConvF2F, DeformF2F-8, -FT, ...

    def through(decode_with: torch.nn.Module, method: Method) -> FineMethod:
        """A feature-level method decoded by ``decode_with`` (a forecaster's own tuned decoder) to stride-4 logits."""
        decode = fine_decoder(decode_with, segmenter.input_size, decode_scale)
        return FineMethod(lambda seq, window: decode(
            method(seq.features.float(), window).unsqueeze(0).to(segmenter.device)))

    for path, net, config in loaded:
        horizon = get_horizon(int(config["horizon_frames"])).name
        if horizon not in horizons:
            continue
        label = method_label(config)
        if horizon in methods.get(label, {}):  # two checkpoints with the same description: tell them apart
            label = f"{label} [{Path(path).name}]"

        own = forecaster_decoder(path, config, decoder, segmenter.device)

        def run(features: torch.Tensor, window: Window, net=net) -> torch.Tensor:
            past = features[list(window.inputs)].unsqueeze(0).to(segmenter.device)
            return predict_features(net, past)[0]

        def run_fine(seq: SequenceFeatures, window: Window, net=net, own=own) -> torch.Tensor:
            past = seq.features[list(window.inputs)].float().unsqueeze(0).to(segmenter.device)
            last = seq.labels[window.last].unsqueeze(0).to(segmenter.device)
            return predict_fine(net, own, past, last, segmenter.input_size, decode_scale)

        if needs_last_labels(config):
            methods.setdefault(label, {})[horizon] = FineMethod(run_fine)
        elif own is not decoder:  # its features mean little to another decoder than the one tuned with it
            methods.setdefault(label, {})[horizon] = through(own, run)
        else:
            methods.setdefault(label, {})[horizon] = run
        if own is not decoder:  # the references through that same decoder
            for row, reference in zip(own_decoder_references(label), (oracle, copy_last)):
                methods.setdefault(row, {})[horizon] = through(own, reference)
        sources.setdefault(label, {})[horizon] = str(path)

    # F2MF warps frame t's single-frame labels: only then does the feature cache need them
    with_labels = any(needs_last_labels(config) for _, _, config in loaded)
    feature_set = load_features(data, split, segmenter, cache_dir, progress=progress, with_labels=with_labels)

    def decode(features: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
        return decode_labels(decoder, features.to(segmenter.device), segmenter.input_size, size,
                             scale=decode_scale)[0]

    results = evaluate_protocol(feature_set.sequences, feature_set.label, decode, methods, progress=progress)
    index = {f.stem: i for i, f in enumerate(feature_set.dataset.frames)}

    def segment(frame: Frame) -> np.ndarray:
        """The full single-frame model's trainIds of a frame (what the semseg node publishes for it)."""
        return segmenter(feature_set.dataset.load(index[frame.stem])[0], want_features=False).labels

    def image_of(frame: Frame) -> np.ndarray:
        return feature_set.dataset.load(index[frame.stem])[0]

    single = single_frame_rows(feature_set.sequences, feature_set.label, segment, horizons,
                               progress=progress, image_of=image_of if flow else None, flow_preset=flow_preset,
                               flow_projection_width=flow_projection_width)
    results = {**{k: results[k] for k in (ORACLE, COPY_LAST)}, **single,
               **{k: v for k, v in results.items() if k not in (ORACLE, COPY_LAST)}}
    return ForecastEvaluation(data=data, split=split, horizons=horizons, results=results,
                              seg_checkpoint=segmenter.checkpoint, seg_model_id=seg_id, decode_scale=decode_scale,
                              checkpoints=sources,
                              flow_settings={"preset": flow_preset, "flow_width": DEFAULT_FLOW_WIDTH,
                                             "projection_width": flow_projection_width} if flow else None)


def _nan_to_none(v: float) -> float | None:
    return None if math.isnan(v) else v
