package cli

import (
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
)

// A pager for commands whose output can be long (log, verify, report),
// started as git starts one: only when stdout is a terminal, with the
// command "git var GIT_PAGER" names (GIT_PAGER, core.pager, PAGER, then
// less), none when that is "cat" or empty ("git -P rapido log" sets
// GIT_PAGER=cat), and LESS=FRX / LV=-c unless the user set them, so a
// short output prints and exits as if no pager ran.
type pager struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	prev io.Writer
}

// pagerInUse reports whether our stdout already goes to a pager: ours, or
// one git started for us (GIT_PAGER_IN_USE), so colour stays on.
func (e *Env) pagerInUse(ctx context.Context) bool {
	if e.paging {
		return true
	}
	if e.Getenv == nil {
		return false
	}
	v := e.Getenv("GIT_PAGER_IN_USE")
	return v != "" && v != "0" && !strings.EqualFold(v, "false")
}

// startPager points env.Stdout at a pager when one should run, and returns
// the function that waits for it; call it before returning, also on error.
func startPager(ctx context.Context, env *Env) func() {
	if env.Runner == nil || !IsTerminal(env.Stdout) || env.pagerInUse(ctx) {
		return func() {}
	}
	name, err := env.Runner.Git(ctx, "var", "GIT_PAGER")
	name = strings.TrimSpace(name)
	if err != nil || name == "" || name == "cat" {
		return func() {}
	}
	c := exec.Command("sh", "-c", name)
	c.Stdout, c.Stderr = env.Stdout, env.Stderr
	c.Env = os.Environ()
	for _, kv := range []string{"LESS=FRX", "LV=-c"} {
		k, _, _ := strings.Cut(kv, "=")
		if env.Getenv == nil || env.Getenv(k) == "" {
			c.Env = append(c.Env, kv)
		}
	}
	c.Env = append(c.Env, "GIT_PAGER_IN_USE=true")
	in, err := c.StdinPipe()
	if err != nil {
		return func() {}
	}
	env.Runner.TraceArgs(c.Args)
	if err := c.Start(); err != nil {
		return func() {}
	}
	p := &pager{cmd: c, in: in, prev: env.Stdout}
	env.Stdout, env.paging = in, true
	return func() {
		p.in.Close()
		p.cmd.Wait()
		env.Stdout, env.paging = p.prev, false
	}
}
