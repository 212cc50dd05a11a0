package keys

import (
	"bytes"
	"strings"
	"testing"
)

func TestKeyFormsAndHash(t *testing.T) {
	k := NewAPIKey()
	if !strings.HasPrefix(k, "sk-") || len(k) != 51 || strings.ContainsAny(k[3:], "-_") {
		t.Fatalf("key %q", k)
	}
	if NewAPIKey() == k {
		t.Fatal("two keys alike")
	}
	if !bytes.Equal(Hash(k), Hash(strings.TrimPrefix(k, "sk-"))) {
		t.Error("the sk- prefix must not change the hash")
	}
	if p := Prefix(k); !strings.HasPrefix(k, strings.TrimSuffix(p, "…")) || len(p) > 12 {
		t.Errorf("prefix %q of %q", p, k)
	}
	if h := Hint("sk-abcdefghijklmnop"); h != "…mnop" {
		t.Errorf("hint %q", h)
	}
	if h := Hint("short"); strings.Contains(h, "short") {
		t.Errorf("hint of a short key shows it: %q", h)
	}
}

func TestCipher(t *testing.T) {
	c, err := NewCipher(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	ct := c.Seal("sk-upstream-secret")
	if bytes.Contains(ct, []byte("secret")) || ct[0] != cipherV1 {
		t.Fatalf("ciphertext %x", ct)
	}
	if pt, err := c.Open(ct); err != nil || pt != "sk-upstream-secret" {
		t.Fatalf("open = %q, %v", pt, err)
	}
	if bytes.Equal(c.Seal("sk-upstream-secret"), ct) {
		t.Error("same plaintext sealed twice gives the same ciphertext (nonce reuse)")
	}
	tampered := append([]byte(nil), ct...)
	tampered[len(tampered)-1] ^= 1
	if _, err := c.Open(tampered); err != ErrDecrypt {
		t.Errorf("tampered ciphertext: %v", err)
	}
	other, _ := NewCipher(bytes.Repeat([]byte{2}, 32))
	if _, err := other.Open(ct); err != ErrDecrypt {
		t.Errorf("wrong key: %v", err)
	}
	if _, err := NewCipher([]byte("short")); err == nil {
		t.Error("short key accepted")
	}
}
