// Command git-rapido builds, boots and tests Linux kernel commits in QEMU and
// records the verdicts as commit trailers. Run "git rapido --help".
package main

import (
	"os"

	"github.com/git-rapido/git-rapido/cmd/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args)) }
