# pneumonia_tf: one command per job. Everything runs inside .venv (made by `make install`).
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
PROFILE ?= smoke
DATA    ?=
SEEDS   ?= 1
JOBS    ?=
SET     ?=
PYTEST_ARGS ?=
GPU     ?=
EXTRAS   = test,$(if $(filter 1 yes true,$(GPU)),gpu,cpu)
DATA_ARG = $(if $(DATA),--data $(DATA),)
SET_ARG  = $(if $(SET),--set $(SET),)
JOBS_ARG = $(if $(JOBS),--jobs $(JOBS),)
export TF_CPP_MIN_LOG_LEVEL ?= 2

# every experiments/*.toml with [cells] is a study (pneumonia_tf.experiments.studies)
STUDIES := $(basename $(notdir $(shell grep -l '^\[cells\]' experiments/*.toml)))
.PHONY: install test test-slow cam-check summary bench clean reproduce-all $(addprefix reproduce-,$(STUDIES))

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

install: $(PY)
	$(PY) -m pip install -q -c constraints.txt -e ".[$(EXTRAS)]"
	@$(PY) -c "import tensorflow as tf, keras; print('installed: tensorflow', tf.__version__, 'keras', keras.__version__, \
	'GPUs:', len(tf.config.list_physical_devices('GPU')))"

test:
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-slow:
	$(PY) -m pytest -q -m slow $(PYTEST_ARGS)

# make reproduce-table1 [PROFILE=smoke|quick|paper] [DATA=path] [SEEDS=N] [JOBS=N|auto (default: the profile's)] [SET="key=value ..."]; likewise
# every study. SET overrides a config key in every cell, e.g. SET=weights=none where ImageNet weights
# cannot be had (the table then says the bases were randomly initialised).
$(addprefix reproduce-,$(STUDIES)): reproduce-%:
	$(PY) -m pneumonia_tf.reproduce $* --profile $(PROFILE) $(DATA_ARG) --seeds $(SEEDS) $(JOBS_ARG) $(SET_ARG)
	$(PY) -m pneumonia_tf.results $* --profile $(PROFILE) --check

# every study, one after the other (CI: make reproduce-all PROFILE=smoke)
reproduce-all: $(addprefix reproduce-,$(STUDIES))

# the CAM methods on the phantom: train experiments/phantom_cam.toml, then print every method's trust scorecard
cam-check:
	$(PY) -m pneumonia_tf.train --config experiments/phantom_cam.toml --out runs/phantom_cam
	$(PY) -m pneumonia_tf.cam score --run runs/phantom_cam --n 100 --methods all

summary:
	$(PY) -m pneumonia_tf.data summary --data $(or $(DATA),synthetic)

clean:
	rm -rf runs results .pytest_cache generated/*-smoke
