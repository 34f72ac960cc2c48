package remote

import (
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	for _, c := range []struct {
		url, dest, path, git string
		port                 int
	}{
		{"ssh://lab.example.org/srv/linux", "lab.example.org", "/srv/linux", "ssh://lab.example.org/srv/linux", 0},
		{"ssh://me@10.0.0.2:2222/srv/linux", "me@10.0.0.2", "/srv/linux", "ssh://me@10.0.0.2:2222/srv/linux", 2222},
		{"ssh://me@lab/~/linux", "me@lab", "linux", "ssh://me@lab/~/linux", 0},
		{"ssh://[::1]:22/x", "[::1]", "/x", "ssh://[::1]:22/x", 22},
		{"me@lab:linux", "me@lab", "linux", "ssh://me@lab/~/linux", 0},
		{"lab:~/src/linux", "lab", "src/linux", "ssh://lab/~/src/linux", 0},
		{"lab:/srv/my linux", "lab", "/srv/my linux", "ssh://lab/srv/my linux", 0},
	} {
		tg, err := ParseURL(c.url)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", c.url, err)
			continue
		}
		if tg.Dest() != c.dest || tg.Path != c.path || tg.Port != c.port || tg.GitURL() != c.git {
			t.Errorf("ParseURL(%q) = dest %q path %q port %d git %q; want %q %q %d %q", c.url, tg.Dest(), tg.Path, tg.Port, tg.GitURL(), c.dest, c.path, c.port, c.git)
		}
	}
	for _, bad := range []string{
		"", "/srv/linux", "./linux", "file:///srv/linux", "https://lab/linux", "ext::sh -c touch% x",
		"ssh://-oProxyCommand=touch${IFS}x/y", "-oProxyCommand=x:y", "ssh://lab", "ssh://lab/", "ssh://lab:0/x",
		"ssh://lab:99999/x", "ssh://me;id@lab/x", "ssh://lab/x\ny", "lab:", "lab:-x",
		"ssh://la b/x", "ssh://-me@lab/x", "a/b:c",
	} {
		if tg, err := ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) accepted: %+v", bad, tg)
		}
	}
}

// FuzzParseURL: whatever is accepted gives ssh a destination that is not
// an option, and git an ssh:// URL that parses back to the same target.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"ssh://me@lab:22/srv/x", "lab:x", "ext::sh", "ssh://-o/x", "[::1]:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, u string) {
		tg, err := ParseURL(u)
		if err != nil {
			return
		}
		if strings.HasPrefix(tg.Dest(), "-") || strings.HasPrefix(tg.Path, "-") || tg.Path == "" {
			t.Fatalf("ParseURL(%q) = %+v: an option or no path", u, tg)
		}
		back, err := ParseURL(tg.GitURL())
		if err != nil || back.Dest() != tg.Dest() || back.Port != tg.Port || back.Path != tg.Path {
			t.Fatalf("ParseURL(%q).GitURL() = %q parses to %+v, %v", u, tg.GitURL(), back, err)
		}
		args := tg.SSHArgs("true")
		if i := len(args) - 3; args[i] != "--" {
			t.Fatalf("SSHArgs = %q: no -- before the destination", args)
		}
	})
}

type mapConfig map[string][]string

func (m mapConfig) Get(k string) (string, bool) {
	v := m[k]
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}
func (m mapConfig) All(k string) []string { return m[k] }

func TestSettings(t *testing.T) {
	ok := func(string, string) error { return nil }
	isTarget := func(b string) bool { return b == "tinyconfig" || strings.HasSuffix(b, "_defconfig") }
	s, err := Settings(mapConfig{"rapido.kconfig": {"CONFIG_X=y", "# CONFIG_Y is not set"}, "rapido.memory": {"1G"},
		"rapido.kernelConfig": {"x86_64_defconfig"}, "rapido.buildDir": {"/mine"}, "rapido.accel": {"kvm"}}, ok, isTarget)
	if err != nil {
		t.Fatal(err)
	}
	want := []Setting{{"rapido.kernelConfig", "x86_64_defconfig"}, {"rapido.kconfig", "CONFIG_X=y"},
		{"rapido.kconfig", "# CONFIG_Y is not set"}, {"rapido.memory", "1G"}}
	if len(s) != len(want) {
		t.Fatalf("Settings = %q; want %q (this machine's paths and speed stay here)", s, want)
	}
	for i := range want {
		if s[i] != want[i] {
			t.Errorf("Settings[%d] = %q; want %q", i, s[i], want[i])
		}
	}
	for _, c := range []mapConfig{
		{"rapido.kconfig": {"debug.config"}},
		{"rapido.kernelConfig": {"/home/me/.config"}},
		{"rapido.kernelArgs": {"quiet\nrm -rf /"}},
	} {
		if _, err := Settings(c, ok, isTarget); err == nil {
			t.Errorf("Settings(%q) accepted", c)
		}
	}
}

func TestCommandWords(t *testing.T) {
	tg, _ := ParseURL("lab:/srv/linux")
	w := Command(tg, []Setting{{"rapido.memory", "1G"}}, 2, []string{"^" + strings.Repeat("a", 40), strings.Repeat("b", 40)}, []string{"sh", "-c", "true"})
	want := "git -C /srv/linux -c rapido.memory=1G rapido test --keep-going --json --jobs 2 ^" + strings.Repeat("a", 40) + " " + strings.Repeat("b", 40) + " -- sh -c true"
	if got := strings.Join(w, " "); got != want {
		t.Errorf("Command = %q\nwant      %q", got, want)
	}
	if CheckRevs([]string{"HEAD"}) == nil || CheckRevs([]string{"--all"}) == nil || CheckRevs(nil) == nil {
		t.Error("CheckRevs accepts what is not an object name")
	}
}
