package relay

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"io"
	"net/http"
	"strings"
)

// decodeBody undoes a request's Content-Encoding (gzip or deflate, which
// some SDKs use for large prompts). The decompressed size counts against
// the body limit: a small body that inflates past it (a zip bomb) is
// refused as too large, having inflated no more than the limit.
func decodeBody(encoding string, body []byte, limit int64) ([]byte, *apiError) {
	var rd io.Reader
	var err error
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "identity":
		return body, nil
	case "gzip", "x-gzip":
		rd, err = gzip.NewReader(bytes.NewReader(body))
	case "deflate":
		// HTTP's deflate is zlib; some clients send raw DEFLATE.
		if rd, err = zlib.NewReader(bytes.NewReader(body)); err != nil {
			rd, err = flate.NewReader(bytes.NewReader(body)), nil
		}
	default:
		return nil, &apiError{http.StatusUnsupportedMediaType, "invalid_request_error", "unsupported_content_encoding",
			"Content-Encoding " + encoding + " is not supported: send gzip, deflate or an uncompressed body."}
	}
	if err != nil {
		return nil, badRequest("invalid_body_encoding", "The request body is not valid "+encoding+" data.")
	}
	out, err := io.ReadAll(io.LimitReader(rd, limit+1))
	if err != nil {
		return nil, badRequest("invalid_body_encoding", "The request body is not valid "+encoding+" data.")
	}
	if int64(len(out)) > limit {
		return nil, errBodyTooLarge
	}
	return out, nil
}
