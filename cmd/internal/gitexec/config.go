package gitexec

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
)

// ConfigEntry is one configuration value as git reports it.
type ConfigEntry struct {
	Key    string // canonical: section and name lower-cased, subsection as written
	Value  string
	Origin string // e.g. "file:/home/u/.gitconfig" or "command line:"
	Scope  string // system, global, local, worktree, command
	NoVal  bool   // "[section] key" with no "=": a boolean true
}

// Config is a snapshot of the effective git configuration: all scopes,
// includes, -c and GIT_CONFIG_PARAMETERS, read once through the git binary so
// that git rapido sees exactly what git sees.
type Config struct {
	Entries []ConfigEntry
}

// ReadConfig runs "git config --list" once and parses its -z output. Outside a
// repository it still returns the system and global configuration.
func (r *Runner) ReadConfig(ctx context.Context) (*Config, error) {
	out, err := r.Output(ctx, "git", "config", "--list", "-z", "--show-origin", "--show-scope")
	if err != nil {
		// An empty configuration makes "git config --list" exit 0, so any
		// failure here is real (for example a syntax error in a config file).
		return nil, fmt.Errorf("read git config: %w", err)
	}
	return ParseConfigZ(out)
}

// ParseConfigZ parses the output of
// "git config --list -z --show-origin --show-scope": records of
// scope NUL origin NUL key LF value NUL (key NUL when there is no value).
func ParseConfigZ(b []byte) (*Config, error) {
	c := &Config{}
	fields := bytes.Split(b, []byte{0})
	for i := 0; i+2 < len(fields); i += 3 {
		scope, origin, kv := string(fields[i]), string(fields[i+1]), string(fields[i+2])
		e := ConfigEntry{Scope: scope, Origin: origin}
		if k, v, ok := strings.Cut(kv, "\n"); ok {
			e.Key, e.Value = k, v
		} else {
			e.Key, e.NoVal = kv, true
		}
		e.Key = CanonicalKey(e.Key)
		c.Entries = append(c.Entries, e)
	}
	return c, nil
}

// CanonicalKey lower-cases the section and variable name of a config key and
// keeps the subsection as written, as git compares them.
func CanonicalKey(key string) string {
	first := strings.IndexByte(key, '.')
	last := strings.LastIndexByte(key, '.')
	if first < 0 {
		return strings.ToLower(key)
	}
	return strings.ToLower(key[:first]) + key[first:last] + strings.ToLower(key[last:])
}

// Get returns the last value of key and whether it was set.
func (c *Config) Get(key string) (string, bool) {
	if c == nil {
		return "", false
	}
	key = CanonicalKey(key)
	for i := len(c.Entries) - 1; i >= 0; i-- {
		if c.Entries[i].Key == key {
			return c.Entries[i].Value, true
		}
	}
	return "", false
}

// String returns the last value of key, or def when unset.
func (c *Config) String(key, def string) string {
	if v, ok := c.Get(key); ok {
		return v
	}
	return def
}

// All returns every value of a multi-valued key in configuration order. An
// empty value resets the list, as git does for multi-valued keys such as
// credential.helper.
func (c *Config) All(key string) []string {
	if c == nil {
		return nil
	}
	key = CanonicalKey(key)
	var vals []string
	for _, e := range c.Entries {
		if e.Key != key {
			continue
		}
		if e.Value == "" && !e.NoVal {
			vals = nil
			continue
		}
		vals = append(vals, e.Value)
	}
	return vals
}

// Bool interprets key as git does (true/yes/on/1, false/no/off/0/empty, a
// bare key is true) and returns def when unset.
func (c *Config) Bool(key string, def bool) (bool, error) {
	if c == nil {
		return def, nil
	}
	key = CanonicalKey(key)
	for i := len(c.Entries) - 1; i >= 0; i-- {
		e := c.Entries[i]
		if e.Key != key {
			continue
		}
		if e.NoVal {
			return true, nil
		}
		b, err := ParseBool(e.Value)
		if err != nil {
			return def, fmt.Errorf("bad boolean config value '%s' for '%s'", e.Value, key)
		}
		return b, nil
	}
	return def, nil
}

// Int interprets key as an integer with git's k/m/g suffixes.
func (c *Config) Int(key string, def int) (int, error) {
	v, ok := c.Get(key)
	if !ok {
		return def, nil
	}
	n, err := ParseInt(v)
	if err != nil {
		return def, fmt.Errorf("bad numeric config value '%s' for '%s': invalid unit", v, key)
	}
	return n, nil
}

// Lookup returns the entry that supplies key's effective value.
func (c *Config) Lookup(key string) (ConfigEntry, bool) {
	if c == nil {
		return ConfigEntry{}, false
	}
	key = CanonicalKey(key)
	for i := len(c.Entries) - 1; i >= 0; i-- {
		if c.Entries[i].Key == key {
			return c.Entries[i], true
		}
	}
	return ConfigEntry{}, false
}

// ParseBool parses a git boolean value.
func ParseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "yes", "on", "1":
		return true, nil
	case "false", "no", "off", "0", "":
		return false, nil
	}
	if n, err := ParseInt(v); err == nil {
		return n != 0, nil
	}
	return false, fmt.Errorf("bad boolean value %q", v)
}

// ParseInt parses an integer with an optional k, m or g suffix.
func ParseInt(v string) (int, error) {
	mult := 1
	if n := len(v); n > 0 {
		switch v[n-1] {
		case 'k', 'K':
			mult, v = 1<<10, v[:n-1]
		case 'm', 'M':
			mult, v = 1<<20, v[:n-1]
		case 'g', 'G':
			mult, v = 1<<30, v[:n-1]
		}
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, err
	}
	return n * mult, nil
}
