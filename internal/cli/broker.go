package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/elevate-gitops/elevate/internal/brokerapi"
)

// BrokerError is a refusal from the broker: its code and what to do next.
type BrokerError struct {
	Status  int
	Code    string
	Message string
}

func (e *BrokerError) Error() string { return e.Code + ": " + e.Message }

type brokerClient struct {
	url   string
	token string // the `elevate login` token, sent with every call
	user  string // tells people apart without the token (see userHint)
	http  *http.Client
}

// broker is the client of every call to the broker. It authenticates with
// the token `elevate login` stored, renewed when it expires (never with a
// prompt: credential_process runs unattended), and never with GH_TOKEN or
// GITHUB_TOKEN, which the broker refuses: a token a person gave any other
// app would otherwise be enough to get their AWS credentials.
func (f *Factory) broker(ctx context.Context) (*brokerClient, error) {
	url, err := f.BrokerURL()
	if err != nil {
		return nil, err
	}
	login, err := f.login().Token(ctx)
	if err != nil {
		return nil, err
	}
	return &brokerClient{url: url, token: login.Access, user: userHint(login), http: withNetworkErrors(f.HTTP, "the broker", "ELEVATE_BROKER_URL")}, nil
}

func (b *brokerClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.url+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+b.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "elevate-cli")
	resp, err := b.http.Do(req)
	if err != nil {
		var ne *NetworkError
		if errors.As(err, &ne) {
			return ne
		}
		return &NetworkError{Service: "the broker", Host: req.URL.Host, Env: "ELEVATE_BROKER_URL", Timeout: isTimeout(err), Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read the broker's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e brokerapi.Error
		if json.Unmarshal(data, &e) != nil || e.Code == "" {
			return &BrokerError{Status: resp.StatusCode, Code: "http_" + fmt.Sprint(resp.StatusCode), Message: fmt.Sprintf("the broker answered %s", resp.Status)}
		}
		return &BrokerError{Status: resp.StatusCode, Code: e.Code, Message: e.Message}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("the broker's answer is not what elevate expects: %w", err)
	}
	return nil
}
