package adaptor

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// ErrBodyTooLarge reports an upstream reply over the bound an adaptor set.
var ErrBodyTooLarge = errors.New("upstream body too large")

// ReadBody reads a whole reply of at most limit bytes.
func ReadBody(resp *http.Response, limit int64) ([]byte, error) {
	if n := resp.ContentLength; n >= 0 && n <= 16<<20 && n <= limit {
		// Known, modest length: one allocation of the right size.
		b := make([]byte, n)
		if _, err := io.ReadFull(resp.Body, b); err != nil {
			return nil, fmt.Errorf("read upstream body: %w", err)
		}
		return b, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read upstream body: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, limit)
	}
	return b, nil
}
