# Fault injection for the tests: a part frozen with SIGSTOP (a server that hangs, as a paused VM
# does) and thawed with SIGCONT. Stopping and starting a part is in start.sh. Sourced by
# scripts/stack.

# freeze NAME / thaw NAME
freeze() {
  pid_alive "$1" || die "$1 is not running"
  local pid; pid=$(cat "$STACK_DIR/$1.pid")
  kill -STOP "$pid"
  # Return once every thread is stopped, not merely signalled.
  for _ in $(seq 100); do
    ! grep -qv '^State:.*T' <(cat /proc/"$pid"/task/*/status 2>/dev/null | grep '^State:') && break
    sleep 0.01
  done
}

thaw() {
  pid_alive "$1" || die "$1 is not running"
  kill -CONT "$(cat "$STACK_DIR/$1.pid")"
}
