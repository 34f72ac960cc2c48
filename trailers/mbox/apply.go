package mbox

import "strings"

// AddTrailers returns msg (a commit message) with the trailers of ts that
// are not there yet appended to its trailer block — or, when its last
// paragraph is not one, as a new paragraph — and the trailers it added.
// A trailer is "there" when the last paragraph, or an earlier trailer of
// ts, has the same Identity. msg unchanged and nil mean nothing is new.
func AddTrailers(msg string, ts []Trailer) (string, []Trailer) {
	body := strings.TrimRight(msg, "\n")
	last := body
	if i := strings.LastIndex(body, "\n\n"); i >= 0 {
		last = body[i+2:]
	}
	isBlock := body != "" && strings.Contains(body, "\n")
	seen := map[string]bool{}
	for _, l := range strings.Split(last, "\n") {
		if sm := trailerRe.FindStringSubmatch(l); sm != nil {
			seen[Identity(sm[1], sm[2])] = true
		} else if !(strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) {
			isBlock = false
		}
	}
	var added []Trailer
	for _, t := range ts {
		id := Identity(t.Key, t.Value)
		if seen[id] {
			continue
		}
		seen[id] = true
		added = append(added, t)
	}
	if len(added) == 0 {
		return msg, nil
	}
	var sb strings.Builder
	sb.WriteString(body)
	if isBlock {
		sb.WriteString("\n")
	} else {
		sb.WriteString("\n\n")
	}
	for _, t := range added {
		sb.WriteString(t.String() + "\n")
	}
	return sb.String(), added
}
