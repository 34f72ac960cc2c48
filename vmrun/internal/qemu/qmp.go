package qemu

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"time"
)

// QMP connects to a QEMU monitor socket, leaves capabilities negotiation
// mode and runs one command, returning its "return" value. It waits for
// the socket to appear until ctx ends, because hooks start with QEMU.
func QMP(ctx context.Context, socket, command string, args json.RawMessage) (json.RawMessage, error) {
	var conn net.Conn
	var err error
	for {
		var d net.Dialer
		if conn, err = d.DialContext(ctx, "unix", socket); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("qmp: connect %s: %w", socket, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	rd := bufio.NewReader(conn)
	// read returns the next reply, skipping asynchronous events.
	read := func() (map[string]json.RawMessage, error) {
		for {
			line, err := rd.ReadBytes('\n')
			if err != nil {
				return nil, fmt.Errorf("qmp: read: %w", err)
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(line, &m); err != nil {
				return nil, fmt.Errorf("qmp: bad reply %q: %w", line, err)
			}
			if _, ev := m["event"]; !ev {
				return m, nil
			}
		}
	}
	if _, err := read(); err != nil { // the greeting
		return nil, err
	}
	exec := func(cmd string, a json.RawMessage) (json.RawMessage, error) {
		req := map[string]any{"execute": cmd}
		if len(a) > 0 {
			req["arguments"] = a
		}
		b, _ := json.Marshal(req)
		if _, err := conn.Write(append(b, '\n')); err != nil {
			return nil, fmt.Errorf("qmp: write: %w", err)
		}
		m, err := read()
		if err != nil {
			return nil, err
		}
		if e, ok := m["error"]; ok {
			var qe struct{ Class, Desc string }
			json.Unmarshal(e, &qe)
			return nil, fmt.Errorf("qmp: %s: %s: %s", cmd, qe.Class, qe.Desc)
		}
		return m["return"], nil
	}
	if _, err := exec("qmp_capabilities", nil); err != nil {
		return nil, err
	}
	return exec(command, args)
}
