// Package remote plans a test run on another machine over ssh: it reads
// and checks the rapido.remote.<name>.url and the settings that travel
// with the run, and builds the ssh arguments and the words of the remote
// command. It is pure: the caller pushes, runs ssh and fetches (through
// git), and quotes the words for the remote shell.
package remote

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// Target is where a remote's repository is: [User@]Host, an ssh Port (0:
// ssh's default) and the repository's Path there ("" never; a relative
// path is relative to the login directory).
type Target struct {
	URL, User, Host, Path string
	Port                  int
}

var (
	nameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)
	hostRe = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])$`)
	userRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*$`)
)

// CheckName checks a remote's name (the <name> of rapido.remote.<name>.url).
func CheckName(name string) error {
	if !nameRe.MatchString(name) {
		return fmt.Errorf("remote name %q: want letters, digits, - and _", name)
	}
	return nil
}

// URLKey is the configuration key holding a remote's URL.
func URLKey(name string) string { return "rapido.remote." + name + ".url" }

// ParseURL reads an ssh URL, ssh://[user@]host[:port]/path or the scp-like
// [user@]host:path, and refuses anything else: other transports (a local
// path, ext::, http), and a host, user or path that ssh or the remote shell
// could read as something other than a name (a leading "-" is an option
// to ssh; control characters end a line).
func ParseURL(u string) (Target, error) {
	bad := func(why string) (Target, error) {
		return Target{}, fmt.Errorf("remote URL %q: %s (want ssh://[user@]host[:port]/path or [user@]host:path)", u, why)
	}
	if strings.ContainsFunc(u, unicode.IsControl) {
		return bad("control characters")
	}
	t := Target{URL: u}
	var hostport string
	if rest, ok := strings.CutPrefix(u, "ssh://"); ok {
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			return bad("no path")
		}
		hostport, t.Path = rest[:i], rest[i:]
		// ssh://host/~/repo is the login directory's repo, as for git.
		if p, ok := strings.CutPrefix(t.Path, "/~/"); ok {
			t.Path = p
		}
		if at := strings.LastIndexByte(hostport, '@'); at >= 0 {
			t.User, hostport = hostport[:at], hostport[at+1:]
		}
		if i := strings.LastIndexByte(hostport, ':'); i >= 0 && !strings.HasSuffix(hostport, "]") {
			p, err := strconv.Atoi(hostport[i+1:])
			if err != nil || p < 1 || p > 65535 {
				return bad("bad port")
			}
			t.Port, hostport = p, hostport[:i]
		}
	} else {
		if strings.Contains(u, "://") || strings.HasPrefix(u, "/") || strings.HasPrefix(u, ".") {
			return bad("not ssh")
		}
		i := strings.IndexByte(u, ':')
		if i < 0 || strings.Contains(u[:i], "/") {
			return bad("not ssh")
		}
		hostport, t.Path = u[:i], u[i+1:]
		if strings.HasPrefix(t.Path, ":") {
			return bad("not ssh") // git's <transport>::<address>
		}
		if at := strings.LastIndexByte(hostport, '@'); at >= 0 {
			t.User, hostport = hostport[:at], hostport[at+1:]
		}
		t.Path = strings.TrimPrefix(t.Path, "~/")
	}
	t.Host = hostport
	switch {
	case !hostRe.MatchString(t.Host):
		return bad(fmt.Sprintf("bad host %q", t.Host))
	case t.User != "" && !userRe.MatchString(t.User):
		return bad(fmt.Sprintf("bad user %q", t.User))
	case t.Path == "" || t.Path == "/":
		return bad("no path")
	case strings.HasPrefix(t.Path, "-"):
		return bad("a path starting with -")
	}
	return t, nil
}

// GitURL is the URL git is given: rebuilt from the checked parts as an
// ssh:// URL, so that git never reads the user's text as another
// transport or an option.
func (t Target) GitURL() string {
	host := t.Dest()
	if t.Port != 0 {
		host += ":" + strconv.Itoa(t.Port)
	}
	if strings.HasPrefix(t.Path, "/") {
		return "ssh://" + host + t.Path
	}
	return "ssh://" + host + "/~/" + t.Path
}

// Dest is ssh's destination argument.
func (t Target) Dest() string {
	if t.User != "" {
		return t.User + "@" + t.Host
	}
	return t.Host
}

// SSHArgs are the arguments to ssh that run command there: the port, then
// "--" so that nothing after it is an option, the destination and the
// command (one argument: ssh hands it to the remote shell).
func (t Target) SSHArgs(command string) []string {
	var a []string
	if t.Port != 0 {
		a = append(a, "-p", strconv.Itoa(t.Port))
	}
	return append(a, "--", t.Dest(), command)
}

// Forwarded lists the settings a remote run takes from this repository,
// because they decide what is tested: the kernel configuration, the
// architecture and toolchain family, the cut and the VM. Where things are
// on this machine (buildDir, cutPath, qemu, compiler paths, keys) and how
// fast it builds (jobs, accel, the launcher) are the remote's own.
var Forwarded = []string{
	"rapido.kernelConfig", "rapido.kconfig", "rapido.arch", "rapido.crossCompile", "rapido.llvm",
	"rapido.cut", "rapido.memory", "rapido.cpus", "rapido.kernelArgs", "rapido.qemuExtraArgs",
	"rapido.timeout", "rapido.bootTimeout", "rapido.net.mode",
}

// Setting is one forwarded key and value.
type Setting struct{ Key, Value string }

// Config is the read side of git config that Settings needs.
type Config interface {
	Get(key string) (string, bool)
	All(key string) []string
}

// Settings reads the forwarded keys that are set here. check is the key
// table's own check (vmrun.CheckValue); a value it refuses, one with a
// control character, and a file (a fragment or base config is a path on
// this machine) are refused, naming the key.
func Settings(cfg Config, check func(key, value string) error, isTarget func(string) bool) ([]Setting, error) {
	var out []Setting
	for _, k := range Forwarded {
		var vals []string
		if k == "rapido.kconfig" {
			vals = cfg.All(k)
		} else if v, ok := cfg.Get(k); ok {
			vals = []string{v}
		}
		for _, v := range vals {
			if strings.ContainsFunc(v, unicode.IsControl) {
				return nil, fmt.Errorf("%s: control characters in %q", k, v)
			}
			if err := check(k, v); err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			file := (k == "rapido.kconfig" && !strings.HasPrefix(v, "CONFIG_") && !strings.HasPrefix(v, "# CONFIG_")) ||
				(k == "rapido.kernelConfig" && !isTarget(v))
			if file {
				return nil, fmt.Errorf("%s: %q is a file on this machine; set %s in the remote repository instead", k, v, k)
			}
			out = append(out, Setting{k, v})
		}
	}
	return out, nil
}

// Command is the words of the remote command: git in the repository, with
// the settings as -c options, running "git rapido test" on revs (full
// object names: no ref name of this repository reaches the remote shell)
// and, after "--", the test command.
func Command(t Target, settings []Setting, jobs int, revs, test []string) []string {
	w := []string{"git", "-C", t.Path}
	for _, s := range settings {
		w = append(w, "-c", s.Key+"="+s.Value)
	}
	w = append(w, "rapido", "test", "--keep-going", "--json")
	if jobs > 0 {
		w = append(w, "--jobs", strconv.Itoa(jobs))
	}
	w = append(w, revs...)
	if len(test) > 0 {
		w = append(append(w, "--"), test...)
	}
	return w
}

var hashRe = regexp.MustCompile(`^\^?[0-9a-f]{40}([0-9a-f]{24})?$`)

// CheckRevs checks what "git rev-parse" made of the range: full object
// names, the excluded ones with a ^.
func CheckRevs(revs []string) error {
	if len(revs) == 0 {
		return fmt.Errorf("empty revision range")
	}
	for _, r := range revs {
		if !hashRe.MatchString(r) {
			return fmt.Errorf("revision %q is not an object name", r)
		}
	}
	return nil
}
