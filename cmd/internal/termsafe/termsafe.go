// Package termsafe makes untrusted text safe to print on a terminal.
//
// Subjects, trailer values, names and reasons come from commits, notes and
// guests that anyone may have written. Printed raw, a carriage return or an
// escape sequence in them can overwrite what git rapido printed before it
// (a "fail" line rewritten into "ok"), change colours or set the window
// title. Every print site of such text goes through Escape.
package termsafe

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Escape returns s with every control character written as a visible escape:
// C0 controls and DEL as \r, \n, \t, \x1b and so on, C1 controls and the
// Unicode bidirectional overrides (which reorder what the reader sees) as
// \u009b, and bytes that are not UTF-8 as \xff. Other text, backslashes
// included, is left as it is: the output is for reading, not for parsing.
func Escape(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x20 || r == 0x7f:
			b.WriteString(c0(r))
		case isUnsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// Line escapes a formatted progress line but keeps its final newline.
func Line(s string) string {
	body, nl := strings.CutSuffix(s, "\n")
	if nl {
		return Escape(body) + "\n"
	}
	return Escape(body)
}

// HasControl reports whether s holds anything Escape would rewrite: such a
// value cannot be put on one line of a header or a user id.
func HasControl(s string) bool { return needsEscape(s) }

func needsEscape(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r < 0x20 || r == 0x7f || (r == utf8.RuneError && size == 1) || isUnsafeRune(r) {
			return true
		}
		i += size
	}
	return false
}

// isUnsafeRune: C1 controls (0x9b is CSI on 8-bit terminals) and the bidi
// embedding, override and isolate controls.
func isUnsafeRune(r rune) bool {
	return r >= 0x80 && r <= 0x9f ||
		r == 0x200e || r == 0x200f || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}

func c0(r rune) string {
	switch r {
	case '\a':
		return `\a`
	case '\b':
		return `\b`
	case '\t':
		return `\t`
	case '\n':
		return `\n`
	case '\v':
		return `\v`
	case '\f':
		return `\f`
	case '\r':
		return `\r`
	}
	return fmt.Sprintf(`\x%02x`, r)
}
