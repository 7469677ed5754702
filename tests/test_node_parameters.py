"""Every declared parameter of both nodes is validated at start and on a dynamic update, with a message naming it.

In-process and without models (fast): a bare rclpy node declares the node's own ``PARAMS`` with the same
``declare_parameters`` the node runs, and gets the same ``validate_update`` callback the node registers. Each
parameter gets one bad value (semantic where one exists, else the wrong type); a parameter added later without
a case here still gets the wrong-type case, and the coverage test names it. Running nodes refusing a bad
checkpoint update while the old model serves: tests/test_semseg_node.py and tests/test_faults.py.
"""

from __future__ import annotations

import importlib

import pytest

from ros_utils import make_tiny_checkpoint

#: node package -> parameter -> (a bad value, text the message must contain)
BAD = {
    "semseg_node": {
        "checkpoint": ("/no/such/checkpoint", "not found"),
        "device": ("tpu", "device"),
        "backend": ("tensorrt", "must be one of"),
        "precision": ("fp8", "must be one of"),
        "input_size": ([64], "[H, W]"),
        "num_threads": (-1, "out of range"),
        "camera_topic": ("not a topic!", "topic"),
        "input_transport": ("theora", "must be one of raw, compressed"),
        "max_input_pixels": (0, "out of range"),
        "overlay_alpha": (1.5, "out of range"),
        "publish_overlay": ("yes", "expected a bool"),
        "publish_confidence": ("no", "expected a bool"),
        "publish_features": (1, "expected a bool"),
        "feature_dtype": ("int8", "must be one of"),
        "diagnostics_period_s": (0.0, "out of range"),
        "log_period_s": (-1.0, "out of range"),
    },
    "forecast_node": {
        "checkpoint": ("", "empty"),
        "horizons": (["short", "long"], "unknown horizon"),
        "short_checkpoint": ("/no/such/forecaster", "not found"),
        "mid_checkpoint": ("", "empty"),
        "models_dir": ("", "empty"),
        "camera_topic": ("not a topic!", "topic"),
        "input_transport": ("theora", "must be one of raw, compressed"),
        "flow_preset": ("slowest", "must be one of"),
        "flow_width": (8, "out of range"),
        "projection_width": (8, "at least 16"),
        "device": ("gpu0", "device"),
        "backend": ("tensorrt", "must be one of"),
        "num_threads": (1000, "out of range"),
        "frame_period_s": (0.0, "out of range"),
        "match_tolerance_s": (-0.1, "out of range"),
        "max_gap_s": (-0.1, "out of range"),
        "max_history": (2, "out of range"),
        "max_output_pixels": (0, "out of range"),
        "publish_overlay": ("no", "expected a bool"),
        "publish_confidence": (2, "expected a bool"),
        "decode_scale": (0.0, "out of range"),
        "score": ("true", "expected a bool"),
        "diagnostics_period_s": (100.0, "out of range"),
        "log_period_s": (-5.0, "out of range"),
    },
}


def _specs(package: str):
    pytest.importorskip("rclpy")
    try:
        return importlib.import_module(f"{package}.node").PARAMS
    except ImportError:
        pytest.skip("ros2_ws not built / not on the path (run via make test)")


def _wrong_type(spec):
    """A value of another type than the parameter's (rclpy refuses it: descriptors are statically typed)."""
    from rcl_interfaces.msg import ParameterType

    return 3 if spec.param_type() == ParameterType.PARAMETER_STRING else "not-a-number"


def _cases():
    out = []
    for package, bad in BAD.items():
        for name, (value, text) in bad.items():
            out.append(pytest.param(package, name, value, text, id=f"{package}.{name}"))
    return out


@pytest.fixture(scope="module")
def ros(tmp_path_factory):
    pytest.importorskip("rclpy")
    import rclpy

    context = rclpy.Context()
    rclpy.init(context=context)
    checkpoint = make_tiny_checkpoint(tmp_path_factory.mktemp("params") / "ckpt")
    yield context, checkpoint
    rclpy.try_shutdown(context=context)


def _node(ros, overrides):
    import rclpy
    from rclpy.parameter import Parameter

    context, checkpoint = ros
    params = [Parameter("checkpoint", value=str(checkpoint))] + [Parameter(k, value=v) for k, v in overrides.items()]
    return rclpy.create_node("param_audit", context=context, parameter_overrides=params)


@pytest.mark.parametrize("package", sorted(BAD))
def test_every_declared_parameter_has_a_bad_value_case(package):
    declared = {s.name for s in _specs(package)}
    missing = declared - set(BAD[package])
    assert not missing, f"{package}: parameters without a bad-value case here: {sorted(missing)}"


@pytest.mark.parametrize("package, name, value, text", _cases())
def test_bad_value_at_start_names_the_parameter(ros, package, name, value, text):
    from swiftcast_ros.params import ParameterError, declare_parameters

    specs = _specs(package)
    if name not in {s.name for s in specs}:
        pytest.skip(f"{package} has no parameter {name} (yet)")
    node = _node(ros, {name: value})
    try:
        with pytest.raises(ParameterError) as err:
            declare_parameters(node, specs)
        message = str(err.value)
        assert message.startswith(f"parameter '{name}' = ") and text in message, message
        assert "\n" not in message
    finally:
        node.destroy_node()


@pytest.mark.parametrize("package, name, value, text", _cases())
def test_bad_dynamic_update_is_rejected_naming_the_parameter(ros, package, name, value, text):
    """The same value set on a running node (after a valid start) is refused; the old value stays."""
    from rclpy.exceptions import ParameterUninitializedException
    from rclpy.parameter import Parameter
    from swiftcast_ros.params import declare_parameters, validate_update

    specs = _specs(package)
    if name not in {s.name for s in specs}:
        pytest.skip(f"{package} has no parameter {name} (yet)")
    node = _node(ros, {})
    try:
        values = declare_parameters(node, specs)
        node.add_on_set_parameters_callback(lambda params: validate_update(specs, params))
        spec = {s.name: s for s in specs}[name]
        for bad in (value, _wrong_type(spec)):
            result = node.set_parameters([Parameter(name, value=bad)])[0]
            assert not result.successful, (name, bad)
            if spec.read_only:
                assert name in result.reason and "read-only" in result.reason, result.reason
            elif Parameter(name, value=bad).type_.value != spec.param_type():
                # rclpy refuses another type before any callback runs; its message gives the type numbers only
                assert "Wrong parameter type" in result.reason, result.reason
            elif "out of range" in text:  # rclpy's own descriptor range check, naming the parameter
                assert name in result.reason and "out of range" in result.reason, result.reason
            else:  # our check: the same one-line message as at start
                assert result.reason.startswith(f"parameter '{name}' = ") and text in result.reason, result.reason
            try:
                current = node.get_parameter(name).value
            except ParameterUninitializedException:  # an array parameter left unset (still unset: fine)
                current = None
            assert current == values[name] or (current is None and values[name] == spec.default), (name, current)
    finally:
        node.destroy_node()


@pytest.mark.parametrize("value", ["auto", "fp32", "int8"])
def test_semseg_precision_values_are_accepted(ros, value):
    """precision auto (the default: int8 where the CPU has int8 dot products, else fp32) and the explicit values
    pass the parameter checks at start and as an update; the refusal of a bad value lists auto first."""
    from rclpy.parameter import Parameter
    from swiftcast_ros.params import declare_parameters, validate_update

    specs = _specs("semseg_node")
    spec = {s.name: s for s in specs}["precision"]
    assert spec.default == "auto" and list(spec.choices) == ["auto", "fp32", "int8"]
    node = _node(ros, {"precision": value})
    try:
        assert declare_parameters(node, specs)["precision"] == value
        node.add_on_set_parameters_callback(lambda params: validate_update(specs, params))
        for other in ("auto", "fp32", "int8", value):
            assert node.set_parameters([Parameter("precision", value=other)])[0].successful, other
        result = node.set_parameters([Parameter("precision", value="fp16")])[0]
        assert not result.successful and "auto, fp32, int8" in result.reason, result.reason
    finally:
        node.destroy_node()


def test_core_setup_errors_become_messages_naming_the_parameters(tmp_path):
    """The core runtimes refuse settings with a SetupError naming them; the node's error names the same parameters."""
    pytest.importorskip("rclpy")
    from swiftcast.errors import SetupError
    from swiftcast.runtime.segmenter import Segmenter

    try:
        from swiftcast_ros.params import parameter_error
    except ImportError:
        pytest.skip("ros2_ws not built / not on the path (run via make test)")
    settings = {"checkpoint": str(tmp_path / "missing"), "device": "cpu", "backend": "torch", "precision": "int8",
                "input_size": [], "feature_dtype": "float16", "num_threads": 1}
    assert set(settings) == set(Segmenter.SETTINGS)
    with pytest.raises(SetupError) as err:
        Segmenter.from_settings(settings)
    assert err.value.settings == ("precision",)
    assert str(parameter_error(err.value, settings)).startswith("parameter 'precision' = 'int8': precision int8 needs")
    with pytest.raises(SetupError) as err:
        Segmenter.from_settings({**settings, "precision": "fp32"})
    assert err.value.settings == ("checkpoint",)
    both = parameter_error(SetupError(("backend", "precision"), "no export"), settings)
    assert str(both) == "parameters 'backend' = 'torch', 'precision' = 'int8': no export"


def test_an_update_clearing_an_array_parameter_reads_as_its_default():
    specs = _specs("semseg_node")
    from rclpy.parameter import Parameter
    from swiftcast_ros.params import updated_values

    update = [Parameter("input_size", Parameter.Type.NOT_SET), Parameter("overlay_alpha", value=0.3),
              Parameter("not_ours", value=1)]
    assert updated_values(specs, update) == {"input_size": [], "overlay_alpha": 0.3}
