#!/usr/bin/env bash
# Two "hosts" on one machine, for tests and benchmarks (sourced, needs root and iproute2): two
# network namespaces joined by a veth pair, with addresses that exist only inside them, and
# optionally a shaped link. tc's token bucket (tbf) limits each end's egress to the rate; this
# kernel has no netem, so no delay is emulated: latency comes from measured small-message
# allreduce times instead (docs/performance.md).
#   netns_hosts_up TAG        makes $RT_H0 and $RT_H1 (addresses $RT_ADDR0, $RT_ADDR1); returns
#                             non-zero where namespaces cannot be made
#   netns_shape RATE          shapes the link to RATE each way (tc syntax: 1gbit, 2500mbit), or
#                             unshaped for RATE "none"
#   netns_hosts_down          removes both namespaces (and the veth pair with them)
#   netns_on HOST CMD...      runs CMD in namespace HOST
# Host 0 is rt_h0_TAG at 10.231.77.1, host 1 rt_h1_TAG at 10.231.77.2.

netns_hosts_up() {
  local tag=$1
  RT_H0=rt_h0_$tag RT_H1=rt_h1_$tag RT_V0=rtv0_$tag RT_V1=rtv1_$tag
  RT_ADDR0=${RT_ADDR0:-10.231.77.1} RT_ADDR1=${RT_ADDR1:-10.231.77.2}
  ip netns add "$RT_H0" 2>/dev/null || return 1
  ip netns add "$RT_H1" 2>/dev/null || { ip netns del "$RT_H0"; return 1; }
  ip link add "$RT_V0" type veth peer name "$RT_V1" 2>/dev/null || { netns_hosts_down; return 1; }
  ip link set "$RT_V0" netns "$RT_H0" && ip link set "$RT_V1" netns "$RT_H1" &&
    ip -n "$RT_H0" addr add "$RT_ADDR0/24" dev "$RT_V0" && ip -n "$RT_H0" link set "$RT_V0" up &&
    ip -n "$RT_H0" link set lo up &&
    ip -n "$RT_H1" addr add "$RT_ADDR1/24" dev "$RT_V1" && ip -n "$RT_H1" link set "$RT_V1" up &&
    ip -n "$RT_H1" link set lo up
}

netns_shape() {
  local rate=$1 host dev
  for host in "$RT_H0:$RT_V0" "$RT_H1:$RT_V1"; do
    dev=${host#*:} host=${host%%:*}
    ip netns exec "$host" tc qdisc del dev "$dev" root 2>/dev/null
    [ "$rate" = none ] && continue
    # burst: 1 MB covers a 5 Gbit/s bucket between timer ticks; latency bounds the queue.
    ip netns exec "$host" tc qdisc add dev "$dev" root tbf rate "$rate" burst 1mb latency 20ms || return 1
  done
}

netns_hosts_down() {
  ip netns del "$RT_H0" 2>/dev/null
  ip netns del "$RT_H1" 2>/dev/null
  return 0
}

netns_on() {
  local host=$1
  shift
  ip netns exec "$host" "$@"
}

# Run as a command (not sourced): netns_hosts.sh TAG up|shape RATE|down, for drivers in other
# languages (bench/shaped_links.py); the names follow from TAG as above.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -u
  tag=$1 cmd=$2
  RT_H0=rt_h0_$tag RT_H1=rt_h1_$tag RT_V0=rtv0_$tag RT_V1=rtv1_$tag
  case $cmd in
    up) netns_hosts_up "$tag" ;;
    shape) netns_shape "$3" ;;
    down) netns_hosts_down ;;
    *) echo "usage: netns_hosts.sh TAG up|shape RATE|down" >&2; exit 2 ;;
  esac
fi
