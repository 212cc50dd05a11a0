// Package tencenttest checks Tencent Cloud API 3.0 signatures the way the
// server does, for tests of the tencent adaptor and of the relay: written
// apart from the adaptor's signing code, from Tencent's description of
// TC3-HMAC-SHA256, so that a mistake in one is not repeated in the other.
package tencenttest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Verify is what Tencent Cloud does with a request: it rebuilds the
// canonical request from what arrived and checks the signature with the
// secret key it knows for the SecretId. The error names the Tencent error
// code the server would answer with.
func Verify(r *http.Request, body []byte, keys map[string]string, now time.Time) error {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "TC3-HMAC-SHA256 ")
	if !ok {
		return errors.New("AuthFailure.InvalidAuthorization")
	}
	fields := map[string]string{}
	for _, f := range strings.Split(rest, ", ") {
		k, v, _ := strings.Cut(f, "=")
		fields[k] = v
	}
	cred := strings.Split(fields["Credential"], "/")
	if len(cred) != 4 || cred[2] != "hunyuan" || cred[3] != "tc3_request" {
		return errors.New("AuthFailure.InvalidAuthorization")
	}
	key, ok := keys[cred[0]]
	if !ok {
		return errors.New("AuthFailure.SecretIdNotFound")
	}
	ts, err := strconv.ParseInt(r.Header.Get("X-TC-Timestamp"), 10, 64)
	if err != nil || now.Sub(time.Unix(ts, 0)).Abs() > 5*time.Minute {
		return errors.New("AuthFailure.SignatureExpire")
	}
	if time.Unix(ts, 0).UTC().Format("2006-01-02") != cred[1] {
		return errors.New("AuthFailure.SignatureFailure")
	}
	var headers []string
	for _, h := range strings.Split(fields["SignedHeaders"], ";") {
		v := r.Header.Get(h)
		if h == "host" {
			v = r.Host
		}
		headers = append(headers, h+":"+strings.ToLower(strings.TrimSpace(v))+"\n")
	}
	hash := sha256.Sum256(body)
	canonical := r.Method + "\n" + r.URL.Path + "\n" + r.URL.RawQuery + "\n" + strings.Join(headers, "") + "\n" + fields["SignedHeaders"] + "\n" + hex.EncodeToString(hash[:])
	ch := sha256.Sum256([]byte(canonical))
	toSign := "TC3-HMAC-SHA256\n" + strconv.FormatInt(ts, 10) + "\n" + cred[1] + "/hunyuan/tc3_request\n" + hex.EncodeToString(ch[:])
	mac := func(k []byte, s string) []byte { m := hmac.New(sha256.New, k); m.Write([]byte(s)); return m.Sum(nil) }
	sig := mac(mac(mac(mac([]byte("TC3"+key), cred[1]), "hunyuan"), "tc3_request"), toSign)
	if hex.EncodeToString(sig) != fields["Signature"] {
		return errors.New("AuthFailure.SignatureFailure")
	}
	return nil
}
