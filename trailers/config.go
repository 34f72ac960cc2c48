package trailers

import (
	"errors"
	"fmt"
	"strings"
)

// Where says where a new trailer goes (trailer.where, --where).
type Where int

// Where values. WhereDefault means "not set here": on an Arg it defers to the
// configuration, in the configuration it is what a valueless key gives.
const (
	WhereDefault Where = iota
	WhereEnd
	WhereAfter
	WhereBefore
	WhereStart
)

// IfExists says what to do when a trailer with the same token is already
// there (trailer.ifexists, --if-exists).
type IfExists int

// IfExists values; ExistsDefault defers to the configuration.
const (
	ExistsDefault IfExists = iota
	ExistsAddIfDifferentNeighbor
	ExistsAddIfDifferent
	ExistsAdd
	ExistsReplace
	ExistsDoNothing
)

// IfMissing says what to do when no trailer with the same token is there
// (trailer.ifmissing, --if-missing).
type IfMissing int

// IfMissing values; MissingDefault defers to the configuration.
const (
	MissingDefault IfMissing = iota
	MissingAdd
	MissingDoNothing
)

// ParseWhere parses a where value case-insensitively, as git does.
func ParseWhere(s string) (Where, bool) {
	switch strings.ToLower(s) {
	case "after":
		return WhereAfter, true
	case "before":
		return WhereBefore, true
	case "end":
		return WhereEnd, true
	case "start":
		return WhereStart, true
	}
	return WhereDefault, false
}

// ParseIfExists parses an ifExists value case-insensitively.
func ParseIfExists(s string) (IfExists, bool) {
	switch strings.ToLower(s) {
	case "addifdifferent":
		return ExistsAddIfDifferent, true
	case "addifdifferentneighbor":
		return ExistsAddIfDifferentNeighbor, true
	case "add":
		return ExistsAdd, true
	case "replace":
		return ExistsReplace, true
	case "donothing":
		return ExistsDoNothing, true
	}
	return ExistsDefault, false
}

// ParseIfMissing parses an ifMissing value case-insensitively.
func ParseIfMissing(s string) (IfMissing, bool) {
	switch strings.ToLower(s) {
	case "donothing":
		return MissingDoNothing, true
	case "add":
		return MissingAdd, true
	}
	return MissingDefault, false
}

// ConfigItem is one git configuration entry, with the key as
// "git config --list" prints it (section and variable lower-cased).
type ConfigItem struct {
	Key   string
	Value string
	// NoValue marks a key given without "=" (a boolean true in git); for the
	// trailer keys git treats it as "unset" or rejects it.
	NoValue bool
}

// itemConf is the configuration of one trailer.<name> section.
type itemConf struct {
	name      string
	key       string
	hasKey    bool
	command   string
	hasCmd1   bool // .command
	cmd       string
	hasCmd2   bool // .cmd
	where     Where
	ifExists  IfExists
	ifMissing IfMissing
}

// Config is the trailer configuration: separators, comment character,
// defaults and the trailer.<name>.* sections, in the order git reads them.
type Config struct {
	separators  string
	commentChar byte
	def         itemConf
	items       []*itemConf
	// Warnings are the "warning: ..." lines git prints once when it reads
	// this configuration (unknown values, duplicated keys), in git's order.
	Warnings []string
}

// ErrCommentChar is the cause of the ConfigError NewConfig returns for a
// core.commentChar that is not one character; git refuses to start then.
var ErrCommentChar = errors.New("core.commentChar should only be one character")

// ConfigError is a configuration value git refuses to start with. Git prints
// "error: <Err>" and then dies naming Key and where it was set.
type ConfigError struct {
	Key string // as in the configuration, e.g. "core.commentchar"
	Err error
}

func (e *ConfigError) Error() string { return e.Key + ": " + e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

func missingValue(key string) error {
	return &ConfigError{Key: key, Err: fmt.Errorf("missing value for '%s'", key)}
}

// DefaultConfig is the configuration of a git with no trailer.* keys.
func DefaultConfig() *Config {
	c, _ := NewConfig(nil)
	return c
}

// NewConfig builds the trailer configuration from git config entries in the
// order git reports them. Like git (trailer.c ensure_configured) it reads all
// the defaults (trailer.where, trailer.ifexists, trailer.ifmissing,
// trailer.separators) first and then the per-trailer sections, whose
// where/ifexists/ifmissing start from those defaults whatever the order of
// the keys. Other keys are ignored, except core.commentchar. The error is a
// *ConfigError for a value git refuses (a bad core.commentChar, a key,
// command or separators without a value: git 2.39 crashes on the latter,
// later gits refuse them).
func NewConfig(items []ConfigItem) (*Config, error) {
	c := &Config{separators: ":", commentChar: '#'}
	c.def = itemConf{where: WhereEnd, ifExists: ExistsAddIfDifferentNeighbor, ifMissing: MissingAdd}
	for _, it := range items {
		if strings.EqualFold(it.Key, "core.commentchar") {
			switch {
			case it.NoValue:
				return nil, missingValue(it.Key)
			case strings.EqualFold(it.Value, "auto"):
				// interpret-trailers never guesses: "auto" keeps the
				// character in force (normally '#').
			case len(it.Value) == 1:
				c.commentChar = it.Value[0]
			default:
				return nil, &ConfigError{Key: it.Key, Err: ErrCommentChar}
			}
		}
	}
	// Pass 1: defaults.
	for _, it := range items {
		rest, ok := cutPrefixFold(it.Key, "trailer.")
		if !ok || strings.Contains(rest, ".") {
			continue
		}
		val, unset := it.Value, it.NoValue
		switch strings.ToLower(rest) {
		case "where":
			if unset {
				c.def.where = WhereDefault
			} else if w, ok := ParseWhere(val); ok {
				c.def.where = w
			} else {
				c.warnValue(val, it.Key)
			}
		case "ifexists":
			if unset {
				c.def.ifExists = ExistsDefault
			} else if v, ok := ParseIfExists(val); ok {
				c.def.ifExists = v
			} else {
				c.warnValue(val, it.Key)
			}
		case "ifmissing":
			if unset {
				c.def.ifMissing = MissingDefault
			} else if v, ok := ParseIfMissing(val); ok {
				c.def.ifMissing = v
			} else {
				c.warnValue(val, it.Key)
			}
		case "separators":
			if unset {
				return nil, missingValue(it.Key)
			}
			c.separators = val
		}
	}
	// Pass 2: trailer.<name>.<variable>.
	for _, it := range items {
		rest, ok := cutPrefixFold(it.Key, "trailer.")
		if !ok {
			continue
		}
		dot := strings.LastIndexByte(rest, '.')
		if dot < 0 {
			continue
		}
		name, variable := rest[:dot], strings.ToLower(rest[dot+1:])
		switch variable {
		case "key", "command", "cmd", "where", "ifexists", "ifmissing":
		default:
			continue
		}
		ic := c.item(name)
		val, unset := it.Value, it.NoValue
		switch variable {
		case "key", "command", "cmd":
			var has *bool
			var dst *string
			switch variable {
			case "key":
				has, dst = &ic.hasKey, &ic.key
			case "command":
				has, dst = &ic.hasCmd1, &ic.command
			default:
				has, dst = &ic.hasCmd2, &ic.cmd
			}
			if *has {
				c.Warnings = append(c.Warnings, fmt.Sprintf("warning: more than one %s", it.Key))
			}
			if unset {
				return nil, missingValue(it.Key)
			}
			*has, *dst = true, val
		case "where":
			if unset {
				ic.where = WhereDefault
			} else if w, ok := ParseWhere(val); ok {
				ic.where = w
			} else {
				c.warnValue(val, it.Key)
			}
		case "ifexists":
			if unset {
				ic.ifExists = ExistsDefault
			} else if v, ok := ParseIfExists(val); ok {
				ic.ifExists = v
			} else {
				c.warnValue(val, it.Key)
			}
		case "ifmissing":
			if unset {
				ic.ifMissing = MissingDefault
			} else if v, ok := ParseIfMissing(val); ok {
				ic.ifMissing = v
			} else {
				c.warnValue(val, it.Key)
			}
		}
	}
	return c, nil
}

func (c *Config) warnValue(val, key string) {
	c.Warnings = append(c.Warnings, fmt.Sprintf("warning: unknown value '%s' for key '%s'", val, key))
}

// item returns the section called name (compared case-insensitively, as
// git does), creating it from the defaults.
func (c *Config) item(name string) *itemConf {
	for _, ic := range c.items {
		if strings.EqualFold(ic.name, name) {
			return ic
		}
	}
	ic := c.def
	ic.name = name
	c.items = append(c.items, &ic)
	return &ic
}

// Separators returns trailer.separators (":" by default).
func (c *Config) Separators() string { return c.separators }

// CommentChar returns the comment character in force (core.commentChar).
func (c *Config) CommentChar() byte { return c.commentChar }

// HasCommands reports whether any trailer.<name>.command or .cmd is set, that
// is whether Process may call its CommandRunner.
func (c *Config) HasCommands() bool {
	for _, ic := range c.items {
		if ic.hasCmd1 || ic.hasCmd2 {
			return true
		}
	}
	return false
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}
