// Package fakeqemu is a test double for qemu, registered as "fake-qemu" in the
// hermetic CLI tier. Only _test.go files may import it.
package fakeqemu

import (
	"fmt"
	"os"
)

// Main is the fake's entry point.
func Main() {
	fmt.Fprintln(os.Stderr, "fake-qemu: not implemented yet")
	os.Exit(3)
}
