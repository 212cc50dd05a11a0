package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"oneapi/keys"
	"oneapi/queries"
)

// apiUser is One API's user JSON. It never carries the password hash, the
// access token or anything derived from them.
type apiUser struct {
	ID           int64  `json:"id"`
	Username     string `json:"username"`
	DisplayName  string `json:"display_name"`
	Role         int16  `json:"role"`
	Status       int16  `json:"status"`
	Email        string `json:"email"`
	GitHubID     string `json:"github_id"`
	OIDCID       string `json:"oidc_id"`
	LarkID       string `json:"lark_id"`
	WeChatID     string `json:"wechat_id"`
	Group        string `json:"group"`
	Quota        int64  `json:"quota"`
	UsedQuota    int64  `json:"used_quota"`
	RequestCount int64  `json:"request_count"`
	AffCode      string `json:"aff_code"`
	InviterID    int64  `json:"inviter_id"`
	CreatedTime  int64  `json:"created_time"`
	limitFields
}

func toAPIUser(u *queries.User) apiUser {
	return apiUser{
		ID: u.ID, Username: u.Username, DisplayName: u.DisplayName, Role: u.Role, Status: u.Status,
		Email: u.Email, GitHubID: u.GitHubID.String, OIDCID: u.OIDCID.String, LarkID: u.LarkID.String,
		Group: u.GroupName, Quota: u.Quota, UsedQuota: u.UsedQuota, RequestCount: u.RequestCount,
		AffCode: u.AffCode.String, InviterID: u.InviterID.Int64, CreatedTime: u.CreatedAt.Unix(),
		limitFields: userLimitFields(*u),
	}
}

func replyData(c echo.Context, data any) error {
	return c.JSON(http.StatusOK, apiReply{Success: true, Data: data})
}

func replyMsg(c echo.Context, msg string) error {
	return c.JSON(http.StatusOK, apiReply{Success: true, Message: msg})
}

// fieldsError turns field errors into one 422 message for the API.
func fieldsError(errs map[string]string) error {
	parts := make([]string, 0, len(errs))
	for _, k := range sortedKeys(errs) {
		if k == "" {
			parts = append(parts, errs[k])
		} else {
			parts = append(parts, k+": "+errs[k])
		}
	}
	return echo.NewHTTPError(http.StatusUnprocessableEntity, strings.Join(parts, " "))
}

func bindJSON(c echo.Context, v any) error {
	if err := c.Bind(v); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "invalid request body")
	}
	return nil
}

func pathID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, echo.NewHTTPError(http.StatusNotFound, "no such user")
	}
	return id, nil
}

func (h *Handler) apiUserRegister(c echo.Context) error {
	s, err := h.loadSettings(c.Request().Context())
	if err != nil {
		return err
	}
	var r registration
	if err := bindJSON(c, &r); err != nil {
		return err
	}
	_, errs, err := h.register(c, s, r, false)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return fieldsError(errs)
	}
	return replyMsg(c, "")
}

func (h *Handler) apiUserLogin(c echo.Context) error {
	s, err := h.loadSettings(c.Request().Context())
	if err != nil {
		return err
	}
	var body struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := bindJSON(c, &body); err != nil {
		return err
	}
	u, err := h.authenticate(c, s, body.Username, body.Password)
	if err != nil {
		return err
	}
	if err := h.startSession(c, u.ID, u.PasswordHash); err != nil {
		return err
	}
	data := toAPIUser(u)
	msg := ""
	if u.MustChangePassword {
		msg = "change your password first (PUT /api/user/self)"
	}
	return c.JSON(http.StatusOK, apiReply{Success: true, Message: msg, Data: struct {
		apiUser
		MustChangePassword bool `json:"must_change_password"`
	}{data, u.MustChangePassword}})
}

func (h *Handler) apiUserLogout(c echo.Context) error {
	if err := h.endSession(c); err != nil {
		return err
	}
	return replyMsg(c, "")
}

// apiVerification mails a registration code: GET /api/verification?email=&turnstile=.
func (h *Handler) apiVerification(c echo.Context) error {
	s, err := h.loadSettings(c.Request().Context())
	if err != nil {
		return err
	}
	if err := h.checkTurnstile(c.Request().Context(), s, turnstileResponse(c), c.RealIP()); err != nil {
		return err
	}
	if err := h.sendVerificationCode(c, s, c.QueryParam("email")); err != nil {
		return err
	}
	return replyMsg(c, "")
}

// apiResetPassword mails a reset link: GET /api/reset_password?email=&turnstile=.
func (h *Handler) apiResetPassword(c echo.Context) error {
	s, err := h.loadSettings(c.Request().Context())
	if err != nil {
		return err
	}
	if err := h.sendResetLink(c, s, c.QueryParam("email")); err != nil {
		return err
	}
	return replyMsg(c, "")
}

// apiUserReset consumes a reset link as One API does: POST {email, token}
// sets a new random password and returns it once in data.
func (h *Handler) apiUserReset(c echo.Context) error {
	var body struct {
		Email string `json:"email"`
		Token string `json:"token"`
	}
	if err := bindJSON(c, &body); err != nil {
		return err
	}
	pw := keys.Random(16)
	u, err := h.resetPassword(c.Request().Context(), strings.TrimSpace(body.Email), body.Token, pw)
	if err != nil {
		return err
	}
	if u == nil {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "the reset link is wrong, already used or expired")
	}
	return replyData(c, pw)
}

func (h *Handler) apiUserSelf(c echo.Context) error {
	return replyData(c, toAPIUser(h.currentUser(c)))
}

// selfUpdate is PUT /api/user/self. Changing the password needs the current
// one (original_password) when the account has one.
type selfUpdate struct {
	DisplayName      *string `json:"display_name"`
	Email            *string `json:"email"`
	Password         string  `json:"password"`
	OriginalPassword string  `json:"original_password"`
	VerificationCode string  `json:"verification_code"`
}

func (h *Handler) apiUserSelfUpdate(c echo.Context) error {
	ctx := c.Request().Context()
	u := h.currentUser(c)
	var body selfUpdate
	if err := bindJSON(c, &body); err != nil {
		return err
	}
	if u.MustChangePassword && h.authBy(c) == authBySession && body.Password == "" {
		return echo.NewHTTPError(http.StatusForbidden, "change your password first")
	}
	if body.Password != "" {
		errs, err := h.changePassword(c, u, body.OriginalPassword, body.Password, body.Password)
		if err != nil {
			return err
		}
		if len(errs) > 0 {
			return fieldsError(errs)
		}
	}
	if body.DisplayName != nil || body.Email != nil {
		s, err := h.loadSettings(ctx)
		if err != nil {
			return err
		}
		p := profileChange{DisplayName: u.DisplayName, Email: u.Email, VerificationCode: body.VerificationCode}
		if body.DisplayName != nil {
			p.DisplayName = *body.DisplayName
		}
		if body.Email != nil {
			p.Email = *body.Email
		}
		nu, errs, err := h.updateProfile(c, s, u, p)
		if err != nil {
			return err
		}
		if len(errs) > 0 {
			return fieldsError(errs)
		}
		u = nu
	}
	return replyData(c, toAPIUser(u))
}

func (h *Handler) apiUserSelfDelete(c echo.Context) error {
	u := h.currentUser(c)
	if u.Role >= roleRoot {
		return echo.NewHTTPError(http.StatusForbidden, "root cannot delete itself")
	}
	if _, err := h.q.UserSoftDelete(c.Request().Context(), u.ID); err != nil {
		return err
	}
	if h.authBy(c) == authBySession {
		if err := h.endSession(c); err != nil {
			return err
		}
	}
	return replyMsg(c, "")
}

// apiUserAff returns the caller's invite code, creating it on first use.
func (h *Handler) apiUserAff(c echo.Context) error {
	code, err := h.affCode(c.Request().Context(), h.currentUser(c))
	if err != nil {
		return err
	}
	return replyData(c, code)
}

// apiUserTopUp redeems a code: POST {key}; data is the quota added.
func (h *Handler) apiUserTopUp(c echo.Context) error {
	var body struct {
		Key string `json:"key"`
	}
	if err := bindJSON(c, &body); err != nil {
		return err
	}
	q, err := h.redeem(c.Request().Context(), h.currentUser(c), body.Key)
	if err != nil {
		return err
	}
	return replyData(c, q)
}

const apiPageSize = 10 // One API's ItemsPerPage

func (h *Handler) apiUserList(c echo.Context) error {
	return h.apiUserListKeyword(c, "")
}

func (h *Handler) apiUserSearch(c echo.Context) error {
	return h.apiUserListKeyword(c, strings.TrimSpace(c.QueryParam("keyword")))
}

// apiUserListKeyword pages with One API's ?p= (from 0).
func (h *Handler) apiUserListKeyword(c echo.Context, keyword string) error {
	p, _ := strconv.Atoi(c.QueryParam("p"))
	if p < 0 {
		p = 0
	}
	users, err := h.q.UserList(c.Request().Context(), queries.UserListParams{Keyword: keyword, Lim: apiPageSize, Off: int32(p * apiPageSize)})
	if err != nil {
		return err
	}
	out := make([]apiUser, len(users))
	for i := range users {
		out[i] = toAPIUser(&users[i])
	}
	return replyData(c, out)
}

func (h *Handler) apiUserGet(c echo.Context) error {
	target, err := h.manageableUser(c)
	if err != nil {
		return err
	}
	return replyData(c, toAPIUser(target))
}

func (h *Handler) apiUserUsage(c echo.Context) error {
	target, err := h.manageableUser(c)
	if err != nil {
		return err
	}
	rows, err := h.q.UserUsageByModel(c.Request().Context(), target.ID)
	if err != nil {
		return err
	}
	return replyData(c, rows)
}

// manageableUser loads :id and checks the caller outranks it (root may also
// see itself).
func (h *Handler) manageableUser(c echo.Context) (*queries.User, error) {
	id, err := pathID(c)
	if err != nil {
		return nil, err
	}
	t, err := h.q.UserGetByID(c.Request().Context(), id)
	if err != nil {
		return nil, err
	}
	if err := canManage(h.currentUser(c), &t); err != nil {
		return nil, err
	}
	return &t, nil
}

func (h *Handler) apiUserCreate(c echo.Context) error {
	var in userInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	u, errs, err := h.adminCreateUser(c, in)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return fieldsError(errs)
	}
	return replyData(c, toAPIUser(u))
}

func (h *Handler) apiUserUpdate(c echo.Context) error {
	var in userInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	t, err := h.q.UserGetByID(c.Request().Context(), in.ID)
	if err != nil {
		return err
	}
	u, errs, err := h.adminUpdateUser(c, &t, in)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return fieldsError(errs)
	}
	return replyData(c, toAPIUser(u))
}

func (h *Handler) apiUserDelete(c echo.Context) error {
	t, err := h.manageableUser(c)
	if err != nil {
		return err
	}
	if err := h.manageUser(c, t, "delete"); err != nil {
		return err
	}
	return replyMsg(c, "")
}

// apiUserManage is POST {username, action}: disable, enable, delete, promote,
// demote. data is the user's new role and status, as One API replies.
func (h *Handler) apiUserManage(c echo.Context) error {
	var body struct {
		Username string `json:"username"`
		Action   string `json:"action"`
	}
	if err := bindJSON(c, &body); err != nil {
		return err
	}
	t, err := h.q.UserGetByUsername(c.Request().Context(), body.Username)
	if err != nil {
		return err
	}
	if err := h.manageUser(c, &t, body.Action); err != nil {
		return err
	}
	if body.Action == "delete" {
		return replyMsg(c, "")
	}
	nt, err := h.q.UserGetByID(c.Request().Context(), t.ID)
	if err != nil {
		return err
	}
	return replyData(c, map[string]int16{"role": nt.Role, "status": nt.Status})
}

// apiTopUp is the admin's quota grant: POST {user_id, quota}. The grant and
// its management log row, naming the admin, commit together.
func (h *Handler) apiTopUp(c echo.Context) error {
	var body struct {
		UserID int64 `json:"user_id"`
		Quota  int64 `json:"quota"`
	}
	if err := bindJSON(c, &body); err != nil {
		return err
	}
	if body.Quota == 0 {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "quota must not be zero")
	}
	ctx := c.Request().Context()
	admin := h.currentUser(c)
	// The same rule as every other user change: an admin grants quota only to
	// users below them (not to themselves, other admins or root); root to anyone.
	target, err := h.q.UserGetByID(ctx, body.UserID)
	if err != nil {
		return err
	}
	if err := canManage(admin, &target); err != nil {
		return err
	}
	var quota int64
	err = queries.InTx(ctx, h.pool, func(q *queries.Queries) error {
		r, err := q.UserAddQuota(ctx, queries.UserAddQuotaParams{ID: body.UserID, Delta: body.Quota})
		if err != nil {
			return err
		}
		quota = r.Quota
		return logQuotaChange(ctx, q, logTypeManage, body.UserID, r.Username, body.Quota,
			fmt.Sprintf("admin %s (#%d) changed the quota by %+d to %d", admin.Username, admin.ID, body.Quota, r.Quota))
	})
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return echo.NewHTTPError(http.StatusNotFound, "no such user, or the balance would go below zero")
		}
		return err
	}
	return replyData(c, quota)
}
