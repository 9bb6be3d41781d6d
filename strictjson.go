package caddyjwt

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"
)

// isSingleObject tells whether js, a JOSE header or claims set that
// encoding/json has read, is exactly one JSON object, without a member name
// twice in any object and with nothing but whitespace after it.
//
// encoding/json keeps the last of two equal names, where other parsers keep
// the first or refuse, and golang-jwt reads the claims with a json.Decoder,
// which stops after the first value. Either way a token would mean one
// thing here and another elsewhere. RFC 7515 §4 and RFC 7519 §4 let a
// parser refuse repeated names, and their validation steps (RFC 7515 §5.2,
// RFC 7519 §7.2) want a completely valid JSON object, so such a token is
// malformed. Names are compared as encoding/json reads them, with escapes
// decoded, so `"s\u0075b"` is a second `"sub"`.
//
// The JSON up to the end of its first value has parsed already, so the walk
// only has to find strings, names and brackets. On bytes that are not JSON
// it never panics, but its answer means nothing.
func isSingleObject(js []byte) bool {
	i := skipJSONSpace(js, 0)
	if i == len(js) || js[i] != '{' {
		return false
	}
	// names holds the names of every open object, innermost last, and
	// opens where each object's names start. Names are spans of js, or of
	// decoded for those with escapes, so that js can stay on the caller's
	// stack, as do names and opens for the objects of a usual token.
	var (
		nameBuf [32]nameSpan
		openBuf [8]int
		names   = nameBuf[:0]
		opens   = openBuf[:0]
		decoded []byte
		depth   = 0
	)
	for ; i < len(js); i++ {
		switch c := js[i]; c {
		case '"':
			end := stringEnd(js, i)
			if end < 0 {
				return false
			}
			// In JSON that parses, a string followed by a colon is a name.
			if j := skipJSONSpace(js, end+1); j < len(js) && js[j] == ':' {
				n := nameSpan{start: i + 1, end: end}
				if bytes.IndexByte(js[i+1:end], '\\') >= 0 {
					var s string
					if json.Unmarshal(bytes.Clone(js[i:end+1]), &s) != nil {
						return false
					}
					n = nameSpan{start: len(decoded), end: len(decoded) + len(s), decoded: true}
					decoded = append(decoded, s...)
				}
				names = append(names, n)
			}
			i = end
		case '{', '[':
			if c == '{' {
				opens = append(opens, len(names))
			}
			depth++
		case '}', ']':
			if c == '}' {
				if len(opens) == 0 {
					return false
				}
				start := opens[len(opens)-1]
				opens = opens[:len(opens)-1]
				if hasDuplicate(names[start:], js, decoded) {
					return false
				}
				names = names[:start]
			}
			if depth--; depth == 0 {
				return skipJSONSpace(js, i+1) == len(js)
			}
		}
	}
	return false
}

// nameSpan is where a member name is: js[start:end], or decoded[start:end]
// when decoded is set (see isSingleObject).
type nameSpan struct {
	start, end int
	decoded    bool
}

func (n nameSpan) text(js, decoded []byte) []byte {
	if n.decoded {
		return decoded[n.start:n.end]
	}
	return js[n.start:n.end]
}

// hasDuplicate tells whether two of names have the same text. It compares
// each pair of a small object, which is quicker than sorting one, and sorts
// names otherwise, so that no object costs more than n log n.
func hasDuplicate(names []nameSpan, js, decoded []byte) bool {
	if len(names) <= 16 {
		for i, n := range names {
			for _, other := range names[i+1:] {
				if bytes.Equal(n.text(js, decoded), other.text(js, decoded)) {
					return true
				}
			}
		}
		return false
	}
	slices.SortFunc(names, func(a, b nameSpan) int { return bytes.Compare(a.text(js, decoded), b.text(js, decoded)) })
	for i := 1; i < len(names); i++ {
		if bytes.Equal(names[i-1].text(js, decoded), names[i].text(js, decoded)) {
			return true
		}
	}
	return false
}

// stringEnd gives the index of the quote that ends the JSON string whose
// opening quote is at js[start], or -1 when it does not end.
func stringEnd(js []byte, start int) int {
	for i := start + 1; i < len(js); i++ {
		switch js[i] {
		case '\\':
			i++ // the escaped character
		case '"':
			return i
		}
	}
	return -1
}

// skipJSONSpace gives the index of the first byte of js from i on that is
// not JSON whitespace (RFC 8259 §2), or len(js).
func skipJSONSpace(js []byte, i int) int {
	for ; i < len(js); i++ {
		switch js[i] {
		case ' ', '\t', '\n', '\r':
		default:
			return i
		}
	}
	return i
}

// topLevelMembers calls each with the name, decoded, and where the value is
// in js (js[start:end]), for every member of the object js, in order. js
// must be valid JSON
// (json.Valid); when it is not an object, topLevelMembers answers false,
// having called each for none or some of it.
func topLevelMembers(js []byte, each func(name []byte, start, end int)) bool {
	i := skipJSONSpace(js, 0)
	if i == len(js) || js[i] != '{' {
		return false
	}
	if i = skipJSONSpace(js, i+1); i < len(js) && js[i] == '}' {
		return true
	}
	for i < len(js) && js[i] == '"' {
		end := stringEnd(js, i)
		if end < 0 {
			return false
		}
		name := js[i+1 : end]
		if bytes.IndexByte(name, '\\') >= 0 {
			var s string
			if json.Unmarshal(js[i:end+1], &s) != nil {
				return false
			}
			name = []byte(s)
		}
		if i = skipJSONSpace(js, end+1); i == len(js) || js[i] != ':' {
			return false
		}
		start := skipJSONSpace(js, i+1)
		if end = valueEnd(js, start); end < 0 {
			return false
		}
		each(name, start, end)
		if i = skipJSONSpace(js, end); i == len(js) {
			return false
		}
		switch js[i] {
		case '}':
			return true
		case ',':
			i = skipJSONSpace(js, i+1)
		default:
			return false
		}
	}
	return false
}

// valueEnd gives the index just past the JSON value that starts at
// js[start], in valid JSON, or -1.
func valueEnd(js []byte, start int) int {
	if start >= len(js) {
		return -1
	}
	switch js[start] {
	case '"':
		if end := stringEnd(js, start); end >= 0 {
			return end + 1
		}
		return -1
	case '{', '[':
		depth := 0
		for i := start; i < len(js); i++ {
			switch js[i] {
			case '"':
				if i = stringEnd(js, i); i < 0 {
					return -1
				}
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	}
	// A number, true, false or null: up to the next delimiter.
	i := start
	for i < len(js) && !isJSONDelimiter(js[i]) {
		i++
	}
	return i
}

func isJSONDelimiter(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', ',', '}', ']':
		return true
	}
	return false
}

// readJSONValue reads one valid JSON value as a json.Decoder with UseNumber
// reads it into an interface: strings, json.Number, bools, nil, and []any
// or map[string]any for the rest. ok is false if it does not read.
func readJSONValue(raw string) (v any, ok bool) {
	if len(raw) == 0 {
		return nil, false
	}
	switch raw[0] {
	case '"':
		// Without escapes, a string of valid UTF-8 reads as its bytes.
		if strings.IndexByte(raw, '\\') < 0 && utf8.ValidString(raw) {
			return raw[1 : len(raw)-1], true
		}
		var s string
		err := json.Unmarshal([]byte(raw), &s)
		return s, err == nil
	case 't', 'f', 'n':
		err := json.Unmarshal([]byte(raw), &v)
		return v, err == nil
	case '{', '[':
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.UseNumber()
		err := dec.Decode(&v)
		return v, err == nil
	}
	// A valid JSON number is what UseNumber keeps of it.
	return json.Number(raw), true
}
