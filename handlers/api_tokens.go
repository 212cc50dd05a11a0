package handlers

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/labstack/echo/v4"

	"oneapi/keys"
	"oneapi/prompt"
	"oneapi/queries"
	"oneapi/state"
)

// One API's token statuses 3 (expired) and 4 (exhausted) are derived from
// expires_at and remain_quota when a token is shown, never stored.
const (
	tokenStatusExpired   int16 = 3
	tokenStatusExhausted int16 = 4
)

// tokenMaxName is One API's limit on token names.
const tokenMaxName = 30

// maxExpiredTime is the last second of year 9999: a larger expired_time is
// almost surely milliseconds sent where seconds are expected.
const maxExpiredTime = 253402300799

// apiToken is a token in One API's JSON shape. Key is the display prefix
// ("sk-abc123…"), except in the reply to a creation, where it is the full
// key, shown that once.
type apiToken struct {
	ID             int64  `json:"id"`
	UserID         int64  `json:"user_id"`
	Key            string `json:"key"`
	Status         int16  `json:"status"`
	Name           string `json:"name"`
	CreatedTime    int64  `json:"created_time"`
	AccessedTime   int64  `json:"accessed_time"`
	ExpiredTime    int64  `json:"expired_time"` // -1: never
	RemainQuota    int64  `json:"remain_quota"`
	UnlimitedQuota bool   `json:"unlimited_quota"`
	UsedQuota      int64  `json:"used_quota"`
	Models         string `json:"models"` // "": every model
	Subnet         string `json:"subnet"` // "": every address
	// Prompts limits the stored prompts the token may use ("": any);
	// PromptsOnly refuses requests that name none.
	Prompts     string `json:"prompts"`
	PromptsOnly bool   `json:"prompts_only"`
	limitFields
}

func toAPIToken(r queries.Token, now time.Time) apiToken {
	return apiToken{
		ID: r.ID, UserID: r.UserID, Key: r.KeyPrefix, Status: tokenStatus(r, now), Name: r.Name,
		CreatedTime: r.CreatedAt.Unix(), AccessedTime: unixOrZero(r.AccessedAt), ExpiredTime: expiredTime(r.ExpiresAt),
		RemainQuota: r.RemainQuota, UnlimitedQuota: r.UnlimitedQuota, UsedQuota: r.UsedQuota,
		Models: r.Models, Subnet: r.Subnet, Prompts: r.Prompts, PromptsOnly: r.PromptsOnly,
		limitFields: tokenLimitFields(r),
	}
}

func toAPITokens(rows []queries.Token) []apiToken {
	now := time.Now()
	out := make([]apiToken, 0, len(rows))
	for _, r := range rows {
		out = append(out, toAPIToken(r, now))
	}
	return out
}

// tokenStatus is the status One API would show: an enabled token past its
// expiry is expired (3), one without quota left is exhausted (4).
func tokenStatus(r queries.Token, now time.Time) int16 {
	if r.Status != statusEnabled {
		return r.Status
	}
	if r.ExpiresAt != nil && !r.ExpiresAt.After(now) {
		return tokenStatusExpired
	}
	if !r.UnlimitedQuota && r.RemainQuota <= 0 {
		return tokenStatusExhausted
	}
	return r.Status
}

func expiredTime(t *time.Time) int64 {
	if t == nil {
		return -1
	}
	return t.Unix()
}

// tokenInput is a token as submitted, in One API's field names; shared by
// the JSON API and the console form.
type tokenInput struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	// Status 0 means "not given". 3 and 4 are One API's derived statuses,
	// sent back by scripts that read a token and save it: they change nothing.
	Status      int16 `json:"status"`
	ExpiredTime int64 `json:"expired_time"` // -1 or 0: never; else unix seconds
	// RemainQuota is nil when not given: the stored balance is kept.
	RemainQuota    *int64 `json:"remain_quota"`
	UnlimitedQuota bool   `json:"unlimited_quota"`
	Models         string `json:"models"`
	Subnet         string `json:"subnet"`
	Prompts        string `json:"prompts"`
	PromptsOnly    bool   `json:"prompts_only"`
	limitInput
}

// tokenInputFrom fills an input with a stored token, so that a PUT decoded
// over it changes only the fields it names.
func tokenInputFrom(r queries.Token) tokenInput {
	return tokenInput{
		ID: r.ID, Name: r.Name, ExpiredTime: expiredTime(r.ExpiresAt),
		UnlimitedQuota: r.UnlimitedQuota, Models: r.Models, Subnet: r.Subnet,
		Prompts: r.Prompts, PromptsOnly: r.PromptsOnly,
	}
}

// validate checks and normalises in and returns its expiry (nil: never).
func (in *tokenInput) validate() (*time.Time, error) {
	in.Name = strings.TrimSpace(in.Name)
	if utf8.RuneCountInString(in.Name) > tokenMaxName {
		return nil, invalidField("name", "name must be at most %d characters", tokenMaxName)
	}
	if in.RemainQuota != nil && *in.RemainQuota < 0 {
		return nil, invalidField("remain_quota", "remain_quota must be ≥ 0")
	}
	var expires *time.Time
	switch {
	case in.ExpiredTime == -1 || in.ExpiredTime == 0:
		// 0 is what a script that leaves the field out sends; One API's
		// column default makes that "never" as well.
	case in.ExpiredTime < -1 || in.ExpiredTime > maxExpiredTime:
		return nil, invalidField("expired_time", "expired_time must be -1 (never) or a unix time in seconds")
	default:
		t := time.Unix(in.ExpiredTime, 0)
		expires = &t
	}
	if in.Status != 0 && in.Status != statusEnabled && in.Status != statusDisabled &&
		in.Status != tokenStatusExpired && in.Status != tokenStatusExhausted {
		return nil, invalidField("status", "status must be 1 (enabled) or 2 (disabled)")
	}
	in.Models = strings.Join(splitCommaList(in.Models), ",")
	subnets := splitCommaList(in.Subnet)
	for _, s := range subnets {
		if _, err := state.ParsePrefix(s); err != nil {
			return nil, invalidField("subnet", "subnet: %q is not an IP address or a CIDR range such as 192.168.0.0/24", s)
		}
	}
	in.Subnet = strings.Join(subnets, ",")
	names := splitCommaList(in.Prompts)
	for _, n := range names {
		if err := prompt.CheckName(n); err != nil {
			return nil, invalidField("prompts", "prompts: %q is not a prompt name", n)
		}
	}
	in.Prompts = strings.Join(names, ",")
	return expires, nil
}

// checkEnable refuses to enable a token that is already past its expiry, as
// One API does: it would be refused on every request anyway.
func checkEnable(expires *time.Time, now time.Time) error {
	if expires != nil && !expires.After(now) {
		return invalidField("expired_time", "expired_time is in the past: set a later time, or -1 for never, before enabling the token")
	}
	return nil
}

// apiTokenList is GET /api/token/?p=: the caller's tokens, newest first.
func (h *Handler) apiTokenList(c echo.Context) error {
	limit, offset := apiPage(c)
	rows, err := h.q.TokenListForUser(c.Request().Context(), queries.TokenListForUserParams{
		UserID: h.currentUser(c).ID, Limit: limit, Offset: offset,
	})
	if err != nil {
		return err
	}
	return apiOK(c, toAPITokens(rows))
}

// apiTokenSearch is GET /api/token/search?keyword=: the caller's tokens by name.
func (h *Handler) apiTokenSearch(c echo.Context) error {
	rows, err := h.q.TokenSearchForUser(c.Request().Context(), queries.TokenSearchForUserParams{
		UserID: h.currentUser(c).ID, Keyword: strings.TrimSpace(c.QueryParam("keyword")),
	})
	if err != nil {
		return err
	}
	return apiOK(c, toAPITokens(rows))
}

// apiTokenGet is GET /api/token/:id. Another user's token is "not found",
// not "forbidden": its existence is none of the caller's business.
func (h *Handler) apiTokenGet(c echo.Context) error {
	id, err := apiPathID(c)
	if err != nil {
		return err
	}
	row, err := h.q.TokenGetForUser(c.Request().Context(), queries.TokenGetForUserParams{ID: id, UserID: h.currentUser(c).ID})
	if err != nil {
		return err
	}
	return apiOK(c, toAPIToken(row, time.Now()))
}

// apiTokenCreate is POST /api/token/. The new key is in data.key, this once:
// only its hash is stored.
func (h *Handler) apiTokenCreate(c echo.Context) error {
	body, err := apiReadBody(c)
	if err != nil {
		return err
	}
	var in tokenInput
	if err := apiUnmarshal(body, &in); err != nil {
		return err
	}
	row, key, err := h.createToken(c.Request().Context(), h.currentUser(c).ID, in)
	if err != nil {
		return err
	}
	h.apiReload(c, state.KindTokens, row.ID)
	out := toAPIToken(row, time.Now())
	out.Key = key
	return apiOKSecret(c, out)
}

// createToken validates in and issues a new enabled token for userID. The
// full key is returned this once; only its hash and prefix are stored. The
// console's form and the JSON API both create through here; a validation
// failure comes back as invalidField's error.
func (h *Handler) createToken(ctx context.Context, userID int64, in tokenInput) (queries.Token, string, error) {
	expires, err := in.validate()
	if err != nil {
		return queries.Token{}, "", err
	}
	if err := checkEnable(expires, time.Now()); err != nil {
		return queries.Token{}, "", err
	}
	var quota int64
	if in.RemainQuota != nil {
		quota = *in.RemainQuota
	}
	limits, field, msg := in.limitInput.over(limitFields{})
	if field != "" {
		return queries.Token{}, "", invalidField(field, "%s", msg)
	}
	key := keys.NewAPIKey()
	var row queries.Token
	err = queries.InTx(ctx, h.pool, func(q *queries.Queries) error {
		created, err := q.TokenCreate(ctx, queries.TokenCreateParams{
			UserID: userID, Name: in.Name, KeyHash: keys.Hash(key), KeyPrefix: keys.Prefix(key),
			Status: statusEnabled, ExpiresAt: expires, RemainQuota: quota, UnlimitedQuota: in.UnlimitedQuota,
			Models: in.Models, Subnet: in.Subnet, Prompts: in.Prompts, PromptsOnly: in.PromptsOnly,
		})
		if err != nil {
			return err
		}
		row, err = setTokenLimits(ctx, q, created.ID, limits)
		return err
	})
	if err != nil {
		return queries.Token{}, "", fmt.Errorf("create token for user %d: %w", userID, err)
	}
	return row, key, nil
}

// apiTokenUpdate is PUT /api/token/ with the token's id in the body. With
// ?status_only=true only the status changes (One API's enable/disable
// switch). Otherwise the fields the body names change and the others keep
// their values; status changes when given as 1 or 2. Enabling a token whose
// expiry is past is refused.
func (h *Handler) apiTokenUpdate(c echo.Context) error {
	body, err := apiReadBody(c)
	if err != nil {
		return err
	}
	var ref struct {
		ID int64 `json:"id"`
	}
	if err := apiUnmarshal(body, &ref); err != nil {
		return err
	}
	if ref.ID <= 0 {
		return apiInvalid("id is required")
	}
	statusOnly := c.QueryParam("status_only") != "" && c.QueryParam("status_only") != "false"
	updated, err := h.updateToken(c.Request().Context(), h.currentUser(c).ID, ref.ID, statusOnly, func(in *tokenInput) error {
		return apiUnmarshal(body, in)
	})
	if err != nil {
		return err
	}
	h.apiReload(c, state.KindTokens, updated.ID)
	return apiOK(c, toAPIToken(updated, time.Now()))
}

// updateToken is the read-modify-write of one of userID's tokens: the stored
// token, locked, becomes an input that apply changes (the JSON API decodes a
// body over it, the console sets the form's fields or the status). With
// statusOnly only the status changes. Otherwise every field is validated and
// saved; the status changes when given as 1 or 2, and enabling a token whose
// expiry is past is refused. Another user's token is not found.
func (h *Handler) updateToken(ctx context.Context, userID, id int64, statusOnly bool, apply func(*tokenInput) error) (queries.Token, error) {
	now := time.Now()
	var updated queries.Token
	err := queries.InTx(ctx, h.pool, func(q *queries.Queries) error {
		// A node's quota lease on the token goes back first (before the
		// token's row lock, in settlement's lock order): a lease returned
		// after an absolute edit would raise the value set.
		var returned int64
		if !statusOnly {
			var err error
			if returned, err = q.LeaseRevoke(ctx, queries.LeaseRevokeParams{UserID: userID, TokenID: pgtype.Int8{Int64: id, Valid: true}}); err != nil {
				return err
			}
		}
		// The row lock holds back quota reservations for the moment of the
		// update, so remain_quota written back is still the current one.
		cur, err := q.TokenGetForUserForUpdate(ctx, queries.TokenGetForUserForUpdateParams{ID: id, UserID: userID})
		if err != nil {
			return err
		}
		in := tokenInputFrom(cur)
		if err := apply(&in); err != nil {
			return err
		}
		if in.RemainQuota != nil && returned != 0 && *in.RemainQuota == cur.RemainQuota-returned {
			in.RemainQuota = nil // the balance the client saw, sent back: keep the live one
		}
		p := queries.TokenUpdateParams{
			ID: cur.ID, UserID: userID, Name: cur.Name, Status: cur.Status, ExpiresAt: cur.ExpiresAt,
			RemainQuota: cur.RemainQuota, UnlimitedQuota: cur.UnlimitedQuota, Models: cur.Models, Subnet: cur.Subnet,
			Prompts: cur.Prompts, PromptsOnly: cur.PromptsOnly,
		}
		if statusOnly {
			if in.Status != statusEnabled && in.Status != statusDisabled {
				return apiInvalid("status must be 1 (enabled) or 2 (disabled)")
			}
		} else {
			expires, err := in.validate()
			if err != nil {
				return err
			}
			p.Name, p.ExpiresAt, p.UnlimitedQuota, p.Models, p.Subnet = in.Name, expires, in.UnlimitedQuota, in.Models, in.Subnet
			p.Prompts, p.PromptsOnly = in.Prompts, in.PromptsOnly
			if in.RemainQuota != nil {
				p.RemainQuota = *in.RemainQuota
			}
		}
		if in.Status == statusEnabled {
			if err := checkEnable(p.ExpiresAt, now); err != nil {
				return err
			}
		}
		if in.Status == statusEnabled || in.Status == statusDisabled {
			p.Status = in.Status
		}
		if updated, err = q.TokenUpdate(ctx, p); err != nil || statusOnly {
			return err
		}
		limits, field, msg := in.limitInput.over(tokenLimitFields(cur))
		if field != "" {
			return invalidField(field, "%s", msg)
		}
		updated, err = setTokenLimits(ctx, q, cur.ID, limits)
		return err
	})
	return updated, err
}

// apiTokenDelete is DELETE /api/token/:id (the caller's own tokens only).
func (h *Handler) apiTokenDelete(c echo.Context) error {
	id, err := apiPathID(c)
	if err != nil {
		return err
	}
	n, err := h.q.TokenDelete(c.Request().Context(), queries.TokenDeleteParams{ID: id, UserID: h.currentUser(c).ID})
	if err != nil {
		return err
	}
	if n == 0 {
		return echo.NewHTTPError(http.StatusNotFound, "token not found")
	}
	h.apiReload(c, state.KindTokens, id)
	return apiOK(c, nil)
}

// accessTokenLength is the length of a personal access token. One API's are
// UUIDs without the sk- prefix of API keys; ours are random characters,
// also without it, so the two kinds are never confused.
const accessTokenLength = 32

// apiAccessTokenRegenerate is GET /api/user/token: a new personal access
// token for /api replaces the caller's old one, and is in data this once.
// It is a GET because One API's is; refuseCrossSite on its route keeps a
// link on another site from triggering it.
func (h *Handler) apiAccessTokenRegenerate(c echo.Context) error {
	u := h.currentUser(c)
	tok := keys.Random(accessTokenLength)
	if err := h.q.UserSetAccessToken(c.Request().Context(), queries.UserSetAccessTokenParams{
		ID: u.ID, AccessTokenHash: keys.Hash(tok), AccessTokenPrefix: keys.Prefix(tok),
	}); err != nil {
		return err
	}
	h.apiReload(c, state.KindUsers, u.ID)
	return apiOKSecret(c, tok)
}
