# SwiftCast — every target is idempotent; `make setup` on a bare machine installs everything.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMPS := .stamps
WS := ros2_ws
WS_SOURCES := $(shell find $(WS)/src -type f -not -path '*/__pycache__/*' 2>/dev/null)
PYTEST_ARGS ?=

.PHONY: setup system-deps venv workspace test test-slow demo bench pareto lock clean help report-screenshot fuzz soak

help:
	@echo "make setup   install system libraries, .venv (core + ROS 2 wheels) and build ros2_ws"
	@echo "make demo    the main job: synthetic drive -> replay through the live stack -> out/demo/report.html"
	@echo "make test    the test suite (what CI runs)"
	@echo "make bench   speed/memory benchmarks (prints ratios measured in one run)"
	@echo "make fuzz    long fuzz run of the running nodes: FUZZ_CASES=20000 generated bad/valid inputs"
	@echo "make soak    SOAK_MINUTES=10 of a 30 Hz camera into the live stack: RSS, latency, drops, errors"
	@echo "make pareto  train SwiftNet and torchvision baselines with one recipe -> mIoU vs latency (long; resumable)"
	@echo "make report-screenshot   render out/demo/report.html to docs/img/report.png (headless Chromium)"

setup: $(STAMPS)/workspace

# --- system libraries: Mesa EGL for the headless renderer of the synthetic world --------------------------------
SYSTEM_PACKAGES := libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri
# headless Chromium: renders the replay report (tests/test_report_render.py, make report-screenshot)
SYSTEM_PACKAGES += chromium
$(STAMPS)/system:
	@mkdir -p $(STAMPS)
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "apt-get install $$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq $$missing; \
	fi
	@touch $@

# --- Python environment ------------------------------------------------------------------------------------------
$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade "pip>=24" "setuptools<80" wheel

$(STAMPS)/deps: requirements.lock $(STAMPS)/system | $(PY)
	@mkdir -p $(STAMPS)
	$(PIP) install -q --disable-pip-version-check "setuptools<80" -r requirements.lock
	tools/patch_ros_wheels.sh $(abspath $(VENV))
	@touch $@

$(STAMPS)/core: pyproject.toml $(STAMPS)/deps
	$(PIP) install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

venv: $(STAMPS)/core

# --- ROS 2 workspace (colcon, merge install) ---------------------------------------------------------------------
$(STAMPS)/workspace: $(STAMPS)/core $(WS_SOURCES)
	mkdir -p $(WS)/log && cd $(WS) && source ../tools/ros_env.sh && \
	  colcon --log-base log build --merge-install \
	    --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE=$(abspath $(PY)) > log/colcon-build.txt 2>&1 || \
	  { tail -40 log/colcon-build.txt; echo "colcon build failed (full log: $(WS)/log/colcon-build.txt)"; exit 1; }
	@touch $@

workspace: $(STAMPS)/workspace

# --- what users run ----------------------------------------------------------------------------------------------
test: setup
	source tools/ros_env.sh && $(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: setup
	source tools/ros_env.sh && $(PY) -m pytest -m slow $(PYTEST_ARGS)

demo: setup
	source tools/ros_env.sh && $(PY) -m swiftcast.demo --out out/demo

# the README's screenshot of the demo report (runs the demo first if there is no report yet)
report-screenshot: setup
	@test -f out/demo/report.html || $(MAKE) demo
	$(PY) -m swiftcast.replay.screenshot out/demo/report.html docs/img/report.png --size 1280x2000

# not in CI: the fuzz suite's long run and the soak run (results in benchmarks/results/)
FUZZ_CASES ?= 20000
SOAK_MINUTES ?= 10
fuzz: setup
	source tools/ros_env.sh && $(PY) benchmarks/fuzz_nodes.py --cases $(FUZZ_CASES)

soak: setup
	source tools/ros_env.sh && $(PY) benchmarks/soak.py --minutes $(SOAK_MINUTES) --rate 30 --size 256x512

bench: setup
	source tools/ros_env.sh && $(PY) -m benchmarks.run_all

# not part of bench: trains five models (PARETO_ARGS e.g. --iters 150 --threads 1; resumable per model)
PARETO_ARGS ?=
pareto: setup
	source tools/ros_env.sh && $(PY) benchmarks/pareto.py $(PARETO_ARGS)

lock:
	$(PY) tools/lock.py

clean:
	rm -rf $(WS)/build $(WS)/install $(WS)/log $(STAMPS)/workspace
