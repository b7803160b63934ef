package server

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// checkAdminJSON refuses what encoding/json would quietly read one way among several in an admin body: a member
// name given twice in one object (the last would win, so {"amount":100,"amount":5} would credit 5) and invalid
// UTF-8 (turned into U+FFFD). It returns "" when neither is found; a body that is not JSON is left to bind's
// decoder to report. The problem it returns never echoes the input.
func checkAdminJSON(body []byte) string {
	if !utf8.Valid(body) {
		return "the body is not valid UTF-8"
	}
	type frame struct {
		names    map[string]struct{} // nil for an array
		wantName bool                // the next string token of this object is a member name
	}
	var stack []frame
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, frame{names: map[string]struct{}{}, wantName: true})
				continue
			case '[':
				stack = append(stack, frame{})
				continue
			default: // '}' or ']': the container is a complete value of its parent
				stack = stack[:len(stack)-1]
			}
		case string:
			if n := len(stack); n > 0 && stack[n-1].names != nil && stack[n-1].wantName {
				if _, dup := stack[n-1].names[t]; dup {
					return "a member name appears twice in one object"
				}
				stack[n-1].names[t] = struct{}{}
				stack[n-1].wantName = false
				continue
			}
		}
		if n := len(stack); n > 0 && stack[n-1].names != nil {
			stack[n-1].wantName = true // a member's value is complete
		}
	}
}
