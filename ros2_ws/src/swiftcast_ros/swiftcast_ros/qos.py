"""QoS profiles of the SwiftCast topics: best-effort sensor input, reliable output, latched info."""

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

#: Camera input: best effort, depth 1, so a slow consumer drops stale frames instead of queueing a backlog.
#: (A best-effort subscription also matches reliable publishers.)
SENSOR_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.BEST_EFFORT,
    durability=DurabilityPolicy.VOLATILE,
)

#: Camera frames kept as history (the forecast node's optical flow): best effort like the camera input, but deep
#: enough that frames are not lost while the executor is busy for a moment: every one of them may be the t or
#: the past frame of a later flow, and storing one is cheap.
FRAME_HISTORY_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
    reliability=ReliabilityPolicy.BEST_EFFORT,
    durability=DurabilityPolicy.VOLATILE,
)

#: Outputs (labels, overlays, features, forecasts): reliable; a small depth bounds memory for slow readers.
OUTPUT_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=5,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)

#: Published once, kept for late subscribers (LabelInfo).
LATCHED_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)

#: /diagnostics, as diagnostic_updater publishes it.
DIAGNOSTICS_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
