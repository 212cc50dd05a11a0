package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// clkTck is sysconf(_SC_CLK_TCK): the unit of the CPU times in /proc/<pid>/stat.
// It is 100 on every mainstream Linux build (the standard library offers no
// sysconf without cgo), so it is hard-coded.
const clkTck = 100

type procStat struct {
	ppid                         int
	utime, stime, cutime, cstime uint64
}

func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(b)
}

func parseProcStat(b []byte) (procStat, error) {
	var s procStat
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return s, fmt.Errorf("malformed stat")
	}
	f := strings.Fields(string(b[i+2:]))
	// f[0] is field 3 (state); field k is f[k-3].
	if len(f) < 15 {
		return s, fmt.Errorf("short stat")
	}
	var err error
	if s.ppid, err = strconv.Atoi(f[1]); err != nil {
		return s, err
	}
	vals := []*uint64{&s.utime, &s.stime, &s.cutime, &s.cstime}
	for j, p := range vals {
		v, err := strconv.ParseInt(f[11+j], 10, 64)
		if err != nil {
			return s, err
		}
		if v < 0 {
			v = 0
		}
		*p = uint64(v)
	}
	return s, nil
}

// procTicks is the CPU time (user+system ticks) consumed by pid itself, all threads.
func procTicks(pid int) uint64 {
	if pid <= 0 {
		return 0
	}
	s, err := readProcStat(pid)
	if err != nil {
		return 0
	}
	return s.utime + s.stime
}

// pgTicks is the CPU of a PostgreSQL server: the postmaster including its
// reaped children (cutime+cstime: exited backends) plus every live child.
func pgTicks(postmaster int) uint64 {
	if postmaster <= 0 {
		return 0
	}
	s, err := readProcStat(postmaster)
	if err != nil {
		return 0
	}
	total := s.utime + s.stime + s.cutime + s.cstime
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return total
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == postmaster {
			continue
		}
		c, err := readProcStat(pid)
		if err != nil || c.ppid != postmaster {
			continue
		}
		total += c.utime + c.stime + c.cutime + c.cstime
	}
	return total
}

// vmHWM returns the peak resident set size of pid in kB.
func vmHWM(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fs := strings.Fields(rest)
			if len(fs) == 0 {
				break
			}
			return strconv.ParseInt(fs[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("VmHWM not found for pid %d", pid)
}

func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}
