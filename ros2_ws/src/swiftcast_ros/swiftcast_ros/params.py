"""Parameters declared with descriptors (type, range, choices, description) and validated the same way at start
and on every later update.

At start a bad value raises :class:`ParameterError` (a SwiftcastError) whose one-line message names the parameter,
its value and what is allowed; the entry wrapper prints it and exits non-zero. Later updates
(``ros2 param set`` or a SetParameters call) run through the same checks and are rejected with that text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType
from rcl_interfaces.msg import SetParametersResult
from rclpy.exceptions import (
    InvalidParameterTypeException,
    InvalidParameterValueException,
    ParameterUninitializedException,
)
from rclpy.node import Node
from rclpy.parameter import Parameter

from swiftcast.errors import SetupError, SwiftcastError

_TYPE_NAMES = {
    ParameterType.PARAMETER_BOOL: "a bool (true/false)",
    ParameterType.PARAMETER_INTEGER: "an integer",
    ParameterType.PARAMETER_DOUBLE: "a double (write 1.0, not 1)",
    ParameterType.PARAMETER_STRING: "a string",
    ParameterType.PARAMETER_INTEGER_ARRAY: "a list of integers",
    ParameterType.PARAMETER_DOUBLE_ARRAY: "a list of doubles",
    ParameterType.PARAMETER_STRING_ARRAY: "a list of strings",
}


class ParameterError(SwiftcastError):
    """A parameter value that cannot work; the message names the parameter."""


@dataclass
class ParamSpec:
    """One parameter: its default, what it means and what values are allowed.

    ``check(value)`` may raise ValueError/SwiftcastError with a short "what is wrong" text for rules a descriptor
    cannot express. ``type`` is needed only when the default does not show it (an empty integer list).
    """

    name: str
    default: Any
    description: str
    choices: Sequence[Any] | None = None
    range: tuple[float, float] | None = None
    read_only: bool = False
    check: Callable[[Any], None] | None = None
    type: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def param_type(self) -> int:
        if self.type is not None:
            return self.type
        return Parameter.Type.from_parameter_value(self.default).value

    def descriptor(self) -> ParameterDescriptor:
        text = self.description
        if self.choices:
            text += f" One of: {', '.join(map(str, self.choices))}."
        desc = ParameterDescriptor(
            name=self.name, type=self.param_type(), description=text, read_only=self.read_only
        )
        if self.range is not None:
            lo, hi = self.range
            if desc.type == ParameterType.PARAMETER_INTEGER:
                desc.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=0)]
            else:
                desc.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]
        return desc

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not allowed (None if it is), beyond the descriptor's type check."""
        if self.choices is not None and value not in self.choices:
            return f"must be one of {', '.join(map(str, self.choices))}"
        if self.range is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
            lo, hi = self.range
            if not lo <= value <= hi:
                return f"out of range [{lo}, {hi}]"
        if self.check is not None:
            try:
                self.check(value)
            except (ValueError, SwiftcastError) as exc:
                return str(exc)
        return None


def check_topic_name(value: str) -> None:
    """A ``check`` for topic parameters: rcl's own rules (else the subscription fails later, with a traceback)."""
    from rclpy.exceptions import InvalidTopicNameException
    from rclpy.validate_topic_name import validate_topic_name

    try:
        validate_topic_name(value)
    except InvalidTopicNameException as exc:
        raise ValueError(str(exc).splitlines()[0].rstrip(":")) from None


def _error(spec: ParamSpec, value: Any, problem: str) -> ParameterError:
    return ParameterError(f"parameter '{spec.name}' = {value!r}: {problem}")


def parameter_error(exc: SetupError, values: Mapping[str, Any]) -> ParameterError:
    """A core runtime's refusal of its settings, as the one-line error naming the node parameter(s) to fix."""
    named = ", ".join(f"'{name}' = {values.get(name)!r}" for name in exc.settings)
    return ParameterError(f"parameter{'s' if len(exc.settings) > 1 else ''} {named}: {exc}")


def declare_parameters(node: Node, specs: Iterable[ParamSpec]) -> dict[str, Any]:
    """Declare every spec on ``node`` and return the validated values; ParameterError on the first bad one."""
    values: dict[str, Any] = {}
    overrides = getattr(node, "_parameter_overrides", {})  # only to quote the bad value in the message
    for spec in specs:
        given = overrides[spec.name].value if spec.name in overrides else spec.default
        initial = spec.default if spec.type is None else Parameter.Type(spec.param_type())
        try:
            value = node.declare_parameter(spec.name, initial, spec.descriptor()).value
        except InvalidParameterTypeException:
            raise _error(spec, given, f"expected {_TYPE_NAMES.get(spec.param_type(), 'another type')}") from None
        except InvalidParameterValueException:
            raise _error(spec, given, spec.problem(given) or "not allowed") from None
        except ParameterUninitializedException:
            value = None
        if value is None:  # an array parameter left unset (rcl cannot type an empty list)
            value = spec.default
        problem = spec.problem(value)
        if problem:
            raise _error(spec, value, problem)
        values[spec.name] = value
    return values


def validate_update(specs: Iterable[ParamSpec], params: Sequence[Parameter]) -> SetParametersResult:
    """An ``add_on_set_parameters_callback`` check: the same rules as at start for every changed parameter."""
    by_name = {s.name: s for s in specs}
    for p in params:
        spec = by_name.get(p.name)
        if spec is None:
            continue
        value = p.value if p.type_ != Parameter.Type.NOT_SET else spec.default
        problem = spec.problem(value)
        if problem:
            return SetParametersResult(successful=False, reason=str(_error(spec, value, problem)))
    return SetParametersResult(successful=True)


def updated_values(specs: Iterable[ParamSpec], params: Sequence[Parameter]) -> dict[str, Any]:
    """The values an accepted update sets, by name; a parameter reset to NOT_SET (an array parameter cleared)
    reads as its default, as it does at start."""
    by_name = {s.name: s for s in specs}
    return {p.name: p.value if p.type_ != Parameter.Type.NOT_SET else by_name[p.name].default
            for p in params if p.name in by_name}
