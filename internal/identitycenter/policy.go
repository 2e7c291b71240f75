package identitycenter

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/elevate-gitops/elevate/internal/endsession"
)

// MaxPolicySize is IAM's limit on a permission set's inline policy, in
// characters.
const MaxPolicySize = 10240

// SidPrefix starts the Sid of each Deny elevate writes; the rest is derived
// from the person and the account, so a statement is replaced, never
// appended.
const SidPrefix = "ElevateEnd"

const policyVersion = "2012-10-17"

// denyKey is one person in one account: the subject of one statement.
type denyKey struct{ user, account string }

// sid is the Sid of k's statement: a hash of the person and the account.
func (k denyKey) sid() string {
	sum := sha256.Sum256([]byte(k.user + "\x00" + k.account))
	return SidPrefix + hex.EncodeToString(sum[:8])
}

// policy is a permission set's inline policy as read: the statements
// elevate did not write, as written and in order, and elevate's Denies.
type policy struct {
	id      string
	foreign []json.RawMessage
	ours    map[denyKey]time.Time // person and account -> end
}

// statement is the one shape of statement elevate writes.
type statement struct {
	Sid       string    `json:"Sid"`
	Effect    string    `json:"Effect"`
	Action    string    `json:"Action"`
	Resource  string    `json:"Resource"`
	Condition condition `json:"Condition"`
}

type condition struct {
	StringEquals struct {
		UserID  string `json:"identitystore:UserId"`
		Account string `json:"aws:PrincipalAccount"`
	} `json:"StringEquals"`
	DateGreaterThan struct {
		CurrentTime string `json:"aws:CurrentTime"`
	} `json:"DateGreaterThan"`
}

// denyStatement is the Deny of every action, for the person in the
// account, after end.
func denyStatement(k denyKey, end time.Time) statement {
	s := statement{Sid: k.sid(), Effect: "Deny", Action: "*", Resource: "*"}
	s.Condition.StringEquals.UserID = k.user
	s.Condition.StringEquals.Account = k.account
	s.Condition.DateGreaterThan.CurrentTime = end.UTC().Format(time.RFC3339)
	return s
}

// parsePolicy reads an inline policy as GetInlinePolicyForPermissionSet
// returns it ("" when there is none; URL-encoded JSON is accepted too). A
// statement is elevate's only when it has exactly the shape elevate writes
// and the Sid its person and account give; any other statement, a
// malformed one with elevate's prefix included, is kept as written.
func parsePolicy(text string) (*policy, error) {
	p := &policy{ours: map[denyKey]time.Time{}}
	text = strings.TrimSpace(text)
	if text == "" {
		return p, nil
	}
	if strings.HasPrefix(text, "%7B") || strings.HasPrefix(text, "%7b") {
		decoded, err := url.PathUnescape(text)
		if err != nil {
			return nil, fmt.Errorf("decode the inline policy: %w", err)
		}
		text = decoded
	}
	var doc struct {
		Version   string          `json:"Version"`
		ID        string          `json:"Id"`
		Statement json.RawMessage `json:"Statement"`
	}
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields() // IAM's grammar has no other keys; never drop one unseen
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("read the inline policy: %w", err)
	}
	if dec.More() {
		return nil, errors.New("read the inline policy: text after the document")
	}
	p.id = doc.ID
	raw := bytes.TrimSpace(doc.Statement)
	switch {
	case len(raw) == 0 || string(raw) == "null":
	case raw[0] == '{':
		p.add(raw)
	default:
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, fmt.Errorf("read the inline policy's statements: %w", err)
		}
		for _, s := range list {
			p.add(s)
		}
	}
	return p, nil
}

func (p *policy) add(raw json.RawMessage) {
	if k, end, ok := parseOurs(raw); ok {
		if prev, seen := p.ours[k]; !seen || end.Before(prev) {
			p.ours[k] = end // of two, the earlier end denies more
		}
		return
	}
	p.foreign = append(p.foreign, raw)
}

// parseOurs reads a statement of elevate's shape.
func parseOurs(raw json.RawMessage) (denyKey, time.Time, bool) {
	var head struct{ Sid string }
	if json.Unmarshal(raw, &head) != nil || !strings.HasPrefix(head.Sid, SidPrefix) {
		return denyKey{}, time.Time{}, false
	}
	var s statement
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if dec.Decode(&s) != nil {
		return denyKey{}, time.Time{}, false
	}
	k := denyKey{s.Condition.StringEquals.UserID, s.Condition.StringEquals.Account}
	end, err := time.Parse(time.RFC3339, s.Condition.DateGreaterThan.CurrentTime)
	if err != nil || s.Effect != "Deny" || s.Action != "*" || s.Resource != "*" ||
		k.user == "" || !validAccount(k.account) || s.Sid != k.sid() {
		return denyKey{}, time.Time{}, false
	}
	return k, end, true
}

// render is the policy with ours as elevate's statements: the statements
// elevate did not write first, in their order, then elevate's by Sid. A
// foreign statement carrying the Sid of one of ours is replaced by it (IAM
// wants Sids unique). With account set, only ours for that account are
// rendered: what a role in that account makes of the policy.
func (p *policy) render(ours map[denyKey]time.Time, account string) string {
	type doc struct {
		Version   string            `json:"Version"`
		ID        string            `json:"Id,omitempty"`
		Statement []json.RawMessage `json:"Statement"`
	}
	d := doc{Version: policyVersion, ID: p.id, Statement: []json.RawMessage{}}
	keys := make([]denyKey, 0, len(ours))
	sids := map[string]bool{}
	for k := range ours {
		keys = append(keys, k)
		sids[k.sid()] = true
	}
	for _, raw := range p.foreign {
		var head struct{ Sid string }
		if json.Unmarshal(raw, &head) == nil && sids[head.Sid] {
			continue
		}
		d.Statement = append(d.Statement, raw)
	}
	slices.SortFunc(keys, func(a, b denyKey) int { return strings.Compare(a.sid(), b.sid()) })
	for _, k := range keys {
		if account != "" && k.account != account {
			continue
		}
		b, _ := endsession.Marshal(denyStatement(k, ours[k]))
		d.Statement = append(d.Statement, b)
	}
	b, err := endsession.Marshal(d)
	if err != nil {
		// Only a foreign statement that is not JSON could fail, and
		// parsePolicy never keeps one.
		panic(fmt.Sprintf("identitycenter: render a policy: %v", err))
	}
	return string(b)
}

// size is a policy's size as IAM counts it against MaxPolicySize.
func size(text string) int { return utf8.RuneCountInString(text) }

// validAccount reports whether id is a 12-digit AWS account id.
func validAccount(id string) bool {
	if len(id) != 12 {
		return false
	}
	for _, c := range id {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// viewHash names what a role in account makes of the policy text: the
// foreign statements and elevate's for that account.
func viewHash(p *policy, ours map[denyKey]time.Time, account string) string {
	sum := sha256.Sum256([]byte(p.render(ours, account)))
	return hex.EncodeToString(sum[:])
}
