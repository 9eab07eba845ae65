# The one list of the project's checks. `just` alone lists the recipes.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Where cargo puts the binaries (honours CARGO_TARGET_DIR).
target_dir := env_var_or_default("CARGO_TARGET_DIR", "target")
contend := target_dir + "/release/contend"

# List the recipes.
default:
    @just --list

# Every test: format, lints, the workspace tests, doc tests, docs without warnings (the adapter
# tests need the adapters' virtual environment, which `adapters` makes first).
test: adapters
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings
    cargo nextest run --workspace --no-fail-fast
    cargo test --workspace --doc
    RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

# The default scenario of `contend` and `contend-docker` when the first argument is a flag.
default_scenario := "scenarios/increment-20x100.toml"

# The main job on real Redis, then the verdict: just contend [SCENARIO] [-a NAME] [--workers N]
contend *ARGS="":
    cargo build --release -p contend
    set -- {{ARGS}}; if [ $# -eq 0 ] || [ "${1#-}" != "$1" ]; then set -- {{default_scenario}} "$@"; fi; {{contend}} run "$@"

# The main job with the servers in containers: just contend-docker [SCENARIO] [FLAGS]
contend-docker *ARGS="": redis-image
    cargo build --release -p contend --features docker
    set -- {{ARGS}}; if [ $# -eq 0 ] || [ "${1#-}" != "$1" ]; then set -- {{default_scenario}} "$@"; fi; {{contend}} run "$@" --server docker

# The adapters' runtimes: a virtual environment with the pinned lock libraries (docs/adapters.md).
adapters:
    [ -x adapters/.venv/bin/python ] || python3 -m venv adapters/.venv
    adapters/.venv/bin/pip install -q -r adapters/python/requirements.txt

# The Python protocol helper's unit tests, then the conformance check of every shipped adapter.
adapter-check: adapters
    python3 -m unittest discover -s adapters/python
    cargo build --release -p contend
    for m in adapters/*.toml; do {{contend}} adapter check "$m"; done

# Every scenario x algorithm against its expectations, adapters included (what CI gates on).
gate *ARGS="": adapters
    cargo build --release -p contend
    {{contend}} gate scenarios --junit reports/gate.xml --breaks docs/what-breaks-what.md {{ARGS}}

# Criterion benches of the lock.
bench:
    cargo bench -p redmutex

# Algorithms side by side on real Redis (bench.json, bench.md, bench.html in reports/bench/latest): just bench-harness [--quick] [-a NAME]... [--workers 1,4] [--hold 0,1] [--rounds N]
bench-harness *ARGS="":
    cargo build --release -p contend
    {{contend}} bench --out reports/bench {{ARGS}}
    @echo "open reports/bench/latest/bench.html"

# Round trips per lock operation, against a PING in the same run (prints JSON).
roundtrips:
    cargo run --release -p redmutex --example roundtrips

# Build the local Redis image for --server docker (no registry needed).
redis-image:
    harness/docker/build-image.sh

# The docker backend's tests and its server faults (testcontainers; feature `docker`).
test-docker: redis-image
    cargo test -p contend --features docker --test docker --test docker_faults

# One simulated seed; a violation prints its timeline and replay command.
sim SEED="1" *ARGS="":
    cargo run --release -p contend -- sim --seed {{SEED}} {{ARGS}}

# The simulator's property tests with a bigger budget, in release.
sim-test CASES="5000":
    CONTEND_SIM_CASES={{CASES}} cargo test --release -p contend --test sim_reference --test sim_specimens --test sim_scenarios

# Figures: seeds and time to find each specimen bug; reference algorithms over 100,000 seeds.
sim-coverage *ARGS="":
    cargo run --release -p contend -- sim-coverage {{ARGS}}

# 10,000 simulated clients x 10 acquisitions of the documents' test.
sim-10k:
    cargo build --release -p contend
    time {{contend}} run scenarios/increment-20x100.toml --server sim --workers 10000 --iterations 10

# Timelines to look at, as PNG in reports/screenshots/: a paused holder (real Redis, fenced) and 10,000 simulated workers.
timeline-shots:
    #!/usr/bin/env bash
    set -euo pipefail
    command -v chromium > /dev/null || { echo "timeline-shots needs headless Chromium: apt-get install chromium" >&2; exit 1; }
    cargo build --release -p contend
    tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
    mkdir -p reports/screenshots
    {{contend}} run scenarios/pause-holder.toml -a fenced --out "$tmp/pause" || echo "(the run was not as expected: the page says why)"
    {{contend}} run scenarios/increment-20x100.toml --server sim --workers 10000 --iterations 10 --out "$tmp/10k" > /dev/null || echo "(the 10,000-worker run was not as expected)"
    shot() { chromium --headless=new --disable-gpu --no-sandbox --no-first-run --user-data-dir="$tmp/profile" --hide-scrollbars --window-size="$3" --screenshot="$PWD/reports/screenshots/$2.png" "file://$(realpath "$tmp/$1/latest/timeline.html")" 2> /dev/null; }
    shot pause pause-holder-fenced 1400,1100
    shot pause pause-holder-fenced-narrow 820,1100
    shot 10k sim-10000-workers 1400,1000
    ls -l reports/screenshots/*.png

# The model of Redis against real Redis on random command sequences (scripts included).
model-diff CASES="10000":
    REDMUTEX_MODEL_DIFF_CASES={{CASES}} cargo test -p redmutex --test model_diff -- --nocapture

# loom over the real machines against the model: reference claims, and every specimen bug found.
loom:
    LOOM_MAX_PREEMPTIONS=2 cargo test --release -p redmutex -p contend --features redmutex/loom,contend/loom --test loom_locks --test loom_specimens -- --nocapture

# Mutation score of the checkers: cargo-mutants over harness/check/src/check/ (the crate
# contend-check) with its own tests, the hand-made histories (`cargo install --locked
# cargo-mutants`; a mutant rebuilds only that small crate). Results in
# <target>/mutants/mutants.out; see docs/mutants.md.
mutants *ARGS="":
    cargo mutants -p contend-check --file 'harness/check/src/check/*.rs' --test-tool nextest --output {{target_dir}}/mutants {{ARGS}}
