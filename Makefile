# The commands people type. The build itself is Meson + ninja.
BUILD ?= build
BUILDTYPE ?= debugoptimized
PAYD = $(BUILD)/payd
DB ?= sqlite:./var/payd.db
LISTEN ?= 127.0.0.1:8080

.PHONY: all deps build run test test-unit test-asan lint format clean

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

lint:
	@scripts/lint

format:
	clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'tools/*.c')

clean:
	rm -rf build build-asan
