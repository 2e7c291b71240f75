package activity

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/elevate-gitops/elevate/internal/awscreds"
)

// Bucket is what a scan reads of S3; *s3.Client is one.
type Bucket interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Location is where the trail writes: BUCKET[/PREFIX].
type Location struct{ Bucket, Prefix string }

var bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// ParseLocation reads BUCKET[/PREFIX] (an s3:// in front is accepted).
func ParseLocation(s string) (Location, error) {
	raw := s
	s = strings.TrimPrefix(s, "s3://")
	bucket, prefix, _ := strings.Cut(s, "/")
	prefix = strings.Trim(prefix, "/")
	if !bucketRE.MatchString(bucket) || strings.Contains(prefix, "//") || strings.ContainsAny(prefix, "\x00\n\r") {
		return Location{}, fmt.Errorf("activity bucket %q: want BUCKET[/PREFIX], the trail's S3 bucket and its key prefix", raw)
	}
	return Location{Bucket: bucket, Prefix: prefix}, nil
}

func (l Location) String() string {
	if l.Prefix == "" {
		return "s3://" + l.Bucket
	}
	return "s3://" + l.Bucket + "/" + l.Prefix
}

// logs is the key prefix of the trail's AWSLogs folder.
func (l Location) logs() string {
	if l.Prefix == "" {
		return "AWSLogs/"
	}
	return l.Prefix + "/AWSLogs/"
}

// Grant is what a scan looks for: one request's sessions in its window.
type Grant struct {
	ID      string
	Login   string // the requester: the sessions' name starts with it
	Targets []Target
	// Start and End are the window; Revoked is when the grant was revoked,
	// if it was: its sessions may still call (and be refused) until End.
	Start, End, Revoked time.Time
	// Issued are the sessions the broker issued, where it still knows
	// them; the scan finds the others in AssumeRole events.
	Issued []Issued
}

// Issued is one session the broker issued: its access key id and its
// assumed-role ARN.
type Issued struct{ AccessKeyID, ARN string }

// Options tune a scan.
type Options struct {
	// Sensitive are the action patterns to call out (nil: DefaultSensitive).
	Sensitive []string
	Now       time.Time // default time.Now()
	Logger    *slog.Logger
	// Readers is how many log files are read at once (default 4).
	Readers int
	// MaxFiles bounds the files one scan reads (default 100,000).
	MaxFiles int
	// Broker, when set, is the only caller whose AssumeRole events make a
	// session the grant's: the broker's own identity.
	Broker *Caller
	// Timeout bounds one scan (default 10 minutes): what it has not read
	// by then is a problem, not a wait.
	Timeout time.Duration
}

// Scan slack: a session outlives its window by up to STS's 15-minute
// floor (its policy denies everything then, and those refusals are worth
// seeing); clocks and delivery skew by minutes.
const (
	sessionOverrun = awscreds.MinDuration
	clockSlack     = 5 * time.Minute
	// LateFiles is how long after a window's end CloudTrail may still
	// deliver its events: a summary is read again until then.
	LateFiles = 24 * time.Hour
	// DefaultTimeout bounds one scan.
	DefaultTimeout = 10 * time.Minute
	// maxSessionsSeen bounds the other sessions of the grant's roles a
	// first reading keeps apart before it knows which are the grant's; past
	// it, a second reading counts only the grant's.
	maxSessionsSeen = 10000
)

// Scan reads the trail's log files of g's accounts, for the days of its
// window and the day after, and sums up what g's sessions did. A file,
// listing or bucket it cannot read is a Problem in the summary, never an
// error: the rest is still read. It fails only when ctx ends.
func Scan(ctx context.Context, b Bucket, loc Location, g Grant, o Options) (*Summary, error) {
	if o.Sensitive == nil {
		o.Sensitive = DefaultSensitive
	}
	// IAM compares actions case-insensitively: lower both sides once.
	lower := make([]string, len(o.Sensitive))
	for i, p := range o.Sensitive {
		lower[i] = strings.ToLower(p)
	}
	o.Sensitive = lower
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Readers <= 0 {
		o.Readers = 4
	}
	if o.MaxFiles <= 0 {
		o.MaxFiles = 100000
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	s := &Summary{Request: g.ID, Targets: g.Targets, Start: g.Start.UTC(), End: g.End.UTC(), ReadAt: o.Now.UTC()}
	if !g.Revoked.IsZero() {
		r := g.Revoked.UTC()
		s.Revoked = &r
	}
	sc := &scan{b: b, loc: loc, g: g, o: o, sum: s}
	files := sc.list(ctx)
	if err := parent.Err(); err != nil {
		return nil, err
	}
	s.Files = len(files)
	m := newMatcher(g, true, o.Broker)
	sc.pass(ctx, files, m)
	if again := m.close(); m.overflow || again {
		// Too many other sessions of the grant's roles to keep apart, or
		// sessions chained from the grant's into other roles: read again,
		// counting only the sessions the first reading found.
		known := newMatcher(g, false, o.Broker)
		known.learn(m)
		sc.pass(ctx, files, known)
		known.close()
		m = known
	}
	if err := parent.Err(); err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		sc.problem(fmt.Sprintf("the read stopped after %s: the files it had not read by then are left out", o.Timeout), nil)
	}
	total, sessions := m.result()
	total.fill(s)
	s.Sessions = sessions
	s.Problems = append(s.Problems, m.callerProblems()...)
	slices.Sort(s.Problems)
	s.Problems = cut(slices.Compact(s.Problems), maxProblems)
	return s, nil
}

type scan struct {
	b   Bucket
	loc Location
	g   Grant
	o   Options
	sum *Summary
	mu  sync.Mutex
}

// problem records what could not be read, and logs it.
func (sc *scan) problem(msg string, err error) {
	text := bounded(msg, 400)
	if err != nil {
		text += ": " + reason(err)
	}
	sc.o.Logger.Warn("activity: "+msg, "request", sc.g.ID, "bucket", sc.loc.String(), "error", err)
	sc.mu.Lock()
	sc.sum.Problems = append(sc.sum.Problems, text)
	sc.mu.Unlock()
}

// reason is err in a line, with S3's own code where it gave one.
func reason(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode() + ": " + value(api.ErrorMessage())
	}
	return value(err.Error())
}

// window is where the scan keeps events: the grant's window, widened by
// the sessions' overrun and the clocks' slack.
func (sc *scan) window() (from, to time.Time) {
	return sc.g.Start.Add(-clockSlack), sc.g.End.Add(sessionOverrun + clockSlack)
}

// days are the UTC dates whose folders may hold the window's events: its
// own and the day after.
func (sc *scan) days() []string {
	from, to := sc.window()
	var out []string
	for d := from.UTC().Truncate(24 * time.Hour); !d.After(to.UTC().Add(24 * time.Hour)); d = d.Add(24 * time.Hour) {
		out = append(out, d.Format("2006/01/02/"))
		if len(out) > 62 {
			break // a window is hours or days; never list a season
		}
	}
	return out
}

// list finds the log files to read: the trail's account folders for each
// target account (directly under AWSLogs/, or under an organisation's
// folder), their region folders, and in each the window's days. It lists
// no other prefix.
func (sc *scan) list(ctx context.Context) []string {
	tops, err := sc.folders(ctx, sc.loc.logs())
	if err != nil {
		sc.problem("could not list s3://"+sc.loc.Bucket+"/"+sc.loc.logs(), err)
		return nil
	}
	accounts := map[string]bool{}
	for _, t := range sc.g.Targets {
		accounts[t.AccountID] = true
	}
	var roots []string
	for _, top := range tops {
		name := path.Base(top)
		switch {
		case accounts[name]:
			roots = append(roots, top+"CloudTrail/")
		case strings.HasPrefix(name, "o-"):
			for a := range accounts {
				roots = append(roots, top+a+"/CloudTrail/")
			}
		}
	}
	// Organisations' folders first, then accounts' own.
	slices.SortFunc(roots, func(a, b string) int {
		return cmp.Or(cmp.Compare(strings.Count(b, "/"), strings.Count(a, "/")), cmp.Compare(a, b))
	})
	// One trail per account: an organisation's and the account's own in
	// one bucket log the same calls twice. The organisation's is read.
	read := map[string]string{} // account -> the root read
	var files []string
	for _, root := range roots {
		regions, err := sc.folders(ctx, root)
		if err != nil {
			sc.problem("could not list "+root, err)
			continue
		}
		if len(regions) == 0 {
			continue
		}
		account := path.Base(strings.TrimSuffix(root, "/CloudTrail/"))
		if first, ok := read[account]; ok {
			sc.problem(fmt.Sprintf("several trails deliver for account %s: only %s was read, not %s", account, first, root), nil)
			continue
		}
		read[account] = root
		for _, region := range regions {
			for _, day := range sc.days() {
				keys, err := sc.objects(ctx, region+day)
				if err != nil {
					sc.problem("could not list "+region+day, err)
					continue
				}
				files = append(files, keys...)
				if len(files) > sc.o.MaxFiles {
					sc.problem(fmt.Sprintf("more than %d log files in the window: the rest were not read", sc.o.MaxFiles), nil)
					return files[:sc.o.MaxFiles]
				}
			}
		}
	}
	return files
}

// folders lists the folders right under prefix.
func (sc *scan) folders(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	p := s3.NewListObjectsV2Paginator(sc.b, &s3.ListObjectsV2Input{Bucket: aws.String(sc.loc.Bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, cp := range page.CommonPrefixes {
			out = append(out, aws.ToString(cp.Prefix))
		}
		if len(out) > sc.o.MaxFiles {
			return nil, fmt.Errorf("more than %d folders under %s", sc.o.MaxFiles, prefix)
		}
	}
	return out, nil
}

// objects lists the log files under prefix that can hold the window's
// events: CloudTrail names each file by its delivery time, and a file
// delivered before the window opened holds nothing of it.
func (sc *scan) objects(ctx context.Context, prefix string) ([]string, error) {
	from, _ := sc.window()
	var out []string
	p := s3.NewListObjectsV2Paginator(sc.b, &s3.ListObjectsV2Input{Bucket: aws.String(sc.loc.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, obj := range page.Contents {
			key := aws.ToString(obj.Key)
			if !strings.HasSuffix(key, ".json.gz") {
				continue
			}
			if at, ok := deliveredAt(key); ok && at.Before(from) {
				continue
			}
			out = append(out, key)
		}
		if len(out) > sc.o.MaxFiles {
			break
		}
	}
	return out, nil
}

// deliveredAt reads the time in a log file's name:
// <account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<unique>.json.gz.
func deliveredAt(key string) (time.Time, bool) {
	parts := strings.Split(path.Base(key), "_")
	if len(parts) < 5 {
		return time.Time{}, false
	}
	t, err := time.Parse("20060102T1504Z", parts[3])
	return t, err == nil
}

// pass reads files with a few readers at once, each into its own matcher
// state, merged into m at the end.
func (sc *scan) pass(ctx context.Context, files []string, m *matcher) {
	work := make(chan string)
	var wg sync.WaitGroup
	parts := make([]*matcher, sc.o.Readers)
	for i := range parts {
		parts[i] = m.fork()
		wg.Add(1)
		go func(part *matcher) {
			defer wg.Done()
			for key := range work {
				sc.read(ctx, key, part)
			}
		}(parts[i])
	}
feed:
	for _, key := range files {
		select {
		case work <- key:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	for _, part := range parts {
		m.join(part)
	}
}

// read streams one log file into m; what it cannot read is a problem.
func (sc *scan) read(ctx context.Context, key string, m *matcher) {
	out, err := sc.b.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(sc.loc.Bucket), Key: aws.String(key)})
	if err != nil {
		if ctx.Err() == nil {
			sc.problem("could not read "+key, err)
		}
		return
	}
	defer out.Body.Close()
	from, to := sc.window()
	odd, err := decode(out.Body, func(r *record) {
		at, ok := r.at()
		if !ok {
			return
		}
		m.see(r, at, from, to, sc.o.Sensitive)
	})
	if odd > 0 {
		sc.problem(fmt.Sprintf("%s: %d records of an unexpected shape were skipped", key, odd), nil)
	}
	if err != nil && ctx.Err() == nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = errors.New("the file ends early")
		}
		sc.problem("could not read all of "+key+" (the records before the fault are counted)", err)
	}
}
