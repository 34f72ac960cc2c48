package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/git-rapido/git-rapido/vmrun"
)

type qmpOptions struct {
	socket  string
	timeout time.Duration
}

func init() {
	Register(func() *Command {
		o := &qmpOptions{}
		return &Command{
			Name:     "qmp",
			Synopsis: []string{"qmp [--socket <path>] [--timeout <duration>] <command> [<json-arguments>]"},
			Short:    "run one QEMU monitor (QMP) command on a running test VM",
			Long: `Plumbing for a cut's host hooks (the host-hook manifest directive): connects
to the QMP socket of the VM being tested ($RAPIDO_QMP unless --socket is
given), waiting for it to appear, negotiates capabilities, runs <command>
with the JSON object <json-arguments>, and prints the reply's "return"
value as JSON. A QMP error is printed and exits 1.

    git rapido qmp device_del '{"id":"path1"}'
    git rapido qmp query-block`,
			Hidden: true,
			Flags: func(fs *pflag.FlagSet) {
				fs.StringVar(&o.socket, "socket", "", "the QMP unix socket `path` (default $RAPIDO_QMP)")
				fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "give up after `duration`")
			},
			Run: func(ctx context.Context, env *Env, args []string) error {
				return runQMP(ctx, env, o, args)
			},
		}
	})
}

func runQMP(ctx context.Context, env *Env, o *qmpOptions, args []string) error {
	if len(args) < 1 || len(args) > 2 {
		return Usagef("want <command> [<json-arguments>]")
	}
	if o.timeout <= 0 {
		return Usagef("--timeout: want a positive duration such as 30s, got %s", o.timeout)
	}
	socket := o.socket
	if socket == "" {
		socket = os.Getenv("RAPIDO_QMP")
	}
	if socket == "" {
		return Usagef("no QMP socket: give --socket or run from a cut's host hook ($RAPIDO_QMP)")
	}
	var a []byte
	if len(args) == 2 {
		if !json.Valid([]byte(args[1])) {
			return Usagef("arguments %q: not JSON", args[1])
		}
		a = []byte(args[1])
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	ret, err := vmrun.QMP(ctx, socket, args[0], a)
	if err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	if len(ret) == 0 {
		ret = []byte("{}")
	}
	fmt.Fprintln(env.Stdout, string(ret))
	return nil
}
