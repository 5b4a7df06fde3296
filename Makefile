# pneumonia_tf: one command per job. Everything runs inside .venv (made by `make install`).
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
PROFILE ?= smoke
DATA    ?=
SEEDS   ?= 1
DATA_ARG = $(if $(DATA),--data $(DATA),)
export TF_CPP_MIN_LOG_LEVEL ?= 2

STUDIES := table1 transfer seed000 seed001 seed003
.PHONY: install test test-slow cam-check summary bench clean $(addprefix reproduce-,$(STUDIES))

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

install: $(PY)
	$(PY) -m pip install -q -c constraints.txt -e ".[test]"
	@$(PY) -c "import tensorflow as tf, keras; print('installed: tensorflow', tf.__version__, 'keras', keras.__version__)"

test:
	$(PY) -m pytest -q

test-slow:
	$(PY) -m pytest -q -m slow

# make reproduce-table1 [PROFILE=smoke|quick|paper] [DATA=path] [SEEDS=N]; likewise every study
$(addprefix reproduce-,$(STUDIES)): reproduce-%:
	$(PY) -m pneumonia_tf.reproduce $* --profile $(PROFILE) $(DATA_ARG) --seeds $(SEEDS)
	$(PY) -m pneumonia_tf.results $* --profile $(PROFILE) --check

# Grad-CAM localization on the phantom (issue 4): train experiments/phantom_cam.toml, then score its maps
cam-check:
	$(PY) -m pneumonia_tf.train --config experiments/phantom_cam.toml --out runs/phantom_cam
	$(PY) -m pneumonia_tf.cam score --run runs/phantom_cam --n 100

summary:
	$(PY) -m pneumonia_tf.data summary --data $(or $(DATA),synthetic)

clean:
	rm -rf runs results .pytest_cache generated/*-smoke
