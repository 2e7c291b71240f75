package stsfake

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

const (
	// Namespace is the XML namespace of STS answers.
	Namespace = "https://sts.amazonaws.com/doc/2011-06-15/"
	// APIVersion is the only Version the fake serves.
	APIVersion = "2011-06-15"

	maxFormBody = 1 << 20
)

// stsError is an STS error answer.
type stsError struct {
	status  int
	typ     string // Sender or Receiver
	code    string
	message string
}

type xmlErrorResponse struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Error     xmlError `xml:"Error"`
	RequestID string   `xml:"RequestId"`
}

type xmlError struct {
	Type    string `xml:"Type"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

type xmlResponseMetadata struct {
	RequestID string `xml:"RequestId"`
}

type xmlAssumeRoleResponse struct {
	XMLName          xml.Name            `xml:"AssumeRoleResponse"`
	Xmlns            string              `xml:"xmlns,attr"`
	Result           xmlAssumeRoleResult `xml:"AssumeRoleResult"`
	ResponseMetadata xmlResponseMetadata `xml:"ResponseMetadata"`
}

type xmlAssumeRoleResult struct {
	SourceIdentity  string             `xml:"SourceIdentity,omitempty"`
	AssumedRoleUser xmlAssumedRoleUser `xml:"AssumedRoleUser"`
	Credentials     xmlCredentials     `xml:"Credentials"`
}

type xmlAssumedRoleUser struct {
	AssumedRoleID string `xml:"AssumedRoleId"`
	Arn           string `xml:"Arn"`
}

type xmlCredentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

type xmlGetCallerIdentityResponse struct {
	XMLName          xml.Name                   `xml:"GetCallerIdentityResponse"`
	Xmlns            string                     `xml:"xmlns,attr"`
	Result           xmlGetCallerIdentityResult `xml:"GetCallerIdentityResult"`
	ResponseMetadata xmlResponseMetadata        `xml:"ResponseMetadata"`
}

type xmlGetCallerIdentityResult struct {
	Arn     string `xml:"Arn"`
	UserID  string `xml:"UserId"`
	Account string `xml:"Account"`
}

// writeXML answers v with status.
func writeXML(w http.ResponseWriter, status int, requestID string, v any) {
	b, err := xml.Marshal(v)
	if err != nil {
		http.Error(w, "stsfake: encode answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", requestID)
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(b)
}

func writeSTSError(w http.ResponseWriter, e *stsError) {
	id := newRequestID()
	writeXML(w, e.status, id, xmlErrorResponse{
		Xmlns:     Namespace,
		Error:     xmlError{Type: e.typ, Code: e.code, Message: e.message},
		RequestID: id,
	})
}

// serveSTS answers POST / in STS's Query protocol.
func (f *Fake) serveSTS(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBody))
	if err != nil {
		writeSTSError(w, &stsError{status: http.StatusRequestEntityTooLarge, typ: "Sender", code: "RequestEntityTooLarge",
			message: "Request body is too large"})
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		f.report("POST / with Content-Type %q, want application/x-www-form-urlencoded", r.Header.Get("Content-Type"))
		writeSTSError(w, &stsError{status: http.StatusBadRequest, typ: "Sender", code: "InvalidAction",
			message: "stsfake speaks the Query protocol only"})
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		f.report("POST / with a body that is not a form: %v", err)
		writeSTSError(w, &stsError{status: http.StatusBadRequest, typ: "Sender", code: "MalformedInput",
			message: "The request body is not a valid form"})
		return
	}
	action := form.Get("Action")
	f.count(action)

	caller, serr := f.authenticate(r, body)
	if serr != nil {
		writeSTSError(w, serr)
		return
	}
	if v := form.Get("Version"); v != APIVersion {
		f.report("%s with Version %q, want %s", action, v, APIVersion)
		writeSTSError(w, &stsError{status: http.StatusBadRequest, typ: "Sender", code: "InvalidAction",
			message: fmt.Sprintf("Could not find operation %s for version %s", action, v)})
		return
	}
	switch action {
	case "AssumeRole":
		f.assumeRole(w, r, caller, form)
	case "GetCallerIdentity":
		id := newRequestID()
		writeXML(w, http.StatusOK, id, xmlGetCallerIdentityResponse{
			Xmlns:            Namespace,
			Result:           xmlGetCallerIdentityResult{Arn: caller.arn, UserID: caller.userID, Account: caller.account},
			ResponseMetadata: xmlResponseMetadata{RequestID: id},
		})
	default:
		f.report("unexpected Action %q", action)
		writeSTSError(w, &stsError{status: http.StatusBadRequest, typ: "Sender", code: "InvalidAction",
			message: fmt.Sprintf("Could not find operation %s for version %s", action, APIVersion)})
	}
}

// assumeRole answers AssumeRole.
func (f *Fake) assumeRole(w http.ResponseWriter, r *http.Request, caller *principal, form url.Values) {
	f.mu.Lock()
	f.lastAssume = form
	delay := f.delay
	injected := f.failNext
	f.failNext = nil
	f.mu.Unlock()

	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if injected != nil {
		writeSTSError(w, injected)
		return
	}

	in, serr := parseAssumeRole(form, caller.role)
	if serr != nil {
		writeSTSError(w, serr)
		return
	}

	now := f.clock().UTC()
	issued := &principal{
		secret:  randomString(30, b64),
		token:   "FQoGZXIvYXdzEFAKE" + randomString(256, b64),
		expires: now.Add(in.duration),
		issued:  true,
		arn:     fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", in.account, in.roleName, in.sessionName),
		userID:  uniqueID("AROA", in.roleARN) + ":" + in.sessionName,
		account: in.account,
		role:    true,
		chained: caller.role,
	}
	keyID := newAccessKeyID()
	f.mu.Lock()
	f.keys[keyID] = issued
	f.mu.Unlock()

	id := newRequestID()
	writeXML(w, http.StatusOK, id, xmlAssumeRoleResponse{
		Xmlns: Namespace,
		Result: xmlAssumeRoleResult{
			SourceIdentity:  in.sourceIdentity,
			AssumedRoleUser: xmlAssumedRoleUser{AssumedRoleID: issued.userID, Arn: issued.arn},
			Credentials: xmlCredentials{
				AccessKeyID:     keyID,
				SecretAccessKey: issued.secret,
				SessionToken:    issued.token,
				Expiration:      issued.expires.Format(time.RFC3339),
			},
		},
		ResponseMetadata: xmlResponseMetadata{RequestID: id},
	})
}

// assumeRoleInput is a validated AssumeRole request.
type assumeRoleInput struct {
	roleARN        string
	account        string
	roleName       string // the last segment of the role's path
	sessionName    string
	sourceIdentity string
	duration       time.Duration
}

var (
	roleARNRe    = regexp.MustCompile(`^arn:aws:iam::([0-9]{12}):role/((?:[\x21-\x7e]+/)*)([\w+=,.@-]{1,64})$`)
	stsNameRe    = regexp.MustCompile(`^[\w+=,.@-]*$`)
	tagsMemberRe = regexp.MustCompile(`^Tags\.member\.([0-9]+)\.(Key|Value)$`)
)

// STS limits.
const (
	minDurationSeconds     = 900
	maxDurationSeconds     = 43200
	chainedDurationSeconds = 3600
	maxTags                = 50
	maxTagKeyLen           = 128
	maxTagValueLen         = 256
	maxPolicySize          = 2048
)

// parseAssumeRole checks form against STS's limits.
func parseAssumeRole(form url.Values, chained bool) (*assumeRoleInput, *stsError) {
	var problems []string
	bad := func(value, field, constraint string) {
		problems = append(problems, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: %s", value, field, constraint))
	}
	null := func(field string) {
		problems = append(problems, fmt.Sprintf("Value null at '%s' failed to satisfy constraint: Member must not be null", field))
	}
	in := &assumeRoleInput{duration: time.Hour}

	if arn, ok := formValue(form, "RoleArn"); !ok {
		null("roleArn")
	} else if m := roleARNRe.FindStringSubmatch(arn); m == nil {
		bad(arn, "roleArn", `Member must be an IAM role ARN: arn:aws:iam::<12 digits>:role/<name>`)
	} else {
		in.roleARN, in.account, in.roleName = arn, m[1], m[3]
	}

	if name, ok := formValue(form, "RoleSessionName"); !ok {
		null("roleSessionName")
	} else {
		checkName(name, "roleSessionName", bad)
		in.sessionName = name
	}

	if s, ok := formValue(form, "DurationSeconds"); ok {
		n, err := strconv.Atoi(s)
		switch {
		case err != nil:
			bad(s, "durationSeconds", "Member must be an integer")
		case n < minDurationSeconds:
			bad(s, "durationSeconds", fmt.Sprintf("Member must have value greater than or equal to %d", minDurationSeconds))
		case n > maxDurationSeconds:
			bad(s, "durationSeconds", fmt.Sprintf("Member must have value less than or equal to %d", maxDurationSeconds))
		case chained && n > chainedDurationSeconds:
			return nil, validationError("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
		default:
			in.duration = time.Duration(n) * time.Second
		}
	}

	if si, ok := formValue(form, "SourceIdentity"); ok {
		checkName(si, "sourceIdentity", bad)
		if strings.HasPrefix(strings.ToLower(si), "aws:") {
			return nil, validationError("SourceIdentity cannot start with the reserved prefix 'aws:'")
		}
		in.sourceIdentity = si
	}

	checkTags(form, bad)

	if policy, ok := formValue(form, "Policy"); ok {
		if n := utf8.RuneCountInString(policy); n < 1 || n > maxPolicySize {
			bad(policy, "policy", fmt.Sprintf("Member must have length less than or equal to %d", maxPolicySize))
		} else if !isJSONObject(policy) {
			if len(problems) == 0 {
				return nil, &stsError{status: http.StatusBadRequest, typ: "Sender", code: "MalformedPolicyDocument",
					message: "The policy is not in the valid JSON format."}
			}
		}
	}

	if len(problems) > 0 {
		noun := "error"
		if len(problems) > 1 {
			noun = "errors"
		}
		return nil, validationError(fmt.Sprintf("%d validation %s detected: %s", len(problems), noun, strings.Join(problems, "; ")))
	}
	return in, nil
}

// checkName applies STS's rule for session names and source identities.
func checkName(v, field string, bad func(value, field, constraint string)) {
	switch n := utf8.RuneCountInString(v); {
	case n < 2:
		bad(v, field, "Member must have length greater than or equal to 2")
	case n > 64:
		bad(v, field, "Member must have length less than or equal to 64")
	}
	if !stsNameRe.MatchString(v) {
		bad(v, field, `Member must satisfy regular expression pattern: [\w+=,.@-]*`)
	}
}

// checkTags applies STS's limits to Tags.member.N.Key/Value.
func checkTags(form url.Values, bad func(value, field, constraint string)) {
	type tag struct {
		key, value       string
		hasKey, hasValue bool
	}
	tags := map[int]*tag{}
	for name, vs := range form {
		m := tagsMemberRe.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		n, err := strconv.Atoi(m[1])
		if err != nil || n < 1 {
			bad(name, "tags", "Member must be numbered from 1")
			continue
		}
		t := tags[n]
		if t == nil {
			t = &tag{}
			tags[n] = t
		}
		if m[2] == "Key" {
			t.key, t.hasKey = vs[0], true
		} else {
			t.value, t.hasValue = vs[0], true
		}
	}
	if len(tags) > maxTags {
		bad(fmt.Sprintf("[%d tags]", len(tags)), "tags", fmt.Sprintf("Member must have length less than or equal to %d", maxTags))
	}
	indexes := make([]int, 0, len(tags))
	for n := range tags {
		indexes = append(indexes, n)
	}
	sort.Ints(indexes)
	seen := map[string]bool{}
	for _, n := range indexes {
		t := tags[n]
		field := fmt.Sprintf("tags.%d.member", n)
		if !t.hasKey {
			bad("null", field+".key", "Member must not be null")
			continue
		}
		if !t.hasValue {
			bad("null", field+".value", "Member must not be null")
		}
		if k := utf8.RuneCountInString(t.key); k < 1 || k > maxTagKeyLen {
			bad(t.key, field+".key", fmt.Sprintf("Member must have length less than or equal to %d", maxTagKeyLen))
		}
		if !isTagString(t.key) {
			bad(t.key, field+".key", `Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]+`)
		}
		if strings.HasPrefix(strings.ToLower(t.key), "aws:") {
			bad(t.key, field+".key", "Member must not start with the reserved prefix aws:")
		}
		if utf8.RuneCountInString(t.value) > maxTagValueLen {
			bad(t.value, field+".value", fmt.Sprintf("Member must have length less than or equal to %d", maxTagValueLen))
		}
		if !isTagString(t.value) {
			bad(t.value, field+".value", `Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]*`)
		}
		lk := strings.ToLower(t.key)
		if seen[lk] {
			bad(t.key, field+".key", "Duplicate tag keys found. Please note that Tag keys are case insensitive.")
		}
		seen[lk] = true
	}
}

// isTagString reports whether s is all [\p{L}\p{Z}\p{N}_.:/=+\-@].
func isTagString(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.In(r, unicode.Z) && !unicode.IsNumber(r) && !strings.ContainsRune("_.:/=+-@", r) {
			return false
		}
	}
	return true
}

// isJSONObject reports whether s is one JSON object.
func isJSONObject(s string) bool {
	var v map[string]any
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(&v); err != nil || v == nil {
		return false
	}
	_, err := dec.Token()
	return errors.Is(err, io.EOF)
}

// formValue is the single value of name, and whether it was sent at all.
func formValue(form url.Values, name string) (string, bool) {
	vs, ok := form[name]
	if !ok || len(vs) == 0 {
		return "", false
	}
	return vs[0], true
}

func validationError(msg string) *stsError {
	return &stsError{status: http.StatusBadRequest, typ: "Sender", code: "ValidationError", message: msg}
}
