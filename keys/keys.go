// Package keys makes and protects secrets: API keys, access tokens and
// redemption codes are stored only as a SHA-256 hash with a short display
// prefix; upstream channel keys, which must be sent upstream, are encrypted
// with AES-256-GCM.
package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"strings"
)

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// Random returns n characters from [A-Za-z0-9], from crypto/rand.
func Random(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)] // 256 % 62 bias is negligible at 48 characters
	}
	return string(b)
}

// NewAPIKey returns a fresh API key as shown to its owner: "sk-" + 48 characters.
func NewAPIKey() string { return "sk-" + Random(48) }

// Hash is the stored form of a key. A leading "sk-" is ignored, so "sk-abc"
// and "abc" are the same key, as One API treats them.
func Hash(key string) []byte {
	sum := sha256.Sum256([]byte(strings.TrimPrefix(key, "sk-")))
	return sum[:]
}

// Prefix is the part of a key kept for display: enough to recognise it,
// far too little to use it.
func Prefix(key string) string {
	k := strings.TrimPrefix(key, "sk-")
	if len(k) > 6 {
		k = k[:6]
	}
	return "sk-" + k + "…"
}

// Hint is what a person sees of an upstream key: its last four characters.
func Hint(key string) string {
	if len(key) <= 8 {
		return "…"
	}
	return "…" + key[len(key)-4:]
}

// version 1: AES-256-GCM, 12-byte random nonce, nonce || ciphertext || tag.
const cipherV1 = 1

// Cipher encrypts upstream keys at rest. The first byte of every ciphertext
// names the scheme, so keys can be rotated or the scheme changed later.
type Cipher struct{ aead cipher.AEAD }

// NewCipher takes a 32-byte key.
func NewCipher(key []byte) (*Cipher, error) {
	if len(key) != 32 {
		return nil, errors.New("encryption key must be 32 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Cipher{aead: aead}, nil
}

// Seal encrypts plaintext.
func (c *Cipher) Seal(plaintext string) []byte {
	out := make([]byte, 1+c.aead.NonceSize(), 1+c.aead.NonceSize()+len(plaintext)+c.aead.Overhead())
	out[0] = cipherV1
	if _, err := rand.Read(out[1:]); err != nil {
		panic(err)
	}
	return c.aead.Seal(out, out[1:], []byte(plaintext), nil)
}

// ErrDecrypt means the ciphertext was not made with this key (wrong ENCRYPTION_KEY?).
var ErrDecrypt = errors.New("cannot decrypt channel key: wrong ENCRYPTION_KEY or corrupted data")

// Open decrypts what Seal produced.
func (c *Cipher) Open(ciphertext []byte) (string, error) {
	n := c.aead.NonceSize()
	if len(ciphertext) < 1+n || ciphertext[0] != cipherV1 {
		return "", ErrDecrypt
	}
	pt, err := c.aead.Open(nil, ciphertext[1:1+n], ciphertext[1+n:], nil)
	if err != nil {
		return "", ErrDecrypt
	}
	return string(pt), nil
}
