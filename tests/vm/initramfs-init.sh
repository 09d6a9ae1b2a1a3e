#!/bin/busybox sh
# PID 1 of the vm-run guest (busybox sh, inside the initramfs built by vm-run).
#
# Loads the modules of modules.list, mounts the host's root read-only over 9p
# with a tmpfs overlay on top, mounts the run's share (vm-run's per-run
# directory: configuration, second-stage script, result file), then chroots
# into the overlay and hands over to guest-stage2.sh. Any failure here prints
# a line "EMBER-VM-RESULT: FAIL ..." on the console, writes it to the result
# file when the share is already mounted, and ends the guest at once; vm-run
# turns both a FAIL and a missing result into a non-zero exit status.
# Changing this file changes the initramfs cache key (vm-run rebuilds it).

export PATH=/bin:/sbin:/usr/bin:/usr/sbin
/bin/busybox --install -s

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1

uptime_s() { cut -d' ' -f1 /proc/uptime 2>/dev/null || cut -d' ' -f1 /newroot/proc/uptime; }
say() { echo "ember-vm init: [$(uptime_s) s] $*"; }

end_guest() {
	sync
	p=/proc
	[ -e $p/sysrq-trigger ] || p=/newroot/proc
	echo 1 >$p/sys/kernel/sysrq
	echo b >$p/sysrq-trigger
	sleep 60
}

fail() {
	echo "ember-vm init: FAIL: $*"
	echo "EMBER-VM-RESULT: FAIL $*"
	for r in /vmrun /newroot/run/ember-vm; do
		if mountpoint -q $r; then
			echo "fail $*" >$r/result
			break
		fi
	done
	echo "ember-vm init: last kernel messages:"
	dmesg | tail -n 15
	end_guest
}

say "kernel $(uname -r), loading modules"
kver=$(uname -r)
while read -r mod; do
	case "$mod" in '' | '#'*) continue ;; esac
	modprobe "$mod" ||
		fail "modprobe $mod failed: kernel module missing from the initramfs or refused by the kernel (list: tests/vm/modules.list)"
done </etc/ember-vm/modules.list
[ -d "/lib/modules/$kver" ] || fail "initramfs has no modules for kernel $kver"

mkdir -p /host /ovl /newroot /vmrun /keep
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro hostroot /host ||
	fail "cannot mount the host root over 9p (modules 9p, 9pnet_virtio, virtio_pci loaded?)"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 vmrun /vmrun ||
	fail "cannot mount the run share over 9p"
mount -t tmpfs -o mode=0755 tmpfs /ovl
mkdir -p /ovl/upper /ovl/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/ovl/upper,workdir=/ovl/work /newroot ||
	fail "cannot mount the overlay on the host root (module overlay loaded?)"

# /tmp becomes a tmpfs, but directories of the run that live under the host's
# /tmp (a build tree in /tmp/x, say) stay visible: bind them aside first.
n=0
if [ -f /vmrun/keep.list ]; then
	while read -r dir; do
		[ -n "$dir" ] && [ -d "/newroot$dir" ] || continue
		n=$((n + 1))
		mkdir -p "/keep/$n"
		mount -o bind "/newroot$dir" "/keep/$n" || fail "cannot bind $dir"
		echo "$dir" >"/keep/$n.path"
	done </vmrun/keep.list
fi
mount -t tmpfs -o mode=1777 tmpfs /newroot/tmp
i=1
while [ "$i" -le "$n" ]; do
	dir=$(cat "/keep/$i.path")
	mkdir -p "/newroot$dir"
	mount -o move "/keep/$i" "/newroot$dir" || fail "cannot keep $dir visible"
	i=$((i + 1))
done

mount -t tmpfs -o mode=0755 tmpfs /newroot/run
mkdir -p /newroot/run/ember-vm
mount -o move /vmrun /newroot/run/ember-vm || fail "cannot move the run share"
mount -o move /proc /newroot/proc
mount -o move /sys /newroot/sys
mount -o move /dev /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /newroot/dev/pts
mount -t tmpfs -o mode=1777 tmpfs /newroot/dev/shm

[ -x /newroot/bin/bash ] || fail "the host root has no /bin/bash"
[ -f /newroot/run/ember-vm/stage2.sh ] || fail "the run share has no stage2.sh"
say "host root mounted, switching to the host userland"
exec chroot /newroot /bin/bash /run/ember-vm/stage2.sh
