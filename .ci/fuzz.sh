#!/usr/bin/env bash
# Runs every cargo-fuzz target of headway for a while and fails on any crash.
#
#   .ci/fuzz.sh                 # each target 20 s
#   FUZZ_SECONDS=600 .ci/fuzz.sh wire chain   # chosen targets, 10 min each
#
# Uses the stable toolchain with --sanitizer none (the address sanitizer needs nightly or
# RUSTC_BOOTSTRAP=1 and is ~50x slower; Rust code is memory-safe, the panics are what we hunt).
# The committed seed corpus fuzz/corpus/<target> is only read; new inputs go to a scratch
# corpus (FUZZ_WORK_DIR, default target/fuzz-corpus) so that the repository stays small.
# Crashes land in fuzz/artifacts/<target>/ (git-ignored); see README "Fuzzing" to replay them.
set -euo pipefail

cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-20}"
work="${FUZZ_WORK_DIR:-target/fuzz-corpus}"
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    targets=(wire v2 chain node rpc)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

status=0
for target in "${targets[@]}"; do
    mkdir -p "$work/$target"
    echo "fuzz.sh: $target for ${seconds}s" >&2
    # Exit status is non-zero on a crash, a leak, a timeout or an out-of-memory.
    if ! cargo fuzz run --sanitizer none "$target" "$work/$target" "fuzz/corpus/$target" \
        -- -max_total_time="$seconds" -print_final_stats=1; then
        echo "fuzz.sh: $target FAILED; the input is in fuzz/artifacts/$target/" >&2
        status=1
    fi
done
exit "$status"
