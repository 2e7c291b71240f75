package stsfake

import "time"

// Expire makes an issued key expired, as if its DurationSeconds had passed.
func (f *Fake) Expire(accessKeyID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p, ok := f.keys[accessKeyID]; ok {
		p.expires = time.Now().Add(-time.Second)
	}
}
