//go:build devstack

package main

import (
	"runtime"
)

func nproc() int        { return runtime.NumCPU() }
func goVersion() string { return runtime.Version() }
