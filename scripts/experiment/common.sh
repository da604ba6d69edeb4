# Sourced from the repository root by scripts/experiment.sh and scripts/experiment/tta.sh:
#   $tsal                 TSAL_BIN, or the release binary scripts/setup.sh builds
#   test_lists DIR        sets eval_lists to the experiment's five test lists under DIR (the
#                         synthetic data's lists/: 300W common and challenge, 300VW test-1/2/3)
if [ -n "${TSAL_BIN:-}" ]; then
  tsal=$TSAL_BIN
else
  bash scripts/setup.sh >/dev/null
  tsal=target/release/tsal
fi
test_lists() {
  eval_lists=("$1/300W/300w.test.common.GTB" "$1/300W/300w.test.challenge.GTB"
              "$1"/300VW/300VW.test-?.lst)
}
