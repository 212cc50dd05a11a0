package tencent

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// TC3-HMAC-SHA256 is Tencent Cloud API 3.0's request signature
// (https://cloud.tencent.com/document/api/1729/101843): a canonical form of
// the request, hashed, signed with a key derived from the secret key, the
// date and the service.
const (
	algorithm     = "TC3-HMAC-SHA256"
	service       = "hunyuan"
	signedHeaders = "content-type;host"
	contentType   = "application/json"
)

// authorization returns the Authorization header of a POST to / on host
// with payload, at time t.
func authorization(secretID, secretKey, host string, payload []byte, t time.Time) string {
	date := t.UTC().Format("2006-01-02")
	scope := date + "/" + service + "/tc3_request"
	canonical := strings.Join([]string{
		"POST", "/", "",
		"content-type:" + contentType + "\nhost:" + strings.ToLower(host) + "\n",
		signedHeaders,
		sha256hex(payload),
	}, "\n")
	toSign := strings.Join([]string{algorithm, fmt.Sprint(t.Unix()), scope, sha256hex([]byte(canonical))}, "\n")
	k := hmacSHA256([]byte("TC3"+secretKey), date)
	k = hmacSHA256(k, service)
	k = hmacSHA256(k, "tc3_request")
	signature := hex.EncodeToString(hmacSHA256(k, toSign))
	return algorithm + " Credential=" + secretID + "/" + scope + ", SignedHeaders=" + signedHeaders + ", Signature=" + signature
}

func sha256hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}
