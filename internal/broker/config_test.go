package broker

import (
	"bytes"
	"cmp"
	"flag"
	"log/slog"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// secretish are flag names that carry a secret.
var secretish = regexp.MustCompile(`token|secret|password|credential|notify-url`)

// Every field of Config names a real flag, every secret-bearing one is
// tagged secret, and LogValue writes none of them: a new secret field added
// without its tag fails here.
func TestConfigLogValueRedactsEverySecret(t *testing.T) {
	t.Parallel()
	var c Config
	fs := flagSet(&c)
	typ := reflect.TypeOf(c)
	tagged := map[string]bool{}
	v := reflect.ValueOf(&c).Elem()
	for i := range typ.NumField() {
		f := typ.Field(i)
		name := f.Tag.Get("flag")
		if env := f.Tag.Get("env"); name == "" && env != "" {
			name = strings.ToLower(strings.TrimPrefix(env, "ELEVATE_")) // read from the environment only
		} else if name == "" || fs.Lookup(name) == nil {
			t.Errorf("field %s names flag %q, which the broker does not declare", f.Name, name)
			continue
		}
		tagged[name] = true
		secret := f.Tag.Get("secret") == "true"
		if secretish.MatchString(name) && !secret {
			t.Errorf("field %s (--%s) carries a secret but is not tagged secret:\"true\"", f.Name, name)
		}
		switch f.Type.Kind() {
		case reflect.Bool:
			v.Field(i).SetBool(true)
		case reflect.String:
			v.Field(i).SetString("sentinel-" + name)
		case reflect.Int64:
			if f.Type == reflect.TypeOf(time.Duration(0)) {
				v.Field(i).SetInt(int64(time.Minute))
			} else {
				v.Field(i).SetInt(4242)
			}
		default:
			t.Errorf("field %s: kind %s is not covered by this test", f.Name, f.Type.Kind())
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		if !tagged[f.Name] {
			t.Errorf("flag --%s has no Config field tagged with it", f.Name)
		}
	})
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", "config", c)
	for i := range typ.NumField() {
		f := typ.Field(i)
		name := cmp.Or(f.Tag.Get("flag"), strings.ToLower(strings.TrimPrefix(f.Tag.Get("env"), "ELEVATE_")))
		shown := strings.Contains(buf.String(), "sentinel-"+name)
		if secret := f.Tag.Get("secret") == "true"; secret && shown {
			t.Errorf("the log shows the secret --%s: %s", name, buf.String())
		} else if !secret && f.Type.Kind() == reflect.String && !shown {
			t.Errorf("the log leaves out --%s", name)
		}
	}
	if !strings.Contains(buf.String(), `"github_token":"REDACTED"`) {
		t.Errorf("log = %s", buf.String())
	}
}

func TestParseConfig(t *testing.T) {
	t.Parallel()
	anchor := strings.Repeat("ab", 20)
	defaults := func() Config {
		return Config{Listen: "127.0.0.1:8080", Ledger: ".", Branch: "main", GitHubAPIURL: "https://api.github.com/",
			OIDCIssuer: "https://token.actions.githubusercontent.com", OIDCAudience: "elevate", Region: "us-east-1",
			SigninURL: "https://signin.aws.amazon.com/federation", SyncInterval: time.Minute, MaxStaleness: 5 * time.Minute,
			StateDir: "/home/op/.local/state/elevate", HeadCheck: 5 * time.Second, EndRole: "elevate-end-sessions"}
	}
	with := func(f func(*Config)) Config { c := defaults(); f(&c); return c }
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want Config
		err  string
	}{
		{"defaults", nil, nil, defaults(), ""},
		{"a flag", []string{"--repo", "acme/access", "--trust-anchor", anchor}, nil, with(func(c *Config) { c.Repo, c.TrustAnchor = "acme/access", anchor }), ""},
		{"the environment", nil, map[string]string{"ELEVATE_STS_ENDPOINT": "http://127.0.0.1:9", "ELEVATE_MAX_STALENESS": "10m"},
			with(func(c *Config) { c.STSEndpoint, c.MaxStaleness = "http://127.0.0.1:9", 10*time.Minute }), ""},
		{"a flag wins over the environment", []string{"--branch", "trunk"}, map[string]string{"ELEVATE_BRANCH": "dev"}, with(func(c *Config) { c.Branch = "trunk" }), ""},
		{"--repo without --trust-anchor", []string{"--repo", "acme/access"}, nil, Config{}, "--trust-anchor is required with --repo"},
		{"a short anchor", []string{"--repo", "acme/access", "--trust-anchor", "abc123"}, nil, Config{}, "full 40-character commit SHA"},
		{"staleness under the sync interval", []string{"--max-staleness", "30s"}, nil, Config{}, "shorter than --sync-interval"},
		{"an App id without its key", []string{"--github-app-id", "7"}, nil, Config{}, "go together"},
		{"a bad environment value", nil, map[string]string{"ELEVATE_SYNC_INTERVAL": "often"}, Config{}, "ELEVATE_SYNC_INTERVAL"},
		{"a stray argument", []string{"serve"}, nil, Config{}, "unexpected arguments"},
		{"a sync interval under a second", []string{"--sync-interval", "10ms"}, nil, Config{}, "too short"},
		{"systemd's state directory", nil, map[string]string{"STATE_DIRECTORY": "/var/lib/elevate-broker"}, with(func(c *Config) { c.StateDir = "/var/lib/elevate-broker" }), ""},
		{"systemd's credential for the App key", []string{"--github-app-id", "7"}, map[string]string{"CREDENTIALS_DIRECTORY": "/run/credentials/elevate-broker.service"},
			with(func(c *Config) { c.GitHubAppID, c.GitHubAppKey = 7, "/run/credentials/elevate-broker.service/app-key" }), ""},
		{"the App key from the environment (Lambda)", nil, map[string]string{"ELEVATE_GITHUB_APP_ID": "7", "ELEVATE_GITHUB_APP_KEY": "-----BEGIN RSA PRIVATE KEY-----\n…"},
			with(func(c *Config) { c.GitHubAppID, c.GitHubAppKeyPEM = 7, "-----BEGIN RSA PRIVATE KEY-----\n…" }), ""},
		{"the App key twice", []string{"--github-app-id", "7", "--github-app-key-file", "/k.pem"}, map[string]string{"ELEVATE_GITHUB_APP_KEY": "pem"}, Config{}, "not both"},
		{"Lambda's /tmp", nil, map[string]string{"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"}, with(func(c *Config) { c.StateDir = "/tmp/elevate" }), ""},
		{"a URL ledger without a token", []string{"--ledger", "https://github.com/acme/access.git"}, nil, Config{}, "fetches it with the GitHub App's token or --github-token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseConfig(tt.args, func(k string) string {
				if k == "HOME" {
					return "/home/op"
				}
				return tt.env[k]
			})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("config = %+v\nwant     %+v", got, tt.want)
			}
		})
	}
}
