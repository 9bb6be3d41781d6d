package caddyjwt

import (
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strings"
)

// Rule is one `require` line of jwt_auth: an authorization check on the
// claims of an already valid token. Every rule of a handler must hold, else
// the request gets 403 with `error="insufficient_scope"`.
type Rule struct {
	// The claim to check. A dotted path reaches into nested objects
	// (`realm_access.roles`); a claim whose own name contains dots, such as
	// Auth0's `https://example.com/roles`, is found as well. Required.
	Claim string `json:"claim"`

	// The accepted values: the rule holds when the claim equals one of
	// them or, for a list claim, contains one. A `scope` or `scp` string is
	// split on spaces first. Numbers and booleans compare by value, so "3"
	// matches 3 and 3.0, and "true" matches true. Required.
	Values []string `json:"values"`
}

// rule is a Rule prepared for requests.
type rule struct {
	claim   string
	scope   bool // the claim is a space-separated scope string
	values  []string
	numbers []*big.Rat // the values that are JSON numbers
	reason  string     // error_description when the rule fails
}

// newRule prepares a Rule once, at provision.
func newRule(r Rule) (rule, error) {
	if r.Claim == "" {
		return rule{}, fmt.Errorf("claim is empty")
	}
	if len(r.Values) == 0 {
		return rule{}, fmt.Errorf("claim %s: at least one value is needed", r.Claim)
	}
	last := r.Claim[strings.LastIndexByte(r.Claim, '.')+1:]
	p := rule{
		claim:  r.Claim,
		scope:  last == "scope" || last == "scp",
		values: r.Values,
		// The description goes into a quoted header parameter.
		reason: "claim " + strings.NewReplacer(`"`, "", `\`, "").Replace(r.Claim) + " does not allow this request",
	}
	for _, v := range r.Values {
		var n json.Number
		if json.Unmarshal([]byte(v), &n) != nil {
			continue
		}
		if rat, ok := new(big.Rat).SetString(n.String()); ok {
			p.numbers = append(p.numbers, rat)
		}
	}
	return p, nil
}

// holds tells whether the claims satisfy the rule.
func (r *rule) holds(claims map[string]any) bool {
	v, ok := lookupClaim(claims, r.claim)
	if !ok {
		return false
	}
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			if r.matches(e) {
				return true
			}
		}
		return false
	case string:
		if r.scope {
			for s := range strings.FieldsSeq(v) {
				if slices.Contains(r.values, s) {
					return true
				}
			}
			return false
		}
	}
	return r.matches(v)
}

// matches compares one scalar claim value with the rule's values.
func (r *rule) matches(v any) bool {
	switch v := v.(type) {
	case string:
		return slices.Contains(r.values, v)
	case json.Number:
		if slices.Contains(r.values, v.String()) {
			return true
		}
		if len(r.numbers) == 0 {
			return false
		}
		n, ok := new(big.Rat).SetString(v.String())
		return ok && slices.ContainsFunc(r.numbers, func(x *big.Rat) bool { return x.Cmp(n) == 0 })
	case float64:
		if len(r.numbers) == 0 {
			return false
		}
		n := new(big.Rat)
		if n.SetFloat64(v) == nil {
			return false
		}
		return slices.ContainsFunc(r.numbers, func(x *big.Rat) bool { return x.Cmp(n) == 0 })
	case bool:
		if v {
			return slices.Contains(r.values, "true")
		}
		return slices.Contains(r.values, "false")
	}
	return false
}

// lookupClaim finds a claim by a dotted path. A key that contains the
// whole remaining path wins over walking into nested objects, so claims
// named like URLs still work.
func lookupClaim(obj map[string]any, path string) (any, bool) {
	if v, ok := obj[path]; ok {
		return v, true
	}
	for i := 0; i < len(path); i++ {
		if path[i] != '.' {
			continue
		}
		sub, ok := obj[path[:i]].(map[string]any)
		if !ok {
			continue
		}
		if v, ok := lookupClaim(sub, path[i+1:]); ok {
			return v, true
		}
	}
	return nil, false
}
