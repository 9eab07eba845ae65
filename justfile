# The one list of the project's checks. `just` alone lists the recipes.

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# Every test: format, lints, the workspace tests, doc tests, docs without warnings.
test:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings
    cargo nextest run --workspace --no-fail-fast
    cargo test --workspace --doc
    RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

# The main job: many processes contend for the default lock on real Redis, then the verdict.
contend SCENARIO="scenarios/increment-20x100.toml" *ARGS="":
    cargo build --release -p contend
    ./target/release/contend run {{SCENARIO}} {{ARGS}}

# Every scenario x algorithm against its expectations (what CI gates on).
gate *ARGS="":
    cargo build --release -p contend
    ./target/release/contend gate scenarios --junit reports/gate.xml {{ARGS}}

# Criterion benches of the lock.
bench:
    cargo bench -p redmutex

# Round trips per lock operation, against a PING in the same run (prints JSON).
roundtrips:
    cargo run --release -p redmutex --example roundtrips

# Build the local Redis image for --server docker (no registry needed).
redis-image:
    harness/docker/build-image.sh

# The docker backend's tests (testcontainers; feature `docker`).
test-docker: redis-image
    cargo test -p contend --features docker --test docker
