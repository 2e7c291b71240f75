package outbound

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestLimitedBody(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		size    int
		wantErr bool
	}{{0, false}, {10, false}, {11, true}, {1000, true}} {
		b := &limitedBody{rc: io.NopCloser(strings.NewReader(strings.Repeat("x", tc.size))), left: 10}
		var got []byte
		buf := make([]byte, 3)
		var err error
		for {
			var n int
			n, err = b.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
		}
		if tc.wantErr != errors.Is(err, ErrBodyTooLarge) {
			t.Errorf("size %d: err = %v, want too large: %v", tc.size, err, tc.wantErr)
		}
		if len(got) > 10 {
			t.Errorf("size %d: read %d bytes past the bound of 10", tc.size, len(got))
		}
	}
}
