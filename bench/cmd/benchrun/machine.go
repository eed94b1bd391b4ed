package main

import (
	"bufio"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// machine is what the numbers were measured on.
type machine struct {
	CPU, Cores, Memory, Kernel, Go, Rust, Wrk, PHP, Load string
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
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.Load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
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
