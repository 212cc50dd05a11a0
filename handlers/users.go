package handlers

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"oneapi/queries"
	"oneapi/views"
)

// Admin user management: list and search, create, edit, disable/enable,
// soft delete, usage summary. The rules live here once and serve both the
// console and /api/user.

const usersPageSize = 20

// userInput is an admin's create or edit, from a form or One API's JSON.
// Zero role/status mean "unchanged" (edit) or the defaults (create).
type userInput struct {
	ID          int64  `json:"id"`
	Username    string `json:"username"`
	DisplayName string `json:"display_name"`
	Password    string `json:"password"`
	Email       string `json:"email"`
	Group       string `json:"group"`
	Quota       *int64 `json:"quota"`
	Role        int16  `json:"role"`
	Status      int16  `json:"status"`
	// QuotaWas is the quota the edit form showed (its hidden quota_was). A
	// submitted quota equal to it is no change, so the balance the user has
	// spent since the form was opened is not written back.
	QuotaWas *int64 `json:"-"`
	limitInput
}

// canManage: admins manage only users below their own role; root manages
// everyone, itself included.
func canManage(me, target *queries.User) error {
	if me.Role >= roleRoot || me.Role > target.Role {
		return nil
	}
	return echo.NewHTTPError(http.StatusForbidden, "You cannot manage a user whose role is the same as or higher than yours.")
}

// checkRole: roles are given up to one's own: an admin makes users, root
// makes users and admins. Nobody makes a second root.
func checkRole(me *queries.User, role int16) string {
	switch role {
	case roleUser, roleAdmin:
	default:
		return "Role must be 1 (user) or 10 (admin)."
	}
	if role >= me.Role && me.Role < roleRoot {
		return "You can only give roles below your own."
	}
	return ""
}

func (h *Handler) validateUserInput(in *userInput, creating bool) map[string]string {
	errs := map[string]string{}
	in.Username = strings.TrimSpace(in.Username)
	in.DisplayName = strings.TrimSpace(in.DisplayName)
	in.Group = strings.TrimSpace(in.Group)
	if m := validateUsername(in.Username); m != "" {
		errs["username"] = m
	}
	if m := validateDisplayName(in.DisplayName); m != "" {
		errs["display_name"] = m
	}
	if in.Password != "" || creating {
		if m := validatePassword(in.Password); m != "" {
			errs["password"] = m
		}
	}
	email, m := normalizeEmail(in.Email)
	if m != "" {
		errs["email"] = m
	}
	in.Email = email
	if in.Group == "" {
		in.Group = "default"
	}
	if len(in.Group) > 64 {
		errs["group"] = "Use at most 64 characters."
	}
	if in.Quota != nil && *in.Quota < 0 {
		errs["quota"] = "Quota cannot be negative."
	}
	if in.Status != 0 && in.Status != statusEnabled && in.Status != statusDisabled {
		errs["status"] = "Status must be 1 (enabled) or 2 (disabled)."
	}
	return errs
}

// adminCreateUser creates a user on an admin's behalf.
func (h *Handler) adminCreateUser(c echo.Context, in userInput) (*queries.User, map[string]string, error) {
	ctx := c.Request().Context()
	me := h.currentUser(c)
	errs := h.validateUserInput(&in, true)
	if in.Role == 0 {
		in.Role = roleUser
	}
	if m := checkRole(me, in.Role); m != "" {
		errs["role"] = m
	}
	if in.Status == 0 {
		in.Status = statusEnabled
	}
	if len(errs) > 0 {
		return nil, errs, nil
	}
	if taken, err := h.q.UserNameTaken(ctx, in.Username); err != nil {
		return nil, nil, err
	} else if taken {
		return nil, map[string]string{"username": "That username is taken."}, nil
	}
	hash, err := hashPassword(in.Password)
	if err != nil {
		return nil, nil, err
	}
	if in.DisplayName == "" {
		in.DisplayName = in.Username
	}
	var quota int64
	if in.Quota != nil {
		quota = *in.Quota
	}
	limits, field, msg := in.limitInput.over(limitFields{})
	if field != "" {
		return nil, map[string]string{field: msg}, nil
	}
	var u queries.User
	err = queries.InTx(ctx, h.pool, func(q *queries.Queries) error {
		var err error
		u, err = q.UserInsert(ctx, queries.UserInsertParams{
			Username: in.Username, PasswordHash: hash, DisplayName: in.DisplayName, Email: in.Email,
			Role: in.Role, Status: in.Status, GroupName: in.Group, Quota: quota,
		})
		if err != nil {
			return err
		}
		if u, err = setUserLimits(ctx, q, u.ID, limits); err != nil || quota == 0 {
			return err
		}
		return logQuotaChange(ctx, q, logTypeManage, u.ID, u.Username, quota,
			fmt.Sprintf("admin %s (#%d) created the user with quota %d", me.Username, me.ID, quota))
	})
	if queries.IsUniqueViolation(err) {
		return nil, map[string]string{"username": "That username or email is taken."}, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("create user %q: %w", in.Username, err)
	}
	return &u, nil, nil
}

// adminUpdateUser applies an admin's edit to target.
func (h *Handler) adminUpdateUser(c echo.Context, target *queries.User, in userInput) (*queries.User, map[string]string, error) {
	ctx := c.Request().Context()
	me := h.currentUser(c)
	if err := canManage(me, target); err != nil {
		return nil, nil, err
	}
	errs := h.validateUserInput(&in, false)
	if in.Role == 0 {
		in.Role = target.Role
	}
	if in.Status == 0 {
		in.Status = target.Status
	}
	if in.Quota != nil && in.QuotaWas != nil && *in.Quota == *in.QuotaWas {
		in.Quota = nil // the form's value, unchanged: keep whatever the balance is now
	}
	if target.Role >= roleRoot {
		// Root stays root and enabled: the instance must keep an owner.
		if in.Role != target.Role || in.Status != statusEnabled {
			errs["role"] = "The root user's role and status cannot change."
		}
	} else if in.Role != target.Role {
		if m := checkRole(me, in.Role); m != "" {
			errs["role"] = m
		}
	}
	if target.ID == me.ID && in.Status != statusEnabled {
		errs["status"] = "You cannot disable yourself."
	}
	if len(errs) > 0 {
		return nil, errs, nil
	}
	if in.Username != target.Username {
		if taken, err := h.q.UserNameTaken(ctx, in.Username); err != nil {
			return nil, nil, err
		} else if taken {
			return nil, map[string]string{"username": "That username is taken."}, nil
		}
	}
	var hash string
	if in.Password != "" {
		var err error
		if hash, err = hashPassword(in.Password); err != nil {
			return nil, nil, err
		}
	}
	if in.DisplayName == "" {
		in.DisplayName = in.Username
	}
	limits, field, msg := in.limitInput.over(userLimitFields(*target))
	if field != "" {
		return nil, map[string]string{field: msg}, nil
	}
	var u queries.User
	err := queries.InTx(ctx, h.pool, func(q *queries.Queries) error {
		// Quota leases of the user's tokens go back first (before the row
		// lock, in settlement's lock order): a lease returned after an
		// absolute edit would raise the value set.
		var returned int64
		if in.Quota != nil {
			var err error
			if returned, err = q.LeaseRevoke(ctx, queries.LeaseRevokeParams{UserID: target.ID}); err != nil {
				return err
			}
		}
		// The quota is compared under the row lock: a reservation between
		// reading it and writing it would otherwise be undone.
		was, err := q.UserLockQuota(ctx, target.ID)
		if err != nil {
			return err
		}
		quota := was
		if in.Quota != nil && (returned == 0 || *in.Quota != was-returned) {
			quota = *in.Quota // else: the balance the client saw, sent back: keep the live one
		}
		u, err = q.UserUpdate(ctx, queries.UserUpdateParams{
			ID: target.ID, Username: in.Username, DisplayName: in.DisplayName, Email: in.Email,
			GroupName: in.Group, Quota: quota, Role: in.Role, Status: in.Status,
		})
		if err != nil {
			return err
		}
		if u, err = setUserLimits(ctx, q, u.ID, limits); err != nil {
			return err
		}
		if quota != was {
			err := logQuotaChange(ctx, q, logTypeManage, u.ID, u.Username, quota-was,
				fmt.Sprintf("admin %s (#%d) changed the quota from %d to %d", me.Username, me.ID, was, quota))
			if err != nil {
				return err
			}
		}
		if hash != "" {
			u.PasswordHash, u.MustChangePassword = hash, false
			return q.UserSetPassword(ctx, queries.UserSetPasswordParams{ID: u.ID, PasswordHash: hash})
		}
		return nil
	})
	if queries.IsUniqueViolation(err) {
		return nil, map[string]string{"username": "That username or email is taken."}, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("update user %d: %w", target.ID, err)
	}
	return &u, nil, nil
}

// manageUser applies One API's manage actions.
func (h *Handler) manageUser(c echo.Context, t *queries.User, action string) error {
	ctx := c.Request().Context()
	me := h.currentUser(c)
	if err := canManage(me, t); err != nil {
		return err
	}
	refuse := func(msg string) error { return echo.NewHTTPError(http.StatusUnprocessableEntity, msg) }
	var err error
	switch action {
	case "disable":
		if t.Role >= roleRoot || t.ID == me.ID {
			return refuse("The root user and yourself cannot be disabled.")
		}
		_, err = h.q.UserSetStatus(ctx, queries.UserSetStatusParams{ID: t.ID, Status: statusDisabled})
	case "enable":
		_, err = h.q.UserSetStatus(ctx, queries.UserSetStatusParams{ID: t.ID, Status: statusEnabled})
	case "delete":
		if t.Role >= roleRoot || t.ID == me.ID {
			return refuse("The root user and yourself cannot be deleted.")
		}
		_, err = h.q.UserSoftDelete(ctx, t.ID)
	case "promote":
		if me.Role < roleRoot {
			return echo.NewHTTPError(http.StatusForbidden, "Only root can promote users.")
		}
		if t.Role >= roleAdmin {
			return refuse("This user is already an admin.")
		}
		_, err = h.q.UserSetRole(ctx, queries.UserSetRoleParams{ID: t.ID, Role: roleAdmin})
	case "demote":
		if me.Role < roleRoot {
			return echo.NewHTTPError(http.StatusForbidden, "Only root can demote admins.")
		}
		if t.Role >= roleRoot {
			return refuse("The root user cannot be demoted.")
		}
		if t.Role < roleAdmin {
			return refuse("This user is already an ordinary user.")
		}
		_, err = h.q.UserSetRole(ctx, queries.UserSetRoleParams{ID: t.ID, Role: roleUser})
	default:
		return refuse("Unknown action: want disable, enable, delete, promote or demote.")
	}
	if err != nil {
		return fmt.Errorf("%s user %d: %w", action, t.ID, err)
	}
	return nil
}

// userList is the admin's user table: ?q= searches, ?p= pages (from 1).
// htmx requests aimed at #user-table get only the table.
func (h *Handler) userList(c echo.Context) error {
	ctx := c.Request().Context()
	keyword := strings.TrimSpace(c.QueryParam("q"))
	page, _ := strconv.Atoi(c.QueryParam("p"))
	if page < 1 {
		page = 1
	}
	total, err := h.q.UserListCount(ctx, keyword)
	if err != nil {
		return err
	}
	users, err := h.q.UserList(ctx, queries.UserListParams{Keyword: keyword, Lim: usersPageSize, Off: int32((page - 1) * usersPageSize)})
	if err != nil {
		return err
	}
	me := h.currentUser(c)
	v := views.UsersView{Layout: h.layout(c, "Users"), Query: keyword, Page: page, PageSize: usersPageSize, Total: total}
	for i := range users {
		uv := userView(&users[i])
		uv.Manageable = canManage(me, &users[i]) == nil && users[i].ID != me.ID
		v.Users = append(v.Users, uv)
	}
	c.Response().Header().Add("Vary", "HX-Request")
	if isHTMX(c) && c.Request().Header.Get("HX-Target") == "user-table" {
		return render(c, http.StatusOK, views.UserTable(v))
	}
	return render(c, http.StatusOK, views.UsersPage(v))
}

func (h *Handler) userNew(c echo.Context) error {
	v := views.UserFormView{Layout: h.layout(c, "New user"), IsNew: true, CanGiveAdmin: h.currentUser(c).Role >= roleRoot,
		Input: views.UserInputView{Group: "default", Role: roleUser, Status: statusEnabled}}
	return render(c, http.StatusOK, views.UserFormPage(v))
}

// userInputFromForm reads the create/edit form.
func userInputFromForm(c echo.Context) userInput {
	in := userInput{Username: c.FormValue("username"), DisplayName: c.FormValue("display_name"),
		Password: c.FormValue("password"), Email: c.FormValue("email"), Group: c.FormValue("group")}
	if q, err := strconv.ParseInt(strings.TrimSpace(c.FormValue("quota")), 10, 64); err == nil {
		in.Quota = &q
	}
	if q, err := strconv.ParseInt(c.FormValue("quota_was"), 10, 64); err == nil {
		in.QuotaWas = &q
	}
	if r, err := strconv.Atoi(c.FormValue("role")); err == nil {
		in.Role = int16(r)
	}
	if s, err := strconv.Atoi(c.FormValue("status")); err == nil {
		in.Status = int16(s)
	}
	errs := map[string]string{}
	in.limitInput, _ = limitFormInput(c, errs)
	for _, f := range []struct {
		name string
		dst  **int64
	}{{"rpm_limit", &in.RPMLimit}, {"rpd_limit", &in.RPDLimit}, {"tpm_limit", &in.TPMLimit}, {"max_concurrency", &in.MaxConcurrency}} {
		if errs[f.name] != "" {
			bad := int64(-1) // not a number: refused by validation, with the field named
			*f.dst = &bad
		}
	}
	return in
}

func inputView(in userInput) views.UserInputView {
	v := views.UserInputView{Username: in.Username, DisplayName: in.DisplayName, Email: in.Email, Group: in.Group, Role: in.Role, Status: in.Status}
	if in.Quota != nil {
		v.Quota = *in.Quota
	}
	if in.QuotaWas != nil {
		v.QuotaWas = *in.QuotaWas
	}
	l, _, _ := in.limitInput.over(limitFields{})
	v.Limits = limitsView(l)
	return v
}

func (h *Handler) userCreate(c echo.Context) error {
	in := userInputFromForm(c)
	if c.FormValue("quota") != "" && in.Quota == nil {
		return h.renderUserForm(c, nil, in, map[string]string{"quota": "Enter a whole number."})
	}
	u, errs, err := h.adminCreateUser(c, in)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return h.renderUserForm(c, nil, in, errs)
	}
	h.setFlash(c, "User "+u.Username+" created.")
	return redirect(c, "/users")
}

func (h *Handler) renderUserForm(c echo.Context, target *queries.User, in userInput, errs map[string]string) error {
	me := h.currentUser(c)
	v := views.UserFormView{Layout: h.layout(c, "User"), IsNew: target == nil, CanGiveAdmin: me.Role >= roleRoot,
		Input: inputView(in), Errors: errs}
	status := http.StatusOK
	if len(errs) > 0 {
		status = http.StatusUnprocessableEntity
	}
	if target != nil {
		if in.QuotaWas == nil {
			v.Input.QuotaWas = target.Quota
		}
		v.User = userView(target)
		v.Layout.Title = "Edit " + target.Username
		usage, err := h.q.UserUsageByModel(c.Request().Context(), target.ID)
		if err != nil {
			return err
		}
		for _, r := range usage {
			v.Usage = append(v.Usage, views.UsageRow{Model: r.ModelName, Requests: r.Requests,
				PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens, Quota: r.Quota})
		}
	}
	return render(c, status, views.UserFormPage(v))
}

// targetUser loads :id for a console action and checks the caller may manage it.
func (h *Handler) targetUser(c echo.Context) (*queries.User, error) {
	return h.manageableUser(c)
}

func (h *Handler) userEdit(c echo.Context) error {
	t, err := h.targetUser(c)
	if err != nil {
		return err
	}
	q := t.Quota
	in := userInput{Username: t.Username, DisplayName: t.DisplayName, Email: t.Email, Group: t.GroupName, Quota: &q, Role: t.Role, Status: t.Status}
	l := userLimitFields(*t)
	in.limitInput = limitInput{&l.RPMLimit, &l.RPDLimit, &l.TPMLimit, &l.MaxConcurrency, &l.ModelLimits}
	return h.renderUserForm(c, t, in, nil)
}

func (h *Handler) userUpdate(c echo.Context) error {
	t, err := h.targetUser(c)
	if err != nil {
		return err
	}
	in := userInputFromForm(c)
	if in.Quota == nil {
		return h.renderUserForm(c, t, in, map[string]string{"quota": "Enter a whole number."})
	}
	u, errs, err := h.adminUpdateUser(c, t, in)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return h.renderUserForm(c, t, in, errs)
	}
	h.setFlash(c, "User "+u.Username+" saved.")
	return redirect(c, "/users")
}

// userAction runs enable/disable/delete/promote/demote from the table. htmx
// gets the new row (or nothing, for a deleted user, so the row goes away).
func (h *Handler) userAction(action string) echo.HandlerFunc {
	return func(c echo.Context) error {
		t, err := h.targetUser(c)
		if err != nil {
			return err
		}
		if err := h.manageUser(c, t, action); err != nil {
			return err
		}
		if !isHTMX(c) {
			h.setFlash(c, fmt.Sprintf("User %s: %s done.", t.Username, action))
			return redirect(c, "/users")
		}
		if action == "delete" {
			return c.HTML(http.StatusOK, "")
		}
		nt, err := h.q.UserGetByID(c.Request().Context(), t.ID)
		if err != nil {
			return err
		}
		uv := userView(&nt)
		uv.Manageable = canManage(h.currentUser(c), &nt) == nil
		return render(c, http.StatusOK, views.UserRow(uv, h.csrfToken(c)))
	}
}
