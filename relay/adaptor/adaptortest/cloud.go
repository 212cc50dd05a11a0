package adaptortest

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// What the tests of the cloud adaptors share: AWS event-stream frames and a
// server-side SigV4 check (Bedrock), a service account and an OAuth token
// endpoint (Vertex AI).

// Frame is one AWS event-stream message as a test upstream sends it.
type Frame struct {
	MessageType   string          `json:"message_type"`   // "event" (the default), "exception" or "error"
	EventType     string          `json:"event_type"`     // of events: messageStart, contentBlockDelta, ...
	ExceptionType string          `json:"exception_type"` // of exceptions: throttlingException, ...
	ErrorCode     string          `json:"error_code"`     // of errors
	Payload       json.RawMessage `json:"payload"`
}

// LoadFrames reads frames from a file of one JSON Frame a line.
func LoadFrames(t testing.TB, path string) []Frame {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var frames []Frame
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var fr Frame
		if err := json.Unmarshal(line, &fr); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		frames = append(frames, fr)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return frames
}

// EncodeFrame encodes one frame with aws-sdk-go-v2's encoder, headers as
// Bedrock sets them.
func EncodeFrame(fr Frame) []byte {
	var msg eventstream.Message
	switch fr.MessageType {
	case "", "event":
		msg.Headers.Set(":message-type", eventstream.StringValue("event"))
		msg.Headers.Set(":event-type", eventstream.StringValue(fr.EventType))
		msg.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	case "exception":
		msg.Headers.Set(":message-type", eventstream.StringValue("exception"))
		msg.Headers.Set(":exception-type", eventstream.StringValue(fr.ExceptionType))
		msg.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	case "error":
		msg.Headers.Set(":message-type", eventstream.StringValue("error"))
		msg.Headers.Set(":error-code", eventstream.StringValue(fr.ErrorCode))
		var text string // the payload is the message, as a JSON string
		_ = json.Unmarshal(fr.Payload, &text)
		msg.Headers.Set(":error-message", eventstream.StringValue(text))
	default:
		msg.Headers.Set(":message-type", eventstream.StringValue(fr.MessageType))
	}
	if fr.MessageType != "error" {
		msg.Payload = fr.Payload
	}
	var b bytes.Buffer
	if err := eventstream.NewEncoder().Encode(&b, msg); err != nil {
		panic(err) // only a writer error, and bytes.Buffer has none
	}
	return b.Bytes()
}

// EventStreamBody encodes frames one after the other.
func EventStreamBody(frames []Frame) []byte {
	var b bytes.Buffer
	for _, fr := range frames {
		b.Write(EncodeFrame(fr))
	}
	return b.Bytes()
}

// VerifySigV4 checks a request's AWS Signature Version 4 as AWS does: it
// reads the credential scope and the signed headers from the Authorization
// header, rebuilds the request from those headers only, signs it again with
// secretKey at the request's X-Amz-Date and compares the signatures. body
// is the body the server received (its hash is part of the signature).
// It returns the access key id, region and service signed for.
func VerifySigV4(r *http.Request, body []byte, secretKey string, now time.Time) (accessKey, region, service string, err error) {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return "", "", "", fmt.Errorf("authorization %q is not AWS4-HMAC-SHA256", auth)
	}
	fields := map[string]string{}
	for _, f := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[4] != "aws4_request" {
		return "", "", "", fmt.Errorf("credential %q is not ak/date/region/service/aws4_request", fields["Credential"])
	}
	accessKey, region, service = scope[0], scope[2], scope[3]
	signedAt, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return "", "", "", fmt.Errorf("X-Amz-Date: %v", err)
	}
	if d := now.Sub(signedAt); d > 5*time.Minute || d < -5*time.Minute {
		return "", "", "", fmt.Errorf("signed at %v, %v from now", signedAt, d)
	}
	if signedAt.Format("20060102") != scope[1] {
		return "", "", "", errors.New("the credential scope's date is not the signing date")
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	if !contains(signed, "host") || !contains(signed, "x-amz-date") {
		return "", "", "", fmt.Errorf("signed headers %v leave out host or x-amz-date", signed)
	}
	u := *r.URL
	u.Scheme, u.Host = "http", r.Host
	again, _ := http.NewRequest(r.Method, u.String(), bytes.NewReader(body))
	again.Host = r.Host
	for _, h := range signed {
		if h == "host" {
			continue
		}
		for _, v := range r.Header.Values(h) {
			again.Header.Add(h, v)
		}
	}
	again.Header.Del("Authorization")
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey, SessionToken: r.Header.Get("X-Amz-Security-Token")}
	if err := v4.NewSigner().SignHTTP(r.Context(), creds, again, hex.EncodeToString(sum[:]), service, region, signedAt); err != nil {
		return "", "", "", err
	}
	_, want, _ := strings.Cut(again.Header.Get("Authorization"), "Signature=")
	if want == "" || want != fields["Signature"] {
		return "", "", "", fmt.Errorf("signature mismatch: got %s, recomputed %s", fields["Signature"], want)
	}
	return accessKey, region, service, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// ServiceAccount is a Google service account key made for a test, whose
// token_uri is a test server's.
type ServiceAccount struct {
	JSON  []byte
	Email string
	Key   *rsa.PrivateKey
}

// NewServiceAccount makes a service account key of project for tokenURL.
func NewServiceAccount(t *testing.T, project, tokenURL string) *ServiceAccount {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	email := "gateway@" + project + ".iam.gserviceaccount.com"
	b, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": project, "private_key_id": "test-key-1",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": email, "client_id": "1234567890", "token_uri": tokenURL,
		"auth_uri": "https://accounts.google.com/o/oauth2/auth",
	})
	return &ServiceAccount{JSON: b, Email: email, Key: key}
}

// TokenServer is an OAuth 2.0 token endpoint that performs the JWT bearer
// grant (RFC 7523) as Google's does for service accounts: it checks the
// assertion's RS256 signature against the account's public key, its issuer,
// audience, scope and lifetime, and answers a fresh access token.
type TokenServer struct {
	*httptest.Server
	Exchanges atomic.Int64 // successful exchanges
	// ExpiresIn is the lifetime the tokens are given (default an hour).
	ExpiresIn atomic.Int64
	// Refuse makes the next exchanges fail with 400 invalid_grant, as
	// Google answers for a deleted or disabled key.
	Refuse atomic.Bool
	sa     atomic.Pointer[ServiceAccount]
}

// NewTokenServer starts a token server; give it its account with Trust.
func NewTokenServer(t *testing.T) *TokenServer {
	ts := &TokenServer{}
	ts.ExpiresIn.Store(3600)
	ts.Server = httptest.NewServer(http.HandlerFunc(ts.serve))
	t.Cleanup(ts.Close)
	return ts
}

// Trust makes sa the account whose assertions are accepted.
func (ts *TokenServer) Trust(sa *ServiceAccount) { ts.sa.Store(sa) }

// Token returns the access token of exchange n (1, 2, ...).
func Token(n int64) string { return fmt.Sprintf("ya29.test-token-%d", n) }

func (ts *TokenServer) serve(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code, desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":%q,"error_description":%q}`, code, desc)
	}
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		fail(http.StatusBadRequest, "invalid_request", "POST a form")
		return
	}
	if ts.Refuse.Load() {
		fail(http.StatusBadRequest, "invalid_grant", "Invalid JWT Signature.")
		return
	}
	if r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		fail(http.StatusBadRequest, "unsupported_grant_type", r.PostForm.Get("grant_type"))
		return
	}
	sa := ts.sa.Load()
	if sa == nil {
		fail(http.StatusBadRequest, "invalid_grant", "no account")
		return
	}
	claims, err := verifyJWT(r.PostForm.Get("assertion"), &sa.Key.PublicKey)
	if err != nil {
		fail(http.StatusBadRequest, "invalid_grant", err.Error())
		return
	}
	now := time.Now().Unix()
	switch {
	case claims.Iss != sa.Email:
		err = fmt.Errorf("iss %q", claims.Iss)
	case claims.Aud != ts.URL && claims.Aud != ts.URL+"/token":
		err = fmt.Errorf("aud %q", claims.Aud)
	case !strings.Contains(" "+claims.Scope+" ", " https://www.googleapis.com/auth/cloud-platform "):
		err = fmt.Errorf("scope %q", claims.Scope)
	case claims.Exp < now || claims.Iat > now+60 || claims.Exp-claims.Iat > 3600:
		err = fmt.Errorf("lifetime %d..%d", claims.Iat, claims.Exp)
	}
	if err != nil {
		fail(http.StatusBadRequest, "invalid_grant", err.Error())
		return
	}
	n := ts.Exchanges.Add(1)
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"access_token":%q,"expires_in":%d,"token_type":"Bearer"}`, Token(n), ts.ExpiresIn.Load())
}

type jwtClaims struct {
	Iss   string `json:"iss"`
	Aud   string `json:"aud"`
	Scope string `json:"scope"`
	Iat   int64  `json:"iat"`
	Exp   int64  `json:"exp"`
}

func verifyJWT(s string, pub *rsa.PublicKey) (*jwtClaims, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return nil, errors.New("assertion is not a JWT")
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	h, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || json.Unmarshal(h, &hdr) != nil || hdr.Alg != "RS256" {
		return nil, fmt.Errorf("JWT header %s", h)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return nil, errors.New("Invalid JWT Signature.")
	}
	c, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	var claims jwtClaims
	if err := json.Unmarshal(c, &claims); err != nil {
		return nil, err
	}
	return &claims, nil
}
