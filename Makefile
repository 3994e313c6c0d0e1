# vaekit — the two set-up commands are `make demo` and `make test`; `make bench` runs the benchmarks.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
VAEKIT := $(VENV)/bin/vaekit
DEMO   := runs/demo

.PHONY: demo test bench lint clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,molecules,onnx,serve,tracking,video]'
	$(PY) -m pip install --quiet --no-deps molsets==0.3.1  # MOSES data files; molsets' own pins do not build
	$(PY) -m pip install --quiet --no-deps -c constraints.txt sktime  # UCR/UEA time series files, read directly
	touch $@

demo: $(VENV)/.installed
	$(VAEKIT) train mnist --out $(DEMO) --preset seed --epochs 10 --batch-size 128 --lr 1e-3 \
		--binarize dynamic --overwrite
	$(VAEKIT) sample $(DEMO) --n 64 --out $(DEMO)/samples.png --overwrite
	$(VAEKIT) reconstruct $(DEMO) --data mnist --n 16 --out $(DEMO)/reconstructions.png --overwrite
	$(VAEKIT) interpolate $(DEMO) --data mnist --pair 0 1 --steps 10 --out $(DEMO)/interpolation.png --overwrite
	$(VAEKIT) interpolate $(DEMO) --data mnist --pair 0 1 --steps 16 --slerp --out $(DEMO)/interpolation.gif --overwrite
	$(VAEKIT) traverse $(DEMO) --dims 0,1,2,3,4,5,6,7 --range 3 --out $(DEMO)/traversal.png --overwrite
	$(VAEKIT) evaluate $(DEMO) --iw-samples 200
	$(VAEKIT) report $(DEMO)

test: $(VENV)/.installed
	$(PY) -m pytest

bench: $(VENV)/.installed
	$(PY) benchmarks/throughput.py --epochs 3 --out benchmarks/results
	$(PY) benchmarks/conv_layout.py --out benchmarks/results
	test -f $(DEMO)/config.json || $(MAKE) demo
	$(PY) benchmarks/eval_throughput.py --run $(DEMO) --n 1000 --k 1000 --out benchmarks/results
	$(PY) benchmarks/serve_load.py --run $(DEMO) --clients 64 --seconds 30 --out benchmarks/results  # wrk if installed
	$(PY) benchmarks/explorer_latency.py --run $(DEMO) --out benchmarks/results  # Playwright + Debian chromium
	$(PY) benchmarks/ddp_scaling.py --epochs 3 --out benchmarks/results
	$(PY) benchmarks/time_to_quality.py --presets seed,conv,best --minutes 10,10,60 --every 2,2,10 --out benchmarks/results
	$(PY) -m pip install --quiet -c constraints.txt -e '.[bench]'
	$(PY) benchmarks/anomaly_mnist.py --out benchmarks/results
	$(PY) benchmarks/anomaly_sets.py --out benchmarks/results
	$(PY) benchmarks/inpaint_mnist.py --run $(DEMO) --out benchmarks/results
	$(PY) benchmarks/impute_tables.py --out benchmarks/results
	$(PY) benchmarks/impute_mixed.py --out benchmarks/results
	$(PY) benchmarks/impute_intervals.py --out benchmarks/results
	$(PY) benchmarks/molecules_moses.py --out benchmarks/results  # trains runs/moses_seq (30 min) when absent
	$(PY) benchmarks/control.py --out benchmarks/results  # conditional VAEs, edits, disentanglement, tables (~1 h)
	$(PY) benchmarks/video_predict.py --out benchmarks/results  # trains runs/smm (75 min) when absent; 12 min
	$(PY) benchmarks/series_ucr.py --out benchmarks/results  # UCR: one-class anomaly detection, gap filling (~30 min)
	$(PY) benchmarks/out_of_core.py --rounds 3 --out benchmarks/results  # writes a .npy of 2x the free memory

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) runs .pytest_cache
