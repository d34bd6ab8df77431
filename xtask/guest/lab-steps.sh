# Steps of `cargo xtask lab`, sourced by init.sh in the guest after the LAB_* settings the host
# writes. CPU 0 is the one starved; everything of the lab's own (this shell, hbwatch, the
# receivers) runs on the last CPU, so only the receive path can be starved. Every wait is bounded.
W=$(mktemp -d /tmp/hbw-lab.XXXXXX)
NCPU=$(nproc)
STARVED=0
FREE=$((NCPU - 1))
taskset -p -c $FREE $$ > /dev/null

nic_of() { # MAC -> interface name
    for d in /sys/class/net/*; do
        [ "$(cat $d/address)" = "$1" ] && echo "${d##*/}"
    done
}
NIC0=$(nic_of $LAB_MAC0)
NIC1=$(nic_of $LAB_MAC1)

rx_irqs() { grep -E 'virtio[0-9]+-input\.[0-9]+' /proc/interrupts | sed 's/^ *\([0-9]*\):.*/\1/'; }
# "IRQ name affinity count-per-CPU..." for every RX queue IRQ.
irq_table() {
    for i in $(rx_irqs); do
        line=$(grep -E "^ *$i:" /proc/interrupts)
        echo "$i $(echo "$line" | awk '{print $NF}') aff=$(cat /proc/irq/$i/smp_affinity_list)" \
            "$(echo "$line" | awk -v n=$NCPU '{s=""; for (c = 2; c <= n + 1; c++) s = s " " $c; print s}')"
    done
}
irqs_to() { for i in $(rx_irqs); do echo $1 > /proc/irq/$i/smp_affinity_list || return 1; done; }
# Queue q's IRQ to CPU q mod NCPU: the driver's own layout.
spread() {
    for i in $(rx_irqs); do
        q=$(grep -E "^ *$i:" /proc/interrupts | sed 's/.*input\.//')
        echo $((q % NCPU)) > /proc/irq/$i/smp_affinity_list || return 1
    done
}

lab_net() {
    [ -n "$NIC0" ] && [ -n "$NIC1" ] || { echo "lab NICs not found"; ls /sys/class/net; return 1; }
    for d in $NIC0 $NIC1; do
        ip link set $d up || return 1
        # The driver starts with one queue pair per CPU; the lab wants all of them.
        ethtool -L $d combined $LAB_QUEUES || return 1
    done
    ip addr add $LAB_IP0/24 dev $NIC0 || return 1
    ip addr add $LAB_IP1/24 dev $NIC1 || return 1
    echo "nics $NIC0 $NIC1"
    ethtool -l $NIC0
    ethtool -x $NIC0
    spread
    irq_table
    # The bulk flows' sink stays bound for the whole run (no NO_SOCKET drops between phases).
    timeout -s KILL 3000 labudp lab-udp sink --seconds 3000 $LAB_BULK_PORTS > /dev/null 2>&1 &
    type chrt
}

# phase NAME [hog]: record, receive LAB_SECS s; with hog, the RT busy loop on CPU 0 from
# LAB_HOG_AT s for LAB_HOG_FOR s. A gap is a silence of 3 intervals: under TCG the guest's own
# scheduling jitter reaches 2.
phase() {
    n=$1
    irq_table > $W/$n.irq0
    cat /proc/net/softnet_stat > $W/$n.softnet0
    : > $W/$n.rec.err
    # The receiver is bound before the recorder starts and counts from its "go".
    timeout -s KILL $((LAB_SECS + 260)) labudp lab-udp recv --seconds $LAB_SECS --go $W/$n.go \
        $LAB_PORT > $W/$n.rx 2>&1 &
    rx=$!
    timeout -s KILL $((LAB_SECS + 240)) hbwatch record -d $((LAB_SECS + 4))s -o $W/$n.hbw --force \
        --heartbeat udp:$LAB_PORT@${LAB_HB_MS}ms --gap-factor 3 --watch-comm labudp \
        > $W/$n.rec.out 2>> $W/$n.rec.err &
    rec=$!
    t=0
    until grep -q 'recording to' $W/$n.rec.err; do
        t=$((t + 1))
        if [ $t -gt 200 ] || ! kill -0 $rec 2> /dev/null; then
            echo "hbwatch record did not start"; cat $W/$n.rec.err; kill -9 $rec $rx 2> /dev/null
            return 1
        fi
        sleep 1
    done
    : > $W/$n.go
    if [ "$2" = hog ]; then
        sleep $LAB_HOG_AT
        date +"hog start %s"
        # timeout's watcher stays on this CPU; the loop moves itself to CPU 0 as SCHED_FIFO 50.
        timeout -s KILL $LAB_HOG_FOR rt-hog $STARVED
        date +"hog end %s"
    fi
    wait $rec
    echo "record rc $?"
    kill $rx 2> /dev/null
    wait $rx
    echo "rx $(cat $W/$n.rx)"
    echo "irq before"; cat $W/$n.irq0
    echo "irq after"; irq_table
    echo "softnet before"; cat $W/$n.softnet0
    echo "softnet after"; cat /proc/net/softnet_stat
    grep -E 'RcvbufErrors|Udp:' /proc/net/snmp
    tail -4 $W/$n.rec.err
    [ -s $W/$n.hbw ]
}

# The fix: hbwatch's own script from the fault's recording, its first block.
fix() {
    timeout 300 hbwatch report --fix-script $W/fixes.sh $W/fault.hbw > /dev/null || return 1
    sh $W/fixes.sh list 2>&1
    echo "apply 1"
    timeout 60 sh $W/fixes.sh apply 1 2>&1 || return 1
    irq_table
    for f in /sys/class/net/$NIC0/queues/rx-*/rps_cpus; do echo "$f $(cat $f)"; done
}

# RPS to the free CPU, IRQs left on the starved one: shows why RPS alone is not the fix.
rps_on() {
    mask=$(printf '%x' $((1 << FREE)))
    for f in /sys/class/net/$NIC0/queues/rx-*/rps_cpus /sys/class/net/$NIC1/queues/rx-*/rps_cpus; do
        echo $mask > $f || return 1
    done
}
rps_off() {
    for f in /sys/class/net/$NIC0/queues/rx-*/rps_cpus /sys/class/net/$NIC1/queues/rx-*/rps_cpus; do
        echo 0 > $f
    done
}

report() { # NAME: the JSON report, then the text one
    section ${1}_report timeout 300 hbwatch report --format json $W/$1.hbw
    section ${1}_text timeout 300 hbwatch report $W/$1.hbw
}

section lab_net lab_net
section baseline phase baseline
report baseline
irqs_to $STARVED
section fault phase fault hog
report fault
if [ "$LAB_RPS" = 1 ]; then
    rps_on
    section rps phase rps hog
    rps_off
    section rps_report timeout 300 hbwatch report --format json $W/rps.hbw
fi
section fix fix
section remeasure phase remeasure hog
report remeasure
rm -rf "$W"
