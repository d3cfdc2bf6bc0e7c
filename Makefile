# The commands people type. The build itself is Meson + ninja.
BUILD ?= build
BUILDTYPE ?= debugoptimized
PAYD = $(BUILD)/payd
DB ?= sqlite:./var/payd.db
LISTEN ?= 127.0.0.1:8080

.PHONY: all deps build run test test-unit test-asan test-tsan test-crash fuzz lint format clean bench

all: build

deps:
	@scripts/install-deps

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=$(BUILDTYPE) $(MESON_ARGS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

# Installs what is missing, builds, migrates, creates an admin key and
# serves on the embedded SQLite database.
run: build
	@scripts/run-dev "$(PAYD)" "$(DB)" "$(LISTEN)"

# Everything a change must pass; ends with "N passed, N failed".
test: build
	@BUILD=$(BUILD) scripts/test-all

test-unit: build
	@BUILD=$(BUILD) SUITES=unit scripts/test-all

# The whole suite under AddressSanitizer and UndefinedBehaviorSanitizer.
# UBSan reports abort the process, so undefined behaviour fails the tests.
test-asan:
	@UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    $(MAKE) --no-print-directory test BUILD=build-asan BUILDTYPE=debug \
	    MESON_ARGS="-Db_sanitize=address,undefined -Db_lundef=false"

# payd under ThreadSanitizer (build-tsan), exercised by the API suites,
# whose tests send concurrent requests. The Criterion unit tests are not run:
# Criterion's runner does not start under TSan. Suppressions (documented
# false positives only): tests/tsan.supp.
test-tsan:
	@scripts/install-deps
	@[ -f build-tsan/build.ninja ] || meson setup build-tsan --buildtype=debugoptimized \
	    -Db_sanitize=thread -Db_lundef=false
	@ninja -C build-tsan payd tests/fakes/dns_gate.so
	@rm -rf build-tsan/tsan-reports && mkdir -p build-tsan/tsan-reports
	@TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp \
	    log_path=$(CURDIR)/build-tsan/tsan-reports/report" PAYD_TEST_START_TIMEOUT_MS=60000 \
	    BUILD=build-tsan SUITES="api-sqlite api-postgres" scripts/test-all; rc=$$?; \
	if ls build-tsan/tsan-reports/report.* >/dev/null 2>&1; then \
	    echo "ThreadSanitizer reported (build-tsan/tsan-reports):"; cat build-tsan/tsan-reports/report.*; \
	    exit 1; fi; exit $$rc

# The long crash test: KILLS SIGKILLs under load on SQLite, then PostgreSQL,
# without the short form's time bound.
KILLS ?= 1000
test-crash: build
	@CRASH_KILLS=$(KILLS) CRASH_TIME_BUDGET_MS=0 BUILD=$(BUILD) \
	    SUITES="crash-sqlite crash-postgres" scripts/test-all

# Fuzz every libFuzzer target in fuzz/ for SECONDS each (clang, build-fuzz).
SECONDS ?= 60
fuzz:
	@scripts/fuzz run $(SECONDS)

# The benchmark (bench/run, results in bench/out/ and bench/RESULTS.md):
# an optimised build in build-release, wrk on loopback, one table.
# `make bench DB=postgres` runs it on a throwaway PostgreSQL cluster;
# FILL=N (default 1000000, 0 = none) payments are added for the scale runs.
BENCH_BUILD ?= build-release
bench: deps
	@BUILD=$(BENCH_BUILD) bench/run $(if $(filter postgres%,$(DB)),postgres,sqlite)

lint:
	@scripts/lint

format:
	clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'tools/*.c')

clean:
	rm -rf build build-asan build-release bench/out build-tsan build-fuzz
