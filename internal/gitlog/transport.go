package gitlog

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// stallTimeout is how long a connection to the remote may go without a
// byte before the fetch fails: a first clone of a large ledger has no
// deadline, so a remote (or a network in between) that stops sending, or
// never answers, must not hold it for ever. Set by tests.
var stallTimeout atomic.Int64

func init() { stallTimeout.Store(int64(2 * time.Minute)) }

func stallDeadline() time.Time { return time.Now().Add(time.Duration(stallTimeout.Load())) }

// installTransport makes go-git's HTTP(S) transport one whose connections
// fail when they stall, once per process (go-git's transports are
// process-wide). Everything else is the default transport's: proxies from
// the environment, the system's roots and SSL_CERT_FILE.
var installTransport = sync.OnceFunc(func() {
	t := http.DefaultTransport.(*http.Transport).Clone()
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &stallConn{Conn: c}, nil
	}
	t.TLSHandshakeTimeout = 30 * time.Second
	c := githttp.NewClient(&http.Client{Transport: t})
	client.InstallProtocol("https", c)
	client.InstallProtocol("http", c)
})

// stallConn fails a read or write that makes no progress for stallTimeout.
type stallConn struct{ net.Conn }

func (c *stallConn) Read(p []byte) (int, error) {
	if err := c.SetReadDeadline(stallDeadline()); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *stallConn) Write(p []byte) (int, error) {
	if err := c.SetWriteDeadline(stallDeadline()); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}
