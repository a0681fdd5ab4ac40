#!/bin/sh
# bench_train.sh — `make bench-train` (and part of `make bench`): one stage-1 training step
# (forward, both losses, backward, clip 5.0, AdamW) of ovseg next to the PyTorch twin
# (tests/reference/twin.py) eager and under torch.compile, on identical shapes, batch, threads and
# data, for the issue-10 config (224 px, patch 16, width 384, 6 heads, depths [3, 3], 64 -> 8
# groups; text 4 layers of width 256, 32 tokens; heads 4096 -> 256) and `tiny`.
# Also: ovseg's achieved FLOP/s over the sgemm rate on the step's own products and over the
# machine's plain sgemm peak (bench_sgemm, same run), peak RSS of each side, ovseg's analytic
# memory and a per-part time breakdown.
#
# Environment: BENCH_BATCH (32), BENCH_WARMUP (2), BENCH_STEPS (5), BENCH_THREADS (2),
# BENCH_COMPILE_TIMEOUT seconds (900; 0 skips torch.compile), BENCH_CONFIGS ("vit384 tiny"),
# BENCH_WAIT_POLICY (passive, as the ovseg binary uses; "default" for libgomp's spinning).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
B=${BENCH_BATCH:-32}; W=${BENCH_WARMUP:-2}; S=${BENCH_STEPS:-5}; TH=${BENCH_THREADS:-2}
CT=${BENCH_COMPILE_TIMEOUT:-900}
export OMP_NUM_THREADS="$TH"
# The `ovseg` binary waits passively in OpenMP unless told otherwise (ovseg.c re-executes itself
# with OMP_WAIT_POLICY=passive: spinning threads stall steps on a busy machine); both sides run
# with the same policy, BENCH_WAIT_POLICY (passive; "default" leaves libgomp's spinning default).
WP=${BENCH_WAIT_POLICY:-passive}
if [ "$WP" = default ]; then unset OMP_WAIT_POLICY; else export OMP_WAIT_POLICY="$WP"; fi
make -s build/bench/bench_train_step build/bench/bench_sgemm >/dev/null
t=$(mktemp -d "${TMPDIR:-/tmp}/ovseg-bench-train-XXXXXX")
trap 'rm -rf "$t"' EXIT
PY=.venv/bin/python

# the issue's config as overrides of the paper preset (same keys for the C config file and the twin)
VIT384="width=384 heads=6 depth0=3 depth1=3 text_width=256 text_heads=4 text_layers=4 text_ff=1024 text_len=32 drop_path=0"

echo "cores: $(nproc), threads per side: $TH, batch $B, median of $S steps after $W warm-up steps, OpenMP wait policy (both sides): $WP"
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
$PY -c 'import re, torch; c = torch.__config__.show(); b = re.search(r"BLAS_INFO=(\w+)", c); print("torch", torch.__version__, "BLAS:", b.group(1) if b else "?", "| oneDNN:", "yes" if "MKL-DNN" in c else "no")' 2>/dev/null || true

get() { sed -n "s/^RESULT $2 //p" "$1" | head -1; }
# GFLOP/s of a side running at $2 images/s on ovseg's step ($1: ovseg's result file; same FLOPs)
rate() { awk -v f="$(get "$1" step_gflop)" -v i="$2" -v b="$B" 'BEGIN { if (i + 0 > 0) printf "%.1f", f * i / b; else printf "-" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else printf "-" }'; }

rows=""
for cfgname in ${BENCH_CONFIGS:-vit384 tiny}; do
  if [ "$cfgname" = vit384 ]; then
    preset=paper; kv=$VIT384
    { echo "preset = paper"; for x in $kv; do echo "$x" | sed 's/=/ = /'; done; } > "$t/vit384.txt"
    ccfg="$t/vit384.txt"
  else
    preset=$cfgname; kv=""; ccfg=$cfgname
  fi
  echo
  echo "### $cfgname"
  # shellcheck disable=SC2086
  l_c=$(cut -d' ' -f1 /proc/loadavg)
  build/bench/bench_train_step "$ccfg" "$B" "$W" "$S" "$t/shapes-$cfgname.txt" > "$t/c-$cfgname.txt" 2>&1 ||
    { cat "$t/c-$cfgname.txt"; echo "ovseg step failed"; exit 1; }
  build/bench/bench_sgemm "$t/shapes-$cfgname.txt" "$TH" > "$t/g-$cfgname.txt"
  # shellcheck disable=SC2086
  l_e=$(cut -d' ' -f1 /proc/loadavg)
  $PY tests/bench/bench_train_torch.py eager "$preset" "$B" "$W" "$S" $kv > "$t/e-$cfgname.txt" 2>"$t/e-$cfgname.err" ||
    { tail -5 "$t/e-$cfgname.err"; echo "eager twin failed"; }
  comp="skipped"; l_k=-
  if [ "$CT" -gt 0 ]; then
    l_k=$(cut -d' ' -f1 /proc/loadavg)
    # shellcheck disable=SC2086
    if timeout "$CT" $PY tests/bench/bench_train_torch.py compile "$preset" "$B" "$W" "$S" $kv > "$t/k-$cfgname.txt" 2>"$t/k-$cfgname.err"; then
      comp=ok
    else
      rc=$?
      if [ "$rc" = 124 ]; then comp="timed out after ${CT}s"; else comp="failed: $(grep -v '^ ' "$t/k-$cfgname.err" | tail -1 | cut -c1-120)"; fi
    fi
  fi
  c="$t/c-$cfgname.txt"; g="$t/g-$cfgname.txt"; e="$t/e-$cfgname.txt"; k="$t/k-$cfgname.txt"
  [ -f "$k" ] || : > "$k"
  echo "OpenBLAS core (ovseg): $(get "$c" openblas_core), sgemm bench: $(get "$g" sgemm_core); torch $(get "$e" torch_version), $(get "$e" torch_threads) threads"
  echo "parameters: ovseg $(get "$c" params) (incl. BatchNorm buffers), twin $(get "$e" params)"
  echo "load average (1 min) when each side started: ovseg $l_c, eager $l_e, compile $l_k"
  echo "torch.compile: $comp (first step incl. compilation: $(get "$k" first_step_s) s)"
  sed -n '/^per-part time/,$p' "$c"
  sed -n '/^sgemm baseline/,$p' "$g"
  echo
  echo "memory (ovseg, analytic): parameters $(get "$c" mem_params_mib) MiB, gradients $(get "$c" mem_grads_mib) MiB," \
       "AdamW moments $(get "$c" mem_adamw_mib) MiB, activations+scratch $(get "$c" mem_act_mib) MiB, batch $(get "$c" mem_batch_mib) MiB;" \
       "total $(get "$c" mem_analytic_mib) MiB; peak RSS $(get "$c" peak_rss_mib) MiB = $(get "$c" rss_over_analytic) x analytic"
  ci=$(get "$c" images_per_s); ei=$(get "$e" images_per_s); ki=$(get "$k" images_per_s)
  rows="$rows
| $cfgname | $ci | ${ei:--} | ${ki:-$comp} | $(ratio "$ci" "$ei") | $(ratio "$ci" "$ki") | $(get "$c" step_gflop) | $(get "$c" achieved_gflops) | $(get "$g" sgemm_gflops) | $(ratio "$(get "$c" achieved_gflops)" "$(get "$g" sgemm_gflops)") | $(get "$g" sgemm_peak) | $(ratio "$(get "$c" achieved_gflops)" "$(get "$g" sgemm_peak)") | $(ratio "$(rate "$c" "$ei")" "$(get "$g" sgemm_peak)") | $(ratio "$(rate "$c" "$ki")" "$(get "$g" sgemm_peak)") | $(get "$c" step_cpu_s) | ${ei:+$(get "$e" step_cpu_s)} | $(ratio "$(get "$e" step_cpu_s)" "$(get "$c" step_cpu_s)") | $(get "$c" peak_rss_mib) | ${ei:+$(get "$e" peak_rss_mib)} | ${ki:+$(get "$k" peak_rss_mib)} | $(get "$c" rss_over_analytic) |"
done

echo
echo "| config | ovseg img/s | eager img/s | compile img/s | ovseg/eager | ovseg/compile | GFLOP/step | ovseg GFLOP/s | sgemm GFLOP/s (step shapes) | achieved/sgemm | sgemm peak GFLOP/s | ovseg/peak | eager/peak | compile/peak | ovseg CPU s/step | eager CPU s/step | eager/ovseg CPU | ovseg RSS MiB | eager RSS MiB | compile RSS MiB | ovseg RSS/analytic |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|$rows"
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared; figures under load are noisy)"
