package main

import (
	"bufio"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

// machine is what the numbers were measured on.
type machine struct {
	CPU, Cores, Memory, Kernel, Go, Rust, Wrk, PHP, Load string
	LoadStart                                            string // load average when measuring began
}

// loadAvg is the 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// loaded says whether the 1-minute load average at the start or the end exceeded the
// cores: then other work competed with the measurement.
func (m machine) loaded() bool {
	cores, err := strconv.ParseFloat(m.Cores, 64)
	if err != nil {
		return false
	}
	for _, l := range []string{m.LoadStart, m.Load} {
		if f := strings.Fields(l); len(f) > 0 {
			if v, err := strconv.ParseFloat(f[0], 64); err == nil && v > cores {
				return true
			}
		}
	}
	return false
}

func describeMachine() machine {
	m := machine{Go: runtime.Version()}
	m.CPU = firstMatch("/proc/cpuinfo", "model name")
	m.Memory = firstMatch("/proc/meminfo", "MemTotal")
	m.Cores = firstLine("nproc")
	m.Kernel = firstLine("uname", "-srm")
	m.Rust = firstLine("rustc", "--version")
	m.PHP = firstLine("php", "-r", "echo 'PHP ', PHP_VERSION;")
	m.Wrk = firstLine("wrk", "-v")
	m.Load = loadAvg()
	return m
}

func firstMatch(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return "?"
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// firstLine runs a command and keeps the first line of its output (wrk -v exits 1).
func firstLine(name string, args ...string) string {
	out, _ := exec.Command(name, args...).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if line == "" {
		return "?"
	}
	return line
}
