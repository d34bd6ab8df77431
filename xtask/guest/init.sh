#!/bin/sh
# PID 1 of the kernel-matrix guest: mounts what hbwatch needs, loads the modules the scenarios
# use, runs hbwatch and writes every result to the second serial port, then powers off.
# Results: "@@BEGIN name" ... "@@END name rc" blocks on /dev/ttyS1 (the host parses them).
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /run /tmp /sys/fs/bpf /var/run
mount -t tmpfs run /run
mount -t tmpfs tmp /tmp
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
# The console stays quiet so that only the result port carries results.
echo 1 > /proc/sys/kernel/printk
ln -sf /proc/self/fd /dev/fd
ip link set lo up

OUT=/dev/ttyS1
section() { # name, command...
    name=$1; shift
    echo "@@BEGIN $name" >> $OUT
    "$@" > "${W:-/tmp}/section.out" 2> "${W:-/tmp}/section.err"
    rc=$?
    cat "${W:-/tmp}/section.out" >> $OUT
    echo "@@END $name $rc" >> $OUT
    echo "@@BEGIN $name.stderr" >> $OUT
    cat "${W:-/tmp}/section.err" >> $OUT
    echo "@@END $name.stderr 0" >> $OUT
}
modules() {
    for m in $(cat /etc/hbwatch-modules 2>/dev/null); do insmod "$m" || echo "insmod $m failed"; done
}

section uname uname -r
section modules modules
section realtime cat /sys/kernel/realtime
section threaded_napi sh -c 'for f in /sys/class/net/*/threaded; do echo "$f $(cat $f)"; done'
. /etc/hbwatch-steps
echo "@@DONE" >> $OUT
sync
poweroff -f
