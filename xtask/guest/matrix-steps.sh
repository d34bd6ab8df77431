# Steps of the kernel matrix, sourced by init.sh in the guest (and run natively for the host
# row). `section NAME CMD...` sends CMD's output and exit code to the host.
W=$(mktemp -d /tmp/hbw-matrix.XXXXXX)
section check hbwatch check
section demo hbwatch demo -o "$W/demo.hbw"
section demo_report hbwatch report --format json "$W/demo.hbw"
section demo_text hbwatch report "$W/demo.hbw"
section classic hbwatch record -d 3s --no-btf -o "$W/classic.hbw"
section classic_report hbwatch report --format json "$W/classic.hbw"
rm -rf "$W"
