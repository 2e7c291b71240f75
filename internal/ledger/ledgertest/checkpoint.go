package ledgertest

import (
	"bytes"
	"compress/gzip"
	"io"
	"testing"
)

// EditCheckpoint returns a ledger checkpoint whose state edit rewrote,
// under the MAC it had: what whoever can write where checkpoints are kept,
// but not the broker's environment, can make. A checkpoint is a first line
// naming its version, a 32-byte MAC, then the gzipped state.
func EditCheckpoint(t testing.TB, data []byte, edit func(state []byte) []byte) []byte {
	t.Helper()
	nl := bytes.IndexByte(data, '\n')
	if nl < 0 || len(data) < nl+1+32 {
		t.Fatal("not a checkpoint")
	}
	head, packed := data[:nl+1+32], data[nl+1+32:]
	zr, err := gzip.NewReader(bytes.NewReader(packed))
	if err != nil {
		t.Fatal(err)
	}
	state, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	edited := edit(state)
	if bytes.Equal(edited, state) {
		t.Fatal("the edit changed nothing in the checkpoint")
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(edited)
	zw.Close()
	return append(bytes.Clone(head), buf.Bytes()...)
}
