// Package mbox reads a mail thread — an mbox as "b4 mbox" or
// "git format-patch --stdout" writes it — into messages with their headers
// decoded and their plain-text body extracted. It is pure: it reads the
// bytes it is given and never touches a file, a process or the network.
//
// Mail is hostile input: header and body text is returned as decoded, and
// callers escape it before it reaches a terminal. Lines are not limited in
// length, but a message is (MaxMessage) and so is the number of MIME parts
// looked at (maxParts), so a crafted mbox costs bounded work.
package mbox

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"unicode/utf8"
)

// MaxMessage is the largest message accepted, in bytes.
const MaxMessage = 64 << 20

const maxParts = 64

// Message is one mail of the thread.
type Message struct {
	Index      int    // position in the mbox, from 0
	FromName   string // decoded display name of From:
	FromEmail  string
	Subject    string // decoded, unfolded
	MessageID  string // without the angle brackets
	InReplyTo  string
	References []string
	// Body is the text/plain part, decoded to UTF-8 with CRLF turned into
	// LF; empty for a mail without one (see HTMLOnly).
	Body string
	// HTMLOnly says the mail had no text/plain part, only text/html: its
	// trailers are not read, as b4 does not read them.
	HTMLOnly bool
}

// ParseError is a message that cannot be read as mail.
type ParseError struct {
	Index int // position in the mbox, from 0
	Err   error
}

func (e *ParseError) Error() string { return fmt.Sprintf("message %d: %v", e.Index+1, e.Err) }
func (e *ParseError) Unwrap() error { return e.Err }

// ErrNotMbox means the input does not start with an mbox "From " line.
var ErrNotMbox = errors.New(`not an mbox (the first line does not start with "From ")`)

// Read splits r into messages and parses each. Any message that cannot be
// parsed makes the whole read fail: a thread read in part could attach a
// trailer to the wrong patch.
func Read(r io.Reader) ([]*Message, error) {
	raws, err := Split(r)
	if err != nil {
		return nil, err
	}
	msgs := make([]*Message, 0, len(raws))
	for i, raw := range raws {
		m, err := Parse(raw)
		if err != nil {
			return nil, &ParseError{Index: i, Err: err}
		}
		m.Index = i
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// Split cuts an mbox into raw messages (without their "From " separator
// lines). ">From " quoting, as mboxrd writes it, is undone.
func Split(r io.Reader) ([][]byte, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		msgs      [][]byte
		cur       *bytes.Buffer
		first     = true
		prevBlank = true
	)
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A long line: read the rest of it.
			rest, err2 := br.ReadBytes('\n')
			line = append(append([]byte(nil), line...), rest...)
			err = err2
		}
		if len(line) > 0 {
			isSep := bytes.HasPrefix(line, []byte("From ")) && prevBlank
			if first {
				if !bytes.HasPrefix(line, []byte("From ")) {
					return nil, ErrNotMbox
				}
				first = false
			}
			switch {
			case isSep:
				if cur != nil {
					msgs = append(msgs, trimSeparatorBlank(cur.Bytes()))
				}
				cur = &bytes.Buffer{}
			default:
				if unq := unquoteFrom(line); unq != nil {
					line = unq
				}
				if cur.Len()+len(line) > MaxMessage {
					return nil, fmt.Errorf("message %d: larger than %d MiB", len(msgs)+1, MaxMessage>>20)
				}
				cur.Write(line)
			}
			trimmed := bytes.TrimRight(line, "\r\n")
			prevBlank = len(trimmed) == 0
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if first {
		return nil, errors.New("empty input: no message")
	}
	if cur != nil {
		msgs = append(msgs, trimSeparatorBlank(cur.Bytes()))
	}
	return msgs, nil
}

// trimSeparatorBlank drops the one empty line an mbox puts before the next
// "From " line.
func trimSeparatorBlank(b []byte) []byte {
	if bytes.HasSuffix(b, []byte("\n\n")) {
		return b[:len(b)-1]
	}
	if bytes.HasSuffix(b, []byte("\r\n\r\n")) {
		return b[:len(b)-2]
	}
	return b
}

// unquoteFrom undoes mboxrd quoting: ">From ", ">>From " lose one ">".
func unquoteFrom(line []byte) []byte {
	i := 0
	for i < len(line) && line[i] == '>' {
		i++
	}
	if i == 0 || !bytes.HasPrefix(line[i:], []byte("From ")) {
		return nil
	}
	return line[1:]
}

var wordDecoder = &mime.WordDecoder{CharsetReader: charsetReader}

// Parse reads one raw message.
func Parse(raw []byte) (*Message, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("headers: %v", err)
	}
	h := msg.Header
	m := &Message{
		Subject:   unfold(decodeHeader(h.Get("Subject"))),
		MessageID: msgID(h.Get("Message-Id")),
		InReplyTo: msgID(h.Get("In-Reply-To")),
	}
	for _, f := range strings.Fields(h.Get("References")) {
		if id := msgID(f); id != "" {
			m.References = append(m.References, id)
		}
	}
	if m.MessageID == "" {
		return nil, errors.New("no Message-Id header")
	}
	from := h.Get("From")
	if from == "" {
		return nil, errors.New("no From header")
	}
	p := mail.AddressParser{WordDecoder: wordDecoder}
	if a, err := p.Parse(from); err == nil {
		m.FromName, m.FromEmail = a.Name, a.Address
	} else {
		// A From that net/mail finds invalid (unquoted commas, a bare
		// name) is still someone: keep what can be read.
		m.FromName, m.FromEmail = splitAddress(unfold(decodeHeader(from)))
	}
	body, err := io.ReadAll(msg.Body)
	if err != nil {
		return nil, fmt.Errorf("body: %v", err)
	}
	text, html, err := textPart(h.Get("Content-Type"), h.Get("Content-Transfer-Encoding"), body, 0)
	if err != nil {
		return nil, err
	}
	m.Body = strings.ReplaceAll(text, "\r\n", "\n")
	m.HTMLOnly = text == "" && html
	return m, nil
}

// textPart finds the first text/plain part and decodes it; html says a
// text/html part was seen.
func textPart(ctype, cte string, body []byte, depth int) (text string, html bool, err error) {
	if ctype == "" {
		ctype = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		// A broken Content-Type is read as plain text, as mail
		// clients do.
		mt, params = "text/plain", map[string]string{}
	}
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		if depth > 4 {
			return "", false, errors.New("MIME parts nested too deep")
		}
		boundary := params["boundary"]
		if boundary == "" {
			return "", false, errors.New("multipart message without a boundary")
		}
		mr := multipart.NewReader(bytes.NewReader(body), boundary)
		for n := 0; ; n++ {
			if n >= maxParts {
				return "", false, fmt.Errorf("more than %d MIME parts", maxParts)
			}
			part, err := mr.NextRawPart()
			if err == io.EOF {
				return "", html, nil
			}
			if err != nil {
				return "", false, fmt.Errorf("MIME: %v", err)
			}
			pb, err := io.ReadAll(part)
			if err != nil {
				return "", false, fmt.Errorf("MIME part: %v", err)
			}
			if strings.HasPrefix(strings.ToLower(part.Header.Get("Content-Disposition")), "attachment") {
				continue
			}
			t, h, err := textPart(part.Header.Get("Content-Type"), part.Header.Get("Content-Transfer-Encoding"), pb, depth+1)
			if err != nil {
				return "", false, err
			}
			html = html || h
			if t != "" {
				return t, html, nil
			}
		}
	case mt == "text/plain":
		dec, err := decodeTransfer(cte, body)
		if err != nil {
			return "", false, err
		}
		s, err := toUTF8(params["charset"], dec)
		return s, false, err
	case mt == "text/html":
		return "", true, nil
	}
	return "", false, nil
}

func decodeTransfer(cte string, body []byte) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "", "7bit", "8bit", "binary":
		return body, nil
	case "quoted-printable":
		b, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		if err != nil {
			return nil, fmt.Errorf("quoted-printable body: %v", err)
		}
		return b, nil
	case "base64":
		clean := bytes.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, body)
		b, err := base64.StdEncoding.DecodeString(string(clean))
		if err != nil {
			return nil, fmt.Errorf("base64 body: %v", err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("unknown Content-Transfer-Encoding %q", cte)
}

// toUTF8 converts text in charset to UTF-8. Only the charsets patch mail
// uses are known; anything else is refused rather than guessed.
func toUTF8(charset string, b []byte) (string, error) {
	switch strings.ToLower(strings.TrimSpace(charset)) {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		if !utf8.Valid(b) {
			return strings.ToValidUTF8(string(b), "\uFFFD"), nil
		}
		return string(b), nil
	case "iso-8859-1", "latin1", "iso-8859-15":
		return latin1(b), nil
	}
	return "", fmt.Errorf("unsupported charset %q", charset)
}

func latin1(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		sb.WriteRune(rune(c))
	}
	return sb.String()
}

func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	b, err := io.ReadAll(io.LimitReader(input, MaxMessage))
	if err != nil {
		return nil, err
	}
	s, err := toUTF8(charset, b)
	if err != nil {
		return nil, err
	}
	return strings.NewReader(s), nil
}

// decodeHeader decodes RFC 2047 encoded words; a header that does not
// decode is kept as written.
func decodeHeader(v string) string {
	d, err := wordDecoder.DecodeHeader(v)
	if err != nil {
		return v
	}
	return d
}

func unfold(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// msgID is the first <...> of a header, or the trimmed value.
func msgID(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			return v[i+1 : i+j]
		}
	}
	if strings.ContainsAny(v, " \t") {
		return ""
	}
	return v
}

// splitAddress reads "Name <email>" or a bare address loosely.
func splitAddress(s string) (name, email string) {
	if i := strings.LastIndexByte(s, '<'); i >= 0 {
		if j := strings.IndexByte(s[i:], '>'); j > 0 {
			return strings.Trim(strings.TrimSpace(s[:i]), `"`), s[i+1 : i+j]
		}
	}
	if strings.Contains(s, "@") && !strings.ContainsAny(s, " \t") {
		return "", s
	}
	return s, ""
}
