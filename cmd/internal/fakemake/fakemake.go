// Package fakemake is a test double for make, registered as "fake-make" in the
// hermetic CLI tier. Only _test.go files may import it.
package fakemake

import (
	"fmt"
	"os"
)

// Main is the fake's entry point.
func Main() {
	fmt.Fprintln(os.Stderr, "fake-make: not implemented yet")
	os.Exit(3)
}
