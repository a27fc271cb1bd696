# The two commands: `make run` and `make test`. Both install what is missing first.
SWIFT ?= swift
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup build run test fuzz check-asan check-tsan bench bench-quick microbench bench-nginx bench-modes bench-framework bench-files clean

setup:
	@bash tools/setup.sh

# The Swift runtime linked statically: each process maps fewer shared-library pages
# (BENCHMARKS.md §7).
build: setup
	$(SWIFT) build -c release --static-swift-stdlib

run: build
	.build/release/uring-cluster serve --host $(HOST) --port $(PORT)

# The hostile-client tests hold 9,000 connections: the descriptor limit is raised for them
# where this shell may (root may raise the hard limit too).
test: setup
	$(SWIFT) build --build-tests
	ulimit -n 20000 2>/dev/null || ulimit -n "$$(ulimit -Hn)" 2>/dev/null || true; $(SWIFT) test

# libFuzzer targets (the head parser and chunked decoder; the connection lifecycle), each
# for FUZZ_SECONDS (default 60) or FUZZ_RUNS executions: `make fuzz FUZZ_RUNS=10000000`.
fuzz:
	@bash tools/fuzz.sh

# The whole test suite under AddressSanitizer and ThreadSanitizer, each in its own build folder.
# A 16 MB quarantine (still catching use after free of recent frees) keeps the memory-bound
# tests meaningful; tools/lsan.supp lists leaks inside the toolchain's libraries.
check-asan: setup
	$(SWIFT) build --build-tests --sanitize=address --scratch-path .build-asan
	ASAN_OPTIONS=quarantine_size_mb=16 LSAN_OPTIONS=suppressions=$(CURDIR)/tools/lsan.supp \
		$(SWIFT) test --skip-build --sanitize=address --scratch-path .build-asan

check-tsan: setup
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path .build-tsan
	$(SWIFT) test --skip-build --sanitize=thread --scratch-path .build-tsan

# The standard benchmark suite: every mode and policy, 2 and 8 workers, nginx and Node's
# cluster when installed, 4 scenarios, 3 interleaved rounds. Writes bench-results/<time>/.
bench: build
	bash tools/setup.sh bench
	.build/release/cluster-bench

bench-quick: build
	bash tools/setup.sh bench
	.build/release/cluster-bench --quick

# Microbenchmarks of the parser, the hello path, pipelined requests, the chunked decoder and
# the balance policies (time and allocations, ordo-one/benchmark), in their own package
# (Benchmarks/) so that the library and `make test` never resolve or build it.
microbench: setup
	cd Benchmarks && $(SWIFT) package benchmark

# Keep-alive hello world: uring-cluster (one process) beside nginx (one worker), see BENCHMARKS.md.
bench-nginx: build
	bash tools/setup.sh bench
	bash tools/bench-vs-nginx.sh

# The three distribution modes with 2 and 8 workers, keep-alive and connection-per-request.
bench-modes: build
	bash tools/setup.sh bench
	python3 tools/bench-modes.py

# The framework beside Hummingbird 2, route by route (Examples/web-routes and
# Benchmarks/HummingbirdPeer, a package of its own that only this target builds).
bench-framework: build
	cd Benchmarks/HummingbirdPeer && $(SWIFT) build -c release
	python3 tools/bench-framework.py

# Static files (1 KiB, 1 MiB, 64 MiB) from `serve --root` beside nginx with sendfile.
bench-files: build
	bash tools/setup.sh bench
	python3 tools/bench-files.py

clean:
	rm -rf .build .build-fuzz .build-asan .build-tsan
