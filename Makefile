# pneumonia_tf: one command per job. Everything runs inside .venv (made by `make install`).
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
PROFILE ?= smoke
DATA    ?= synthetic
SEEDS   ?= 1
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install test test-slow summary bench clean

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

summary:
	$(PY) -m pneumonia_tf.data summary --data $(DATA)

bench:
	$(PY) -m pneumonia_tf.bench pipeline --data $(DATA) --size 128

clean:
	rm -rf runs results .pytest_cache
