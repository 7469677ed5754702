"""Headless OpenGL renderer (moderngl on EGL/llvmpipe): one pass, RGB + exact integer class mask.

Why this design (measured): llvmpipe with integer render targets is the
fastest CPU option, and a depth-tested pass writing ``class + 1`` as a flat integer varying into an 8-bit unsigned
attachment gives exact masks by construction (no MSAA, no blending on the id target). Every template is drawn
instanced; per-frame instance data (matrix, colour, texture, class, flags) is rewritten each frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from swiftcast.data.labels import IGNORE_ID, NUM_CLASSES
from swiftcast.errors import SwiftcastError
from swiftcast.synth.meshes import TEMPLATE_NAMES, TEX, TEXTURE_SIZE, texture_stack, templates

#: floats per instance: matrix (16, column major), colour (3), texture layer, class, flags, texture tile (metres)
INSTANCE_FLOATS = 23
#: floats per ground vertex: position (3), normal (3), uv (2), colour (3), texture layer, class, flags
GROUND_FLOATS = 14

FLAG_EMISSIVE = 1.0  # no shading (lamps)
FLAG_SKY = 4.0  # sky dome: colour from the sky uniforms
_CLOUD_LAYER = TEX["clouds"]

_COMMON_OUT = """
out vec3 v_world; out vec3 v_normal; out vec2 v_uv; out vec3 v_color;
flat out float v_tex; flat out uint v_cls; flat out int v_flags;
"""

_VS_INSTANCED = """
#version 330
in vec3 in_pos; in vec3 in_normal; in vec3 in_ua; in vec3 in_ub;
in vec4 i_m0; in vec4 i_m1; in vec4 i_m2; in vec4 i_m3;
in vec3 i_color; in float i_tex; in float i_cls; in float i_flags; in float i_tile;
uniform mat4 u_viewproj;
""" + _COMMON_OUT + """
void main() {
    mat4 M = mat4(i_m0, i_m1, i_m2, i_m3);
    vec3 sc = vec3(length(i_m0.xyz), length(i_m1.xyz), length(i_m2.xyz));
    vec4 w = M * vec4(in_pos, 1.0);
    v_world = w.xyz;
    v_normal = mat3(M) * (in_normal / (sc * sc));
    vec3 lp = in_pos * sc;
    // vertical faces take v from world height, so building floors line up with the ground
    float v = in_ub.y > 0.5 ? w.y : dot(lp, in_ub);
    v_uv = vec2(dot(lp, in_ua), v) / i_tile;
    v_color = i_color;
    v_tex = i_tex;
    v_cls = uint(i_cls + 0.5);
    v_flags = int(i_flags + 0.5);
    gl_Position = u_viewproj * w;
}
"""

_VS_GROUND = """
#version 330
in vec3 in_pos; in vec3 in_normal; in vec2 in_uv; in vec3 in_color; in float in_tex; in float in_cls; in float in_flags;
uniform mat4 u_viewproj;
""" + _COMMON_OUT + """
void main() {
    v_world = in_pos;
    v_normal = in_normal;
    v_uv = in_uv;
    v_color = in_color;
    v_tex = in_tex;
    v_cls = uint(in_cls + 0.5);
    v_flags = int(in_flags + 0.5);
    gl_Position = u_viewproj * vec4(in_pos, 1.0);
}
"""

_FS_HEAD = """
#version 330
in vec3 v_world; in vec3 v_normal; in vec2 v_uv; in vec3 v_color;
flat in float v_tex; flat in uint v_cls; flat in int v_flags;
uniform sampler2DArray u_tex;
uniform vec3 u_cam; uniform vec3 u_sun_dir; uniform vec3 u_sun; uniform vec3 u_ambient;
uniform vec3 u_fog; uniform float u_fog_density;
uniform vec3 u_sky_zenith; uniform vec3 u_sky_horizon; uniform float u_clouds; uniform float u_cloud_layer;
uniform vec3 u_gain; uniform float u_gamma; uniform float u_vignette; uniform vec2 u_size;
layout(location = 0) out vec4 f_color;
layout(location = 1) out uint f_cls;

// camera response: exposure x white balance, gamma, vignetting (cheaper here than on the CPU afterwards)
vec4 camera(vec3 c) {
    vec2 q = (gl_FragCoord.xy - 0.5 * u_size) / (0.5 * u_size.x);
    vec3 v = pow(clamp(c * u_gain, 0.0, 1.0), vec3(u_gamma));
    return vec4(v * (1.0 - u_vignette * dot(q, q)), 1.0);
}
"""

# Separate programs on purpose: llvmpipe shades both sides of a branch, so surfaces and the sky get their own small
# fragment shaders (no `discard` anywhere either: it would turn off early depth rejection).
_FS_SURFACE = _FS_HEAD + """
void main() {
    float t = texture(u_tex, vec3(v_uv, v_tex)).r;
    vec3 base = v_color * t;
    vec3 n = normalize(v_normal);
    if (!gl_FrontFacing) n = -n;
    vec3 lit = base * (u_ambient * (0.7 + 0.3 * n.y) + u_sun * max(dot(n, u_sun_dir), 0.0));
    vec3 c = (v_flags & 1) != 0 ? base : lit;
    float dist = length(v_world - u_cam);
    c = mix(c, u_fog, 1.0 - exp(-dist * u_fog_density));
    f_color = camera(c);
    f_cls = v_cls + 1u;
}
"""

_FS_SKY = _FS_HEAD + """
void main() {
    vec3 d = normalize(v_world - u_cam);
    float e = clamp(d.y, 0.0, 1.0);
    vec3 c = mix(u_sky_horizon, u_sky_zenith, sqrt(e));
    vec2 cuv = d.xz / (d.y + 0.08) * 0.35;
    float cl = texture(u_tex, vec3(cuv, u_cloud_layer)).r * u_clouds * smoothstep(0.0, 0.15, d.y);
    c = mix(c, vec3(0.95) * (0.6 + 0.4 * u_sun), cl);
    c += u_sun * 0.5 * pow(max(dot(d, u_sun_dir), 0.0), 60.0);
    f_color = camera(c);
    f_cls = v_cls + 1u;
}
"""


@dataclass
class Lighting:
    """Per-frame shading uniforms (colours are linear-ish RGB in 0..1)."""

    sun_dir: np.ndarray
    sun: np.ndarray
    ambient: np.ndarray
    fog: np.ndarray
    fog_density: float
    gain: np.ndarray  # exposure x white balance (3,)
    sky_zenith: np.ndarray
    sky_horizon: np.ndarray
    clouds: float
    gamma: float = 1.0
    vignette: float = 0.0


@dataclass
class FrameDraw:
    """Everything the renderer needs for one frame."""

    view_proj: np.ndarray  # (4, 4) row-major world -> clip
    camera: np.ndarray  # (3,) camera centre in world coordinates
    instances: dict[int, np.ndarray]  # template index -> (n, INSTANCE_FLOATS) float32
    lighting: Lighting
    ground_ranges: list[tuple[int, int]] | None = None  # (first vertex, count) of the ground mesh; None = all


def perspective(fx: float, fy: float, cx: float, cy: float, width: int, height: int,
                near: float, far: float) -> np.ndarray:
    """OpenGL projection for OpenCV-convention intrinsics (pixel centres at integers, y down in the image)."""
    p = np.zeros((4, 4))
    p[0, 0] = 2 * fx / width
    p[0, 2] = -(2 * (cx + 0.5) / width - 1)
    p[1, 1] = 2 * fy / height
    p[1, 2] = 1 - 2 * (cy + 0.5) / height
    p[2, 2] = -(far + near) / (far - near)
    p[2, 3] = -2 * far * near / (far - near)
    p[3, 2] = -1
    return p


def create_context():
    """A headless EGL context; a clear error instead of a driver traceback when Mesa EGL is missing."""
    import moderngl

    try:
        return moderngl.create_standalone_context(backend="egl")
    except Exception as exc:  # noqa: BLE001 - any EGL failure means the same thing to the user
        raise SwiftcastError(
            f"cannot create a headless OpenGL (EGL) context ({exc}); install Mesa EGL: "
            "apt-get install libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri (done by `make setup`)"
        ) from None


class Renderer:
    """Renders :class:`FrameDraw` scenes to (RGB uint8, trainId uint8) at a fixed size."""

    def __init__(self, height: int, width: int):
        import moderngl

        self.height, self.width = int(height), int(width)
        self.ctx = create_context()
        ctx = self.ctx
        self.progs = {
            "opaque": ctx.program(vertex_shader=_VS_INSTANCED, fragment_shader=_FS_SURFACE),
            "sky": ctx.program(vertex_shader=_VS_INSTANCED, fragment_shader=_FS_SKY),
            "ground": ctx.program(vertex_shader=_VS_GROUND, fragment_shader=_FS_SURFACE),
        }
        texs = texture_stack()
        self.texture = ctx.texture_array((TEXTURE_SIZE, TEXTURE_SIZE, len(texs)), 1, texs.tobytes())
        self.texture.build_mipmaps()
        self.texture.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
        self.texture.repeat_x = self.texture.repeat_y = True
        self.texture.use(0)
        for prog in self.progs.values():
            if "u_tex" in prog:
                prog["u_tex"].value = 0
        self._vaos: dict[tuple[str, int], tuple] = {}
        tpls = templates()
        for idx, name in enumerate(TEMPLATE_NAMES):
            vbo = ctx.buffer(tpls[name].vertices.tobytes())
            for kind in ("opaque", "sky"):
                ibo = ctx.buffer(reserve=INSTANCE_FLOATS * 4 * 64, dynamic=True)
                vao = ctx.vertex_array(self.progs[kind], [
                    (vbo, "3f 3f 3f 3f", "in_pos", "in_normal", "in_ua", "in_ub"),
                    (ibo, "4f 4f 4f 4f 3f 1f 1f 1f 1f/i", "i_m0", "i_m1", "i_m2", "i_m3", "i_color", "i_tex", "i_cls",
                     "i_flags", "i_tile"),
                ], skip_errors=True)
                self._vaos[kind, idx] = (vao, ibo, len(tpls[name].vertices))
        self._ground = None
        self._ground_key = None
        self.color_rb = ctx.renderbuffer((self.width, self.height), 4)
        self.cls_rb = ctx.renderbuffer((self.width, self.height), 1, dtype="u1")
        self.depth_rb = ctx.depth_renderbuffer((self.width, self.height))
        self.fbo = ctx.framebuffer([self.color_rb, self.cls_rb], self.depth_rb)
        # class 0 in the id target means "nothing drawn": map it to sky
        self._cls_lut = np.full(256, IGNORE_ID, dtype=np.uint8)
        self._cls_lut[0] = 10
        self._cls_lut[1:NUM_CLASSES + 1] = np.arange(NUM_CLASSES, dtype=np.uint8)

    def set_ground(self, key: object, vertices: np.ndarray) -> None:
        """Upload the static ground mesh (roads, sidewalks, ...) once per world."""
        if self._ground_key is key:
            return
        if self._ground is not None:
            self._ground[0].release()
            self._ground[1].release()
        vbo = self.ctx.buffer(np.ascontiguousarray(vertices, dtype=np.float32).tobytes())
        vao = self.ctx.vertex_array(self.progs["ground"], [
            (vbo, "3f 3f 2f 3f 1f 1f 1f", "in_pos", "in_normal", "in_uv", "in_color", "in_tex", "in_cls", "in_flags"),
        ])
        self._ground = (vao, vbo, len(vertices))
        self._ground_key = key

    def _set_uniforms(self, frame: FrameDraw) -> None:
        lit = frame.lighting
        vp = np.ascontiguousarray(frame.view_proj.T, dtype=np.float32).tobytes()
        for prog in self.progs.values():
            prog["u_viewproj"].write(vp)
            for name, value in (("u_cam", frame.camera), ("u_sun_dir", lit.sun_dir), ("u_sun", lit.sun),
                                ("u_ambient", lit.ambient), ("u_fog", lit.fog), ("u_sky_zenith", lit.sky_zenith),
                                ("u_sky_horizon", lit.sky_horizon), ("u_gain", lit.gain),
                                ("u_size", (self.width, self.height))):
                if name in prog:
                    prog[name].value = tuple(float(v) for v in value)
            for name, value in (("u_fog_density", lit.fog_density), ("u_gamma", lit.gamma),
                                ("u_vignette", lit.vignette), ("u_clouds", lit.clouds),
                                ("u_cloud_layer", float(_CLOUD_LAYER))):
                if name in prog:
                    prog[name].value = float(value)

    def render(self, frame: FrameDraw) -> tuple[np.ndarray, np.ndarray]:
        """Draw one frame; returns (RGB uint8 (H, W, 3), trainIds uint8 (H, W)), rows top to bottom."""
        import moderngl

        ctx = self.ctx
        self.fbo.use()
        self.fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        ctx.enable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        self._set_uniforms(frame)
        # objects first (instance lists), then the ground, then the sky: early depth rejection then skips
        # shading most hidden ground and sky fragments
        sky = []
        for idx, data in frame.instances.items():
            is_sky = (data[:, 16 + 5].astype(np.int32) & int(FLAG_SKY)) != 0
            if is_sky.any():
                sky.append((idx, data[is_sky]))
                data = data[~is_sky]
            self._draw("opaque", idx, data)
        if self._ground is not None:
            for first, count in frame.ground_ranges or [(0, self._ground[2])]:
                if count > 0:
                    self._ground[0].render(moderngl.TRIANGLES, vertices=count, first=first)
        for idx, data in sky:
            self._draw("sky", idx, data)
        w, h = self.width, self.height
        rgb = np.frombuffer(self.fbo.read(components=3, attachment=0), dtype=np.uint8).reshape(h, w, 3)[::-1]
        cls = np.frombuffer(self.fbo.read(components=1, attachment=1, dtype="u1"), dtype=np.uint8).reshape(h, w)[::-1]
        return np.ascontiguousarray(rgb), self._cls_lut[cls]

    def _draw(self, kind: str, idx: int, data: np.ndarray) -> None:
        import moderngl

        if len(data) == 0:
            return
        vao, ibo, nverts = self._vaos[kind, idx]
        raw = np.ascontiguousarray(data, dtype=np.float32).tobytes()
        if len(raw) > ibo.size:
            ibo.orphan(len(raw) * 2)
        ibo.write(raw)
        vao.render(moderngl.TRIANGLES, vertices=nverts, instances=len(data))

    def release(self) -> None:
        self.ctx.release()

