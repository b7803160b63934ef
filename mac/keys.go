package mac

import (
	"crypto/hmac"
	"fmt"
	"sync"
)

// KeyID says which key verified a message; the response is signed with that
// key.
type KeyID int

// Key identifiers.
const (
	Current  KeyID = 0 // the current key; also what Verify returns on failure
	Previous KeyID = 1 // the previous key, during rotation
)

// Keys holds the algorithm, the current key and, during rotation, the previous
// key. Build it with NewKeys; the zero value verifies nothing and cannot sign
// (Sign panics). A *Keys is immutable and safe for concurrent use.
//
// Keys never prints its key bytes: String, GoString and Format print a masked
// form such as
//
//	mac.Keys{algo=sha512, current=****, previous=none}
//
// and the key bytes are kept behind pointers, so even printing a copied
// Keys value with %v or %+v shows no key material.
type Keys struct {
	algo     Algorithm
	size     int
	current  *key
	previous *key // nil: no previous key
}

// key is one HMAC key. Its bytes live only in the pool's New closure and in
// the HMAC states it makes; states are reused because building an HMAC costs
// several allocations and two hash blocks.
type key struct {
	pool sync.Pool // of *state, each keyed with this key
}

func newKey(algo Algorithm, b []byte) *key {
	newHash, _, _ := algo.newHash()
	secret := append([]byte(nil), b...) // the caller may reuse b
	k := &key{}
	k.pool.New = func() any { return &state{h: hmac.New(newHash, secret)} }
	return k
}

func (k *key) get() *state   { return k.pool.Get().(*state) }
func (k *key) put(st *state) { k.pool.Put(st) }

// verify reports whether want is the MAC of values under k, in constant time.
func (k *key) verify(want []byte, values []string) bool {
	st := k.get()
	ok := hmac.Equal(st.mac(values), want)
	k.put(st)
	return ok
}

func (k *key) sign(values []string) string {
	st := k.get()
	s := st.hexSum(values)
	k.put(st)
	return s
}

// NewKeys returns the keys for algo ("" is SHA512; the name is parsed as by
// ParseAlgorithm). current must not be empty (ErrNoKey); previous may be nil
// or empty, meaning no previous key. The key bytes are copied: the caller may
// reuse or zero its slices afterwards.
func NewKeys(algo Algorithm, current, previous []byte) (*Keys, error) {
	a, err := ParseAlgorithm(string(algo))
	if err != nil {
		return nil, fmt.Errorf("mac: new keys: %w", err)
	}
	if len(current) == 0 {
		return nil, fmt.Errorf("mac: new keys: %w", ErrNoKey)
	}
	_, size, _ := a.newHash()
	k := &Keys{algo: a, size: size, current: newKey(a, current)}
	if len(previous) > 0 {
		k.previous = newKey(a, previous)
	}
	return k, nil
}

// Algorithm returns the algorithm of the keys, SHA512 or SHA256.
func (k *Keys) Algorithm() Algorithm { return k.algo }

// Verify computes the MAC of values with the current key and, if one is
// configured, the previous key, and compares each in constant time with got,
// a hex string of either case. It returns the key that matched, the current
// key taking precedence, and true; or Current and false when neither matched.
//
// When a previous key is configured both MACs are always computed and
// compared, so the time taken does not reveal which key matched. A got that is
// not hex, or whose length does not fit the algorithm (128 hex digits for
// SHA512, 64 for SHA256), fails at once: that reveals nothing about the keys.
func (k *Keys) Verify(got string, values ...string) (KeyID, bool) {
	var buf [maxSize]byte // stays on the stack
	want := buf[:k.size]
	if k.current == nil || !decodeHex(want, got) { // zero Keys: fail closed
		return Current, false
	}
	okCur := k.current.verify(want, values)
	if k.previous == nil {
		return Current, okCur
	}
	okPrev := k.previous.verify(want, values)
	switch {
	case okCur:
		return Current, true
	case okPrev:
		return Previous, true
	}
	return Current, false
}

// Sign returns the lowercase hex MAC of values with the key id. Previous falls
// back to the current key when no previous key is configured; any id other
// than Previous means Current.
func (k *Keys) Sign(id KeyID, values ...string) string {
	if id == Previous && k.previous != nil {
		return k.previous.sign(values)
	}
	return k.current.sign(values)
}

// SignResponse returns the MAC of a response, signed with the key id:
// Sign(id, transactionReference, requestID, responseCode).
func (k *Keys) SignResponse(id KeyID, transactionReference, requestID, responseCode string) string {
	return k.Sign(id, transactionReference, requestID, responseCode)
}

// String returns the masked form, e.g.
// "mac.Keys{algo=sha512, current=****, previous=none}". It has a value
// receiver so that a copied Keys prints masked too.
func (k Keys) String() string {
	prev := "none"
	if k.previous != nil {
		prev = "****"
	}
	cur := "none" // only for the unusable zero value
	if k.current != nil {
		cur = "****"
	}
	return "mac.Keys{algo=" + string(k.algo) + ", current=" + cur + ", previous=" + prev + "}"
}

// GoString returns the masked form, as String, for %#v.
func (k Keys) GoString() string { return k.String() }

// Format prints the masked form for every verb and flag (%v, %+v, %#v, %s,
// %q quotes it, %x and the rest print it as %s would), so no verb can reach
// the key bytes.
func (k Keys) Format(f fmt.State, verb rune) {
	s := k.String()
	if verb == 'q' {
		s = fmt.Sprintf("%q", s)
	}
	_, _ = f.Write([]byte(s))
}
