package mbox

import (
	"bytes"
	"strings"
	"testing"
)

const thread = `From x Mon Jan  8 00:00:00 2024
From: Pat <pat@example.org>
Message-Id: <p1@x>
Subject: [PATCH v2 1/1] f: add a line

Signed-off-by: Pat <pat@example.org>
---
diff --git a/f b/f
--- a/f
+++ b/f
@@ -1 +1,2 @@
 base
+line
-- 
2.39.5

From x Mon Jan  8 00:00:00 2024
From: =?UTF-8?q?J=C3=B6rg?= <j@x>
Message-Id: <r1@x>
In-Reply-To: <p1@x>
Subject: Re: [PATCH v2 1/1] f: add a line
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

> Reviewed-by: Other <o@x>
>From the top

Reviewed-by: J=C3=B6rg <j@x>
Tested-by: Ann
 <ann@x>

From x Mon Jan  8 00:00:00 2024
From: Ann <ann@x>
Message-Id: <r2@x>
In-Reply-To: <r1@x>
Subject: Re: [PATCH v2 1/1] f: add a line

Tested-by: Ann <ann@x> # on arm64
Tested-by: Ann <ann@x>
Cc: Ann <ann@x>
Link: https://example.org
`

func TestThread(t *testing.T) {
	msgs, err := Read(strings.NewReader(thread))
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 3 || msgs[1].FromName != "Jörg" {
		t.Fatalf("messages: %d, from %q", len(msgs), msgs[1].FromName)
	}
	s, err := Thread(msgs)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Patches) != 1 || s.Patches[0].Subject != "f: add a line" {
		t.Fatalf("patches: %+v", s.Patches)
	}
	var got []string
	for _, tr := range s.Patches[0].Trailers {
		got = append(got, tr.String())
	}
	want := "Reviewed-by: Jörg <j@x>|Tested-by: Ann <ann@x> # on arm64|Tested-by: Ann <ann@x>"
	if strings.Join(got, "|") != want {
		t.Errorf("trailers:\n got %q\nwant %q", strings.Join(got, "|"), want)
	}
	msg, added := AddTrailers("f: add a line\n\nSigned-off-by: Pat <pat@example.org>\n", s.Patches[0].Trailers)
	wantMsg := "f: add a line\n\nSigned-off-by: Pat <pat@example.org>\nReviewed-by: Jörg <j@x>\nTested-by: Ann <ann@x> # on arm64\n"
	if msg != wantMsg || len(added) != 2 {
		t.Errorf("AddTrailers:\n got %q\nwant %q", msg, wantMsg)
	}
	if again, added := AddTrailers(msg, s.Patches[0].Trailers); again != msg || added != nil {
		t.Errorf("AddTrailers twice added %v", added)
	}
	if msg, _ := AddTrailers("subject only\n", s.Patches[0].Trailers[:1]); msg != "subject only\n\nReviewed-by: Jörg <j@x>\n" {
		t.Errorf("no trailer block: %q", msg)
	}
}

func TestCRLF(t *testing.T) {
	crlf := strings.ReplaceAll(thread, "\n", "\r\n")
	msgs, err := Read(strings.NewReader(crlf))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Thread(msgs)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Patches) != 1 || len(s.Patches[0].Trailers) != 3 || strings.Contains(s.Patches[0].Trailers[0].Value, "\r") {
		t.Errorf("CRLF thread: %+v", s.Patches)
	}
}

func TestBadInput(t *testing.T) {
	for name, in := range map[string]string{
		"not mbox":     "hello\n",
		"empty":        "",
		"no id":        "From x\nFrom: a <a@x>\nSubject: s\n\nbody\n",
		"bad boundary": "From x\nFrom: a <a@x>\nMessage-Id: <m@x>\nContent-Type: multipart/mixed\n\nbody\n",
		"charset":      "From x\nFrom: a <a@x>\nMessage-Id: <m@x>\nContent-Type: text/plain; charset=koi8-r\n\nbody\n",
	} {
		if _, err := Read(strings.NewReader(in)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	msgs, err := Read(strings.NewReader("From x\nFrom: a <a@x>\nMessage-Id: <m@x>\nSubject: hi\n\nReviewed-by: a <a@x>\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Thread(msgs); err != ErrNoPatches {
		t.Errorf("thread without patch: %v", err)
	}
}

// FuzzRead feeds arbitrary bytes to the mbox reader and the thread
// analysis: they must not panic, and what they return must be usable.
func FuzzRead(f *testing.F) {
	f.Add([]byte(thread))
	f.Add([]byte("From x\nFrom: a\nMessage-Id: <m>\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\nQQ==\n--b--\n"))
	f.Add([]byte("From x\nSubject: =?utf-8?b?////?=\nFrom: =?x?q?a?= <a@b>\nMessage-Id: m\n\n>From y\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		msgs, err := Read(bytes.NewReader(in))
		if err != nil {
			return
		}
		s, err := Thread(msgs)
		if err != nil {
			return
		}
		for _, p := range s.Patches {
			for _, tr := range p.Trailers {
				if hasControl(tr.String()) || strings.Contains(tr.String(), "\n") {
					t.Fatalf("a trailer with a control character: %q", tr.String())
				}
			}
			msg, _ := AddTrailers("s\n\nb\n", p.Trailers)
			if !strings.HasPrefix(msg, "s\n\nb\n") {
				t.Fatalf("AddTrailers changed the message: %q", msg)
			}
		}
	})
}
