package server

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"
)

// checkAdminJSON refuses what encoding/json would quietly read one way among several in an admin body: a member
// name given twice in one object, compared as encoding/json matches names to fields, case-insensitively (the last
// would win, so {"amount":100,"AMOUNT":5} would credit 5), and invalid UTF-8 (turned into U+FFFD). It returns "" when neither is found; a body that is not JSON is left to bind's
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
				name := foldName(t)
				if _, dup := stack[n-1].names[name]; dup {
					return "a member name appears twice in one object"
				}
				stack[n-1].names[name] = struct{}{}
				stack[n-1].wantName = false
				continue
			}
		}
		if n := len(stack); n > 0 && stack[n-1].names != nil {
			stack[n-1].wantName = true // a member's value is complete
		}
	}
}

// foldName maps every rune of s to the smallest rune of its Unicode simple-folding orbit, so that
// foldName(a) == foldName(b) exactly when strings.EqualFold(a, b), the rule encoding/json matches member names by.
func foldName(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}
