#!/bin/sh
# test_eval_cli.sh — `ovseg eval` flag and input errors: exit codes and messages that name the flag
# or the file. (The model runs are in test_eval_model_twin.py; the loop in test_eval_run.)
. tests/lib.sh
mkdir -p "$T/voc/JPEGImages" "$T/voc/SegmentationClass" "$T/voc/ImageSets/Segmentation" "$T/synth/JPEGImages" \
  "$T/synth/SegmentationClass"
printf 'a\n' >"$T/voc/ImageSets/Segmentation/val.txt"
printf '0\tbackground\n2\tcat\n' >"$T/synth/classes.txt"
expect_fail eval_cli_requires_ckpt_dataset_root 1 "--ckpt, --dataset and --root are required" -- $OVSEG eval --dataset voc
expect_fail eval_cli_unknown_flag 1 "unknown flag" -- $OVSEG eval --frobnicate 1
expect_fail eval_cli_unknown_dataset 1 "--dataset ade: expected voc, context, coco-object or synth" -- \
  $OVSEG eval --ckpt x --dataset ade --root "$T/voc"
expect_fail eval_cli_root_not_a_folder 1 "--root $T/nope: not a folder" -- $OVSEG eval --ckpt x --dataset voc --root "$T/nope"
expect_fail eval_cli_missing_split_file_named 1 "ImageSets/Segmentation/test.txt" -- \
  $OVSEG eval --ckpt x --dataset voc --root "$T/voc" --split test
expect_fail eval_cli_bad_bg_thresh 1 "--bg-thresh: expected 0..1, 'paper' or 'groupvit': '2'" -- \
  $OVSEG eval --ckpt x --dataset voc --root "$T/voc" --bg-thresh 2
expect_fail eval_cli_bad_out_of_range_mode 1 "--out-of-range: expected error, ignore or mmseg" -- \
  $OVSEG eval --ckpt x --dataset voc --root "$T/voc" --out-of-range maybe
expect_fail eval_cli_synth_class_index_gap_named 1 "classes.txt:2: index '2' (expected 1)" -- \
  $OVSEG eval --ckpt x --dataset synth --root "$T/synth"
out=$($OVSEG eval --ckpt "$T/none.safetensors" --dataset voc --root "$T/voc" 2>&1); rc=$?
case "$rc:$out" in
  1:*none.safetensors*|2:*none.safetensors*) pass eval_cli_missing_checkpoint_named_in_error ;;
  *) fail eval_cli_missing_checkpoint_named_in_error "exit $rc: $out" ;;
esac
finish
