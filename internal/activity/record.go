package activity

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// record is the part of a CloudTrail record a summary reads. Everything
// else (request parameters above all) is skipped by the decoder and never
// kept; the AssumeRole fields are read only from that event.
type record struct {
	EventTime    string `json:"eventTime"` // parsed by at: a bad time skips the record, not the file
	EventSource  string `json:"eventSource"`
	EventName    string `json:"eventName"`
	AWSRegion    string `json:"awsRegion"`
	ErrorCode    string `json:"errorCode"`
	ReadOnly     *bool  `json:"readOnly"`
	Recipient    string `json:"recipientAccountId"`
	UserIdentity struct {
		Type           string `json:"type"`
		PrincipalID    string `json:"principalId"`
		ARN            string `json:"arn"`
		AccountID      string `json:"accountId"`
		AccessKeyID    string `json:"accessKeyId"`
		SessionContext struct {
			SourceIdentity string `json:"sourceIdentity"`
		} `json:"sessionContext"`
	} `json:"userIdentity"`
	// FromConsole is "true" on calls made in the console with the keys
	// it minted at sign-in (CloudTrail's sessionCredentialFromConsole).
	FromConsole string `json:"sessionCredentialFromConsole"`
	Resources   []struct {
		ARN  string `json:"ARN"`
		Type string `json:"type"`
	} `json:"resources"`
	// Kept raw: their shapes differ by service. Only AssumeRole's and
	// ConsoleLogin's are parsed.
	RequestParameters json.RawMessage `json:"requestParameters"`
	ResponseElements  json.RawMessage `json:"responseElements"`
}

// at is the event's time; false when it does not parse.
func (r *record) at() (time.Time, bool) {
	t, err := time.Parse(time.RFC3339, r.EventTime)
	return t.UTC(), err == nil
}

// service is the event's service, as IAM names it in actions: the first
// label of its source ("iam" for iam.amazonaws.com).
func (r *record) service() string {
	s, _, _ := strings.Cut(r.EventSource, ".")
	return s
}

// action is service:EventName, as IAM writes actions.
func (r *record) action() string { return r.service() + ":" + r.EventName }

// assumeRole is what an AssumeRole event says of the session it made.
type assumeRole struct {
	Request struct {
		RoleARN string `json:"roleArn"`
		Tags    []struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		} `json:"tags"`
	}
	Response struct {
		Credentials struct {
			AccessKeyID string `json:"accessKeyId"`
		} `json:"credentials"`
		AssumedRoleUser struct {
			ARN string `json:"arn"`
		} `json:"assumedRoleUser"`
	}
}

// parseAssumeRole reads r's AssumeRole parameters; false when r is not a
// successful AssumeRole or its parts do not parse.
func (r *record) parseAssumeRole() (assumeRole, bool) {
	var a assumeRole
	if r.EventSource != "sts.amazonaws.com" || r.EventName != "AssumeRole" || r.ErrorCode != "" {
		return a, false
	}
	if json.Unmarshal(r.RequestParameters, &a.Request) != nil || json.Unmarshal(r.ResponseElements, &a.Response) != nil {
		return a, false
	}
	return a, a.Response.Credentials.AccessKeyID != ""
}

// consoleResult is a ConsoleLogin event's outcome ("Success", "Failure").
func (r *record) consoleResult() string {
	var v struct {
		ConsoleLogin string `json:"ConsoleLogin"`
	}
	_ = json.Unmarshal(r.ResponseElements, &v)
	if v.ConsoleLogin == "" && r.ErrorCode != "" {
		return "Failure"
	}
	return v.ConsoleLogin
}

// isConsoleLogin reports whether r is a console sign-in.
func (r *record) isConsoleLogin() bool {
	return r.EventSource == "signin.amazonaws.com" && r.EventName == "ConsoleLogin"
}

// Bounds on one log file: CloudTrail's files are a few MiB at most, and
// one of its records at most 256 KiB.
const (
	maxFileBytes   = 1 << 30 // decompressed
	maxRecordBytes = 1 << 20 // one record, or any other value of the file
)

// budget is a reader that fails once more than limit bytes were read
// since the last reset: the JSON decoder buffers a whole value before it
// decodes it, and a forged record of a gigabyte must not be held.
type budget struct {
	r     io.Reader
	left  int64
	limit int64
}

var errTooBig = fmt.Errorf("a record of more than %d bytes", maxRecordBytes)

func (b *budget) reset() { b.left = b.limit }

func (b *budget) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errTooBig
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

// errRecordsMissing says a file holds no Records array.
var errRecordsMissing = errors.New(`no "Records" array`)

// decode streams the records of one CloudTrail log file (gzip, or plain
// JSON) to fn, one at a time: nothing but the record at hand is held. A
// record whose fields have unexpected types is counted in odd and skipped;
// a file that stops parsing returns the error after the records before it.
func decode(r io.Reader, fn func(*record)) (odd int, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var in io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return 0, fmt.Errorf("gzip: %w", err)
		}
		defer gz.Close()
		in = gz
	}
	whole := io.LimitReader(in, maxFileBytes)
	// The decoder reads ahead in chunks: a value may take its own bytes
	// and one chunk more.
	b := &budget{r: whole, limit: maxRecordBytes + 64<<10}
	b.reset()
	dec := json.NewDecoder(b)
	if err := expectDelim(dec, '{'); err != nil {
		return 0, err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return odd, err
		}
		if key, _ := tok.(string); key != "Records" {
			b.reset()
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return odd, err
			}
			continue
		}
		if err := expectDelim(dec, '['); err != nil {
			return odd, err
		}
		for {
			b.reset()
			if !dec.More() {
				break
			}
			var rec record
			err := dec.Decode(&rec)
			var typeErr *json.UnmarshalTypeError
			switch {
			case errors.As(err, &typeErr):
				odd++ // the decoder read past it: the stream is still in step
				continue
			case err != nil:
				return odd, err
			}
			fn(&rec)
		}
		if err := expectDelim(dec, ']'); err != nil {
			return odd, err
		}
		// Read to the end, so that a gzip stream cut short or failing its
		// checksum says so.
		if err := expectDelim(dec, '}'); err != nil {
			return odd, err
		}
		b.reset()
		_, err = io.Copy(io.Discard, dec.Buffered())
		if err == nil {
			_, err = io.Copy(io.Discard, io.LimitReader(whole, maxRecordBytes))
		}
		return odd, err
	}
	return odd, errRecordsMissing
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("want %q, found %v", want, tok)
	}
	return nil
}
