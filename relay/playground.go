package relay

import (
	"context"
	"errors"
	"net/http"

	"github.com/jackc/pgx/v5"
)

// asToken is a request the console makes for a signed-in user with one of
// their tokens, which it knows by id (keys are stored hashed).
type asToken struct{ tokenID, userID int64 }

type asTokenKey struct{}

// ServeAs serves r as if it carried the key of token tokenID, which must
// belong to userID: the console's prompt playground runs a version through
// the relay this way, billed and logged as any request of that token. Every
// check of the token applies (status, expiry, owner, IP subnets).
func (s *Server) ServeAs(w http.ResponseWriter, r *http.Request, tokenID, userID int64) {
	s.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), asTokenKey{}, asToken{tokenID, userID})))
}

func (s *Server) authenticateAs(r *http.Request, as asToken) (*caller, *apiError) {
	tok, err := s.state.TokenByID(r.Context(), as.tokenID)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && tok.UserID != as.userID) {
		return nil, errInvalidKey
	}
	if err != nil {
		s.log.Error("token lookup", "err", err)
		return nil, errInternal
	}
	return s.admit(r, tok, 0)
}
