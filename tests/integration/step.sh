# Sourced by integration scripts that set $work and $fail:
#   step NAME COMMAND...  runs COMMAND with its output in $work/NAME.out; on failure it names
#   the step and its exit code, shows the output's last lines and sets fail=1.
# Never pipe a step into `head`: under pipefail, the writer's SIGPIPE after an early-closing
# reader would be a failure at random.
step() {
  local name=$1; shift
  "$@" > "$work/$name.out" 2>&1; local rc=$?
  [ $rc -eq 0 ] && return 0
  echo "FAIL: $name exited $rc:"; tail -8 "$work/$name.out"; fail=1; return 1
}
