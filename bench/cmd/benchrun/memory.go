package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// resetPeak zeroes the kernel's peak-RSS mark (VmHWM) of pid, so that the next reading
// is the peak of one load run rather than of the process's life ("5" > clear_refs).
func resetPeak(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// memoryKiB reads VmRSS and VmHWM of pid in KiB. The server's own process only: the
// PHP workers are its children and are not counted (the velox library is in-process).
func memoryKiB(pid int) (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = n
		case "VmHWM":
			hwm = n
		}
	}
	return rss, hwm, sc.Err()
}

// withPeak runs one load run against the server pid and returns, with its result, the
// server's peak RSS during that run alone (KiB; 0 when it cannot be read).
func withPeak[T any](pid int, run func() (T, error)) (T, int64, error) {
	_ = resetPeak(pid)
	r, err := run()
	_, peak, _ := memoryKiB(pid)
	return r, peak, err
}
