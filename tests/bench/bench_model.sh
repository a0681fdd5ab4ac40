#!/bin/sh
# bench_model.sh — training-step speed of ovseg's C model vs its PyTorch twin (eager and
# torch.compile) on identical shapes, batch, threads and synthetic data; median of STEPS steps
# after one warm-up. Configs: `tiny`, and issue 10's (224 px, patch 16, width 384, 6 heads,
# GroupViT depths [3,3] with 64->8 groups; BERT-style text width 256, 4 layers, 32 tokens;
# heads 4096->256), batch 32. Threads: 2 (OMP_NUM_THREADS / torch.set_num_threads).
# Environment: OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset (tests/bench.sh), OMP_WAIT_POLICY=passive.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OVSEG_TORCH_THREADS=${OMP_NUM_THREADS:-2} OMP_WAIT_POLICY=passive
STEPS=${STEPS:-5}
bin=build/bench/model_step
mkdir -p build/bench
cc -std=c17 -O2 -fopenmp -D_GNU_SOURCE -I. $(pkg-config --cflags openblas) -o "$bin" tests/bench/model_step.c \
  build/libovseg.a $(pkg-config --libs openblas) -lm
py=.venv/bin/python
i10="img_size=224 patch=16 heads=6 width=384 depth0=3 depth1=3 groups_in=64 groups_out=8 text_heads=4 text_width=256 text_layers=4 text_ff=1024 text_len=32 proj_hidden=4096 mem_heads=8"
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
printf '%-8s %-16s %10s %10s %10s %s\n' config impl "img/s" "step s" "RSS MiB" "blas"
for cfg in tiny issue10; do
  if [ "$cfg" = tiny ]; then name=tiny; over=""; else name=paper; over=$i10; fi
  c=$("$bin" $name 32 "$STEPS" $over)
  printf '%-8s %-16s %10s %10s %10s %s\n' $cfg ovseg "$(field "$c" img_s)" "$(field "$c" step_s)" "$(field "$c" rss_mib)" "$(field "$c" blas)"
  for mode in eager compile; do
    p=$(timeout 900 $py tests/bench/model_step_torch.py $name 32 "$STEPS" $mode $over 2>/dev/null | tail -1) || p="img_s=n/a"
    printf '%-8s %-16s %10s %10s %10s %s\n' $cfg "pytorch-$mode" "$(field "$p" img_s)" "$(field "$p" step_s)" "$(field "$p" rss_mib)" "$(field "$p" blas)"
    [ "$mode" = eager ] && eager=$(field "$p" img_s)
  done
  echo "$cfg: ovseg / pytorch-eager = $(echo "$(field "$c" img_s) $eager" | awk '{ if ($2 > 0) printf "%.2f", $1 / $2; else print "n/a" }')"
done
