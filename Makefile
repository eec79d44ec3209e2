# wirescore: set-up, demo, tests, benchmarks. Every target installs what it needs.
PYTHON ?= python3
# the repository: targets work from any working directory (make -f PATH/Makefile ...)
ROOT   := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
VENV   ?= $(ROOT)/.venv
PY     := $(VENV)/bin/python
DEMO_PCAP := tests/data/pcaps/ndpi-synscan.pcap
DEMO_LOGS := demo-logs
SERVE_PORT ?= 8080

.PHONY: all install install-torch install-netml demo serve-demo test bench bench-short bench-baseline fuzz-smoke clean

all: demo

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip 'setuptools>=77'

# editable install: builds the Cython core (ext/) into src/wirescore/_core
install: $(PY)
	cd $(ROOT) && $(PY) -m pip install --quiet -e '.[test,train,serve,research]'

# PyTorch's CPU-only build, for `wirescore model export` of a torch model and its tests
# (tests/test_torch_export.py, which skip without it): only an exact "+cpu" build, so it
# can never pull the CUDA wheel and its several GB of nvidia-* packages. pip finds it
# where its configuration points (a wheel directory or PyTorch's CPU index: pyproject's
# torch extra); where none offers it, this says so and the torch tests skip.
TORCH_CPU ?= torch==2.13.0+cpu
install-torch: $(PY)
	@$(PY) -c 'import torch' 2>/dev/null \
	  || $(PY) -m pip install --quiet --only-binary=:all: '$(TORCH_CPU)' \
	  || echo "install-torch: no $(TORCH_CPU) wheel reachable; the torch export tests will skip"

# netml 0.7.1, the netml feature set's reference (tests/test_featureset_netml.py): its
# parser alone, which needs scapy and netaddr; without its pins (numpy 2.0, pandas 2.2,
# scikit-learn 1.5, pyod), which would downgrade the venv
NETML ?= netml==0.7.1 scapy~=2.5.0 netaddr~=1.3.0
install-netml: $(PY)
	@$(PY) -c 'import netml.pparser.parser' 2>/dev/null \
	  || $(PY) -m pip install --quiet --no-deps $(foreach p,$(NETML),'$(p)') \
	  || echo "install-netml: netml not reachable; the netml parity tests will skip"

demo: install
	rm -rf $(DEMO_LOGS)
	$(VENV)/bin/wirescore run -r $(DEMO_PCAP) -l $(DEMO_LOGS)
	@$(PY) -c "import json,collections; ev=[json.loads(l) for l in open('$(DEMO_LOGS)/eve.json')]; \
	n=collections.Counter(e['event_type'] for e in ev); print('--- $(DEMO_LOGS)/eve.json:', dict(n)); \
	c=collections.Counter((e['src_ip'],e['dest_ip']) for e in ev if e['event_type']=='flow'); \
	print('flows per (src, dest), top 3:', c.most_common(3)); \
	print('first flow event:', json.dumps([e for e in ev if e['event_type']=='flow'][0])); \
	al=[e for e in ev if e['event_type']=='alert']; \
	[print('alert', a['alert']['signature_id'], a.get('src_ip') and 'src_ip='+a['src_ip'] or 'dest_ip='+a.get('dest_ip',''), \
	'-', a['alert']['signature'], '|', '; '.join(a['alert']['metadata'].get('wirescore_features', []))) for a in al]"
	@echo "--- see it in a browser: make serve-demo (wirescore serve -l $(DEMO_LOGS), http://127.0.0.1:$(SERVE_PORT)/)"

# the demo's logs on the live dashboard (wirescore serve; Ctrl-C ends it)
serve-demo: demo
	$(VENV)/bin/wirescore serve -l $(DEMO_LOGS) --port $(SERVE_PORT)

# the suite and its references that are no extra: PyTorch's CPU build, netml's parser
test: install install-torch install-netml
	cd $(ROOT) && $(PY) -m pytest -q tests

# throughput suite (benchmarks/README.md): saved, then compared with the baseline;
# fails when the full/bare ratio fell by more than the tolerance (10 %)
bench: install
	cd $(ROOT) && $(PY) -m pytest benchmarks -q --benchmark-save=full
	cd $(ROOT) && $(PY) benchmarks/compare.py --mode full --tolerance 0.10

# the CI variant: small capture, few rounds; a loose tolerance (50 %) so that a busy
# CI machine does not fail it, while a broken or collapsed core still does
bench-short: install
	cd $(ROOT) && $(PY) -m pytest benchmarks -q --bench-short --benchmark-json=.bench-short.json
	cd $(ROOT) && $(PY) benchmarks/compare.py --current .bench-short.json --mode short \
		--tolerance 0.50

bench-baseline: install
	cd $(ROOT) && $(PY) -m pytest benchmarks -q --benchmark-save=full
	cd $(ROOT) && $(PY) benchmarks/compare.py --mode full --save-baseline

# fuzz smoke (tests/fuzz/README.md): the coverage-guided atheris targets (the core, the
# capture reader and BPF interpreter, then the TLS message parsers) on the core built
# with clang's ASAN + UBSan + Cython bounds checks, each for a fixed 25 s from a fixed seed;
# exits non-zero on a finding (crash, memory error or broken check). Needs clang; the
# core under test is built apart, in build/fuzz/asan/ (never over src/wirescore/_core).
FUZZ_SANITIZER ?= asan
FUZZ_SMOKE_SECONDS ?= 25
ATHERIS ?= atheris==3.0.0
fuzz-smoke: $(PY)
	@$(PY) -c 'import wirescore._core.flowtable' 2>/dev/null || $(MAKE) install
	$(PY) -m pip install --quiet '$(ATHERIS)' 'Cython>=3.0' 'setuptools>=77'
	$(PY) tests/fuzz/run.py --sanitizer $(FUZZ_SANITIZER) smoke --seconds $(FUZZ_SMOKE_SECONDS)
	$(PY) tests/fuzz/run.py --sanitizer $(FUZZ_SANITIZER) --target reader smoke --seconds $(FUZZ_SMOKE_SECONDS)
	$(PY) tests/fuzz/run.py --sanitizer $(FUZZ_SANITIZER) --target app smoke --seconds $(FUZZ_SMOKE_SECONDS)
	$(PY) tests/fuzz/run.py --sanitizer $(FUZZ_SANITIZER) --target msg_tls smoke --seconds $(FUZZ_SMOKE_SECONDS)
	$(PY) tests/fuzz/run.py --sanitizer $(FUZZ_SANITIZER) --target msg_win smoke --seconds $(FUZZ_SMOKE_SECONDS)
	$(PY) tests/fuzz/run.py --sanitizer $(FUZZ_SANITIZER) --target msg_krb smoke --seconds $(FUZZ_SMOKE_SECONDS)
	$(PY) tests/fuzz/run.py --sanitizer $(FUZZ_SANITIZER) --target models smoke --seconds $(FUZZ_SMOKE_SECONDS)

clean:
	rm -rf build $(DEMO_LOGS) .pytest_cache src/*.egg-info ext/*.c ext/app/*.c ext/includes/names.h ext/includes/tls_names.h ext/includes/win_names.h ext/includes/msg_names.h src/wirescore/_core/*.so
