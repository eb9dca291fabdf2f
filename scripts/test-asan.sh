#!/usr/bin/env bash
# Sanitizer run of the native kernels: builds the addon a second time with AddressSanitizer and
# UndefinedBehaviorSanitizer into build-asan/ (the normal build/ is never touched), then runs the tests that
# exercise native code against that build (GPTKIT_NATIVE_ADDON points the loader at it).
#
# Usage: scripts/test-asan.sh [--no-tsc] [--build-only] [test file under dist/ ...]
#   --no-tsc      skip `tsc -p tsconfig.json` (dist/ is already up to date)
#   --build-only  build build-asan/gptkit_native.node and stop
#   files         run these compiled tests instead of the default list below
# Env: CC (default gcc; the sanitizer runtime preloaded into node is the one of this compiler),
#      ASAN_JOBS (parallel compiles, default 2).
#
# Node itself is not sanitized, so the ASan runtime is LD_PRELOADed into it; leak detection is off (node leaks
# at exit by design). Any ASan or UBSan report fails the run.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

run_tsc=1
build_only=0
tests=()
for arg in "$@"; do
  case "$arg" in
    --no-tsc) run_tsc=0 ;;
    --build-only) build_only=1 ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) tests+=("$arg") ;;
  esac
done
if [ ${#tests[@]} -eq 0 ]; then
  tests=(
    dist/src/backend/backend.test.js              # every kernel vs the js oracle, also on the AVX2/portable paths
    dist/src/backend/native/alloc-failure.test.js # failed allocations throw ENOMEM (GPTKIT_TEST_ALLOC_FAIL)
    dist/src/models/gpt/parity.test.js            # GPT-2 forward/backward, native vs js
    dist/src/optim/adamw-parity.test.js           # ten AdamW training steps on gpt2-tiny
    dist/src/ops/edge.test.js                     # op edge cases (empty shapes, bad input) through the backend
  )
fi

CC="${CC:-gcc}"
out="$root/build-asan"
addon="$out/gptkit_native.node"
start=$(date +%s)

# ---- build ----
# Sources and defines as binding.gyp lists them, so a new source file needs no change here.
mapfile -t sources < <(node -e '
  const fs = require("fs");
  const gyp = fs.readFileSync("binding.gyp", "utf8").replace(/^\s*#.*$/gm, "");
  for (const s of JSON.parse(gyp).targets[0].sources) if (s.endsWith(".c")) console.log(s);')
defines=$(node -e '
  const fs = require("fs");
  const gyp = fs.readFileSync("binding.gyp", "utf8").replace(/^\s*#.*$/gm, "");
  console.log((JSON.parse(gyp).targets[0].defines || []).map((d) => "-D" + d).join(" "));')

# Node's headers: next to the binary (distribution and distro packages), or node-gyp's download cache.
nodeinc=""
for dir in "${npm_config_nodedir:+$npm_config_nodedir/include/node}" \
  "$(dirname "$(command -v node)")/../include/node" \
  "$HOME/.cache/node-gyp/$(node -p process.versions.node)/include/node"; do
  if [ -n "$dir" ] && [ -f "$dir/node_api.h" ]; then nodeinc="$dir"; break; fi
done
if [ -z "$nodeinc" ]; then
  echo "test-asan: node_api.h not found (install node's headers, or run 'npx node-gyp install')" >&2
  exit 1
fi

# -O1: the usual sanitizer level (readable stacks, still fast enough); the rest as binding.gyp.
sanitize=(-fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=undefined,float-cast-overflow -fno-omit-frame-pointer -g)
cflags=(-O1 -std=c11 -fno-math-errno -ffp-contract=fast -pthread -fPIC -Wall -Wextra -Wno-unused-parameter
  $defines -I"$nodeinc" "${sanitize[@]}")
mkdir -p "$out/obj"
# Rebuild an object when its source, any header, this script or the compiler flags changed.
flags_id="$CC ${cflags[*]}"
if [ "$(cat "$out/flags" 2>/dev/null)" != "$flags_id" ]; then
  rm -f "$out"/obj/*.o
  printf '%s' "$flags_id" >"$out/flags"
fi
newest_dep=$(ls -t native/*.h native/*.inc "$0" 2>/dev/null | head -1)
objects=()
stale=()
for src in "${sources[@]}"; do
  obj="$out/obj/$(basename "${src%.c}").o"
  objects+=("$obj")
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ "$newest_dep" -nt "$obj" ]; then stale+=("$src"); fi
done
if [ ${#stale[@]} -gt 0 ]; then
  echo "test-asan: compiling ${#stale[@]} file(s) with ${sanitize[*]}"
  printf '%s\n' "${stale[@]}" | xargs -P "${ASAN_JOBS:-2}" -I{} \
    sh -c 'src="$1"; shift; obj="$0/obj/$(basename "${src%.c}").o"; exec "$@" -c "$src" -o "$obj"' \
    "$out" {} "$CC" "${cflags[@]}"
fi
needs_link=0
[ -f "$addon" ] || needs_link=1
for obj in "${objects[@]}"; do [ "$obj" -nt "$addon" ] && needs_link=1; done
if [ $needs_link -eq 1 ]; then
  "$CC" -shared "${sanitize[@]}" -pthread -o "$addon" "${objects[@]}" -lm
fi
echo "test-asan: addon $addon"
[ $build_only -eq 1 ] && exit 0

if [ $run_tsc -eq 1 ]; then
  echo "test-asan: tsc -p tsconfig.json"
  npx --no-install tsc -p tsconfig.json
fi

# ---- run ----
libasan="$("$CC" -print-file-name=libasan.so)"
if [ ! -e "$libasan" ]; then
  echo "test-asan: $CC has no libasan.so ($libasan)" >&2
  exit 1
fi
export LD_PRELOAD="$libasan${LD_PRELOAD:+:$LD_PRELOAD}"
# detect_leaks=0: node frees little at exit by design. A report ends the process (ASan: status 86), so its test
# file fails; the child processes the tests spawn (GPTKIT_ISA reruns) inherit all of this.
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:exitcode=86${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export GPTKIT_NATIVE_ADDON="$addon"

# The tests skip native cases when the addon fails to load: make sure this one loads, or the run proves nothing.
node --input-type=module -e "
  const { loadNativeAddon, loadNativeBackend } = await import('$root/dist/src/backend/native/index.js');
  const { backend, error } = loadNativeBackend();
  if (!backend) { console.error('test-asan: the sanitizer build did not load: ' + error); process.exit(1); }
  console.log('test-asan: sanitizer build loaded, isa ' + loadNativeAddon().isa() + ', ' + backend.threads() + ' threads');
"

status=0
node --test --test-reporter=spec "${tests[@]}" || status=$?
echo "test-asan: $( [ $status -eq 0 ] && echo passed || echo "FAILED (status $status)" ) in $(( $(date +%s) - start ))s"
exit $status
