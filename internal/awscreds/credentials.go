package awscreds

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Credentials are temporary AWS credentials from one AssumeRole call.
//
// SecretAccessKey and SessionToken are secrets: String and LogValue redact
// them, so formatting a Credentials with %v or logging it with log/slog shows
// only the access key id and the expiry.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
}

// String describes c without its secrets.
func (c Credentials) String() string {
	return fmt.Sprintf("{AccessKeyID:%s SecretAccessKey:REDACTED SessionToken:REDACTED Expiration:%s}",
		c.AccessKeyID, c.Expiration.UTC().Format(time.RFC3339))
}

// GoString describes c without its secrets, for %#v.
func (c Credentials) GoString() string {
	return "awscreds.Credentials" + c.String()
}

// LogValue implements slog.LogValuer: the access key id and expiry only.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("access_key_id", c.AccessKeyID),
		slog.Time("expiration", c.Expiration.UTC()),
	)
}

// FromSTS takes the credentials out of an AssumeRole answer. Every field must
// be present: an answer without them is an error, never empty credentials.
func FromSTS(out *sts.AssumeRoleOutput) (Credentials, error) {
	if out == nil || out.Credentials == nil {
		return Credentials{}, errors.New("read sts answer: no credentials in it")
	}
	sc := out.Credentials
	c := Credentials{
		AccessKeyID:     aws.ToString(sc.AccessKeyId),
		SecretAccessKey: aws.ToString(sc.SecretAccessKey),
		SessionToken:    aws.ToString(sc.SessionToken),
		Expiration:      aws.ToTime(sc.Expiration).UTC(),
	}
	var missing []string
	if c.AccessKeyID == "" {
		missing = append(missing, "AccessKeyId")
	}
	if c.SecretAccessKey == "" {
		missing = append(missing, "SecretAccessKey")
	}
	if c.SessionToken == "" {
		missing = append(missing, "SessionToken")
	}
	if sc.Expiration == nil || sc.Expiration.IsZero() {
		missing = append(missing, "Expiration")
	}
	if len(missing) > 0 {
		return Credentials{}, fmt.Errorf("read sts answer: credentials lack %s", strings.Join(missing, ", "))
	}
	return c, nil
}

// processOutput is the JSON an AWS credential_process prints (Version 1).
type processOutput struct {
	Version         int
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string
	SessionToken    string `json:",omitempty"`
	Expiration      string `json:",omitempty"`
}

// ProcessJSON formats c as the output of an AWS credential_process:
//
//	{"Version":1,"AccessKeyId":…,"SecretAccessKey":…,"SessionToken":…,"Expiration":"<RFC 3339 UTC>"}
//
// SessionToken and Expiration are left out when empty (the SDKs then treat
// the credentials as long-term); an empty key id or secret is an error.
func ProcessJSON(c Credentials) ([]byte, error) {
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return nil, errors.New("format credential_process json: access key id or secret access key is empty")
	}
	out := processOutput{
		Version:         1,
		AccessKeyID:     c.AccessKeyID,
		SecretAccessKey: c.SecretAccessKey,
		SessionToken:    c.SessionToken,
	}
	if !c.Expiration.IsZero() {
		out.Expiration = c.Expiration.UTC().Format(time.RFC3339)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("format credential_process json: %w", err)
	}
	return b, nil
}

// EnvLines formats c as POSIX shell export lines, one a line, each ending in
// a newline:
//
//	export AWS_ACCESS_KEY_ID=…
//	export AWS_SECRET_ACCESS_KEY=…
//	export AWS_SESSION_TOKEN=…
//	export AWS_CREDENTIAL_EXPIRATION=…
//
// A value with any character outside [A-Za-z0-9_@%+=:,./-] is single-quoted
// (a quote inside becomes '\”), so eval "$(elevate credentials --format env)"
// cannot run anything. AWS_SESSION_TOKEN and AWS_CREDENTIAL_EXPIRATION are
// left out when empty.
func EnvLines(c Credentials) string {
	var b strings.Builder
	line := func(name, value string) {
		b.WriteString("export ")
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(ShellQuote(value))
		b.WriteByte('\n')
	}
	line("AWS_ACCESS_KEY_ID", c.AccessKeyID)
	line("AWS_SECRET_ACCESS_KEY", c.SecretAccessKey)
	if c.SessionToken != "" {
		line("AWS_SESSION_TOKEN", c.SessionToken)
	}
	if !c.Expiration.IsZero() {
		line("AWS_CREDENTIAL_EXPIRATION", c.Expiration.UTC().Format(time.RFC3339))
	}
	return b.String()
}

// ShellQuote returns s as one POSIX shell word.
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, shellSafe) == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shellSafe are the characters a shell word may hold unquoted, in any
// position, without expansion.
const shellSafe = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-"
