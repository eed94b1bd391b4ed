//go:build unix

package velox

import "syscall"

// dupCloexec duplicates fd without leaking the copy into child processes.
func dupCloexec(fd int) (int, error) {
	// Hold ForkLock so that no fork happens between dup and FD_CLOEXEC (what package os
	// does on systems without an atomic flag).
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	nfd, err := syscall.Dup(fd)
	if err != nil {
		return -1, err
	}
	syscall.CloseOnExec(nfd)
	return nfd, nil
}
