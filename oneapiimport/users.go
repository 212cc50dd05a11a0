package oneapiimport

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgtype"
	"golang.org/x/crypto/bcrypt"

	"oneapi/keys"
	"oneapi/queries"
)

// One API's numbers (model/user.go, model/token.go).
const (
	roleUser  = 1
	roleAdmin = 10
	roleRoot  = 100

	statusEnabled  = 1
	statusDisabled = 2
	userDeleted    = 3 // One API renames a deleted user and sets this status

	tokenExpired   = 3
	tokenExhausted = 4
)

// oneAPIDefaultPassword is what One API's root starts with.
const oneAPIDefaultPassword = "123456"

// uniques tracks values that must be unique among users here, so that a
// clash becomes a note (the later user loses the value) rather than a
// failed import: One API does not enforce them all.
type uniques struct {
	seen map[string]map[string]int64 // field -> value -> user id holding it
}

func (u *uniques) take(field, value string, id int64) (holder int64, ok bool) {
	if u.seen == nil {
		u.seen = map[string]map[string]int64{}
	}
	m := u.seen[field]
	if m == nil {
		m = map[string]int64{}
		u.seen[field] = m
	}
	if h, taken := m[value]; taken && h != id {
		return h, false
	}
	m[value] = id
	return 0, true
}

func (im *importer) readUsers(ctx context.Context) error {
	t, err := im.src.open(ctx, "users", "id")
	if err != nil {
		return err
	}
	defer t.close()
	rc := im.rep.count("users")
	var uq uniques
	usernames := map[string]int64{}
	for id, u := range im.targetUsers {
		usernames[u.Username] = id
		if u.Email != "" && u.DeletedAt == nil {
			uq.take("email", strings.ToLower(u.Email), id)
		}
		for field, v := range map[string]pgtype.Text{"GitHub id": u.GitHubID, "OIDC id": u.OIDCID, "Lark id": u.LarkID, "WeChat id": u.WeChatID, "invite code": u.AffCode} {
			if v.Valid {
				uq.take(field, v.String, id)
			}
		}
		if u.AccessTokenHash != nil {
			uq.take("access token", string(u.AccessTokenHash), id)
		}
	}
	var inviters []struct{ id, inviter int64 }
	for t.next() {
		rc.Read++
		if err := t.scan(); err != nil {
			return err
		}
		id, err := t.int("id", 0)
		if err != nil {
			return rowError("users", int64(rc.Read), err)
		}
		if err := im.readUser(t, id, rc, &uq, usernames, &inviters); err != nil {
			return rowError("users", id, err)
		}
	}
	if err := t.err(); err != nil {
		return err
	}
	// Inviters are set once every user is known: an inviter may come later.
	for _, p := range inviters {
		if !im.userIDs[p.inviter] {
			im.rep.changed("users", fmt.Sprintf("#%d", p.id), "inviter #%d does not exist in One API: no inviter kept", p.inviter)
			continue
		}
		im.inviters = append(im.inviters, queries.UserImportSetInviterParams{ID: p.id, InviterID: pgtype.Int8{Int64: p.inviter, Valid: true}})
	}
	if im.rootID == 0 {
		for _, u := range im.targetUsers {
			if u.Role >= roleRoot && (im.rootID == 0 || u.ID < im.rootID) {
				im.rootID = u.ID
			}
		}
	}
	return nil
}

func (im *importer) readUser(t *table, id int64, rc *TableCount, uq *uniques, usernames map[string]int64, inviters *[]struct{ id, inviter int64 }) error {
	name := t.str("username", "")
	label := fmt.Sprintf("#%d %s", id, name)
	role, err := t.int("role", roleUser)
	if err != nil {
		return err
	}
	status, err := t.int("status", statusEnabled)
	if err != nil {
		return err
	}
	if role >= roleRoot && status == statusEnabled && (im.rootID == 0 || id < im.rootID) {
		im.rootID = id
	}
	if im.imported["users"][id] {
		rc.Already++
		im.userIDs[id] = true
		return nil
	}
	if im.targetIDs["users"][id] {
		return fmt.Errorf("id %d is already used in the target by user %q, which was not imported from One API: ids are kept, so this user cannot be added (delete or renumber that user first)", id, im.targetUsers[id].Username)
	}
	if id <= 0 {
		return fmt.Errorf("id %d is not a valid id", id)
	}
	if strings.TrimSpace(name) == "" {
		return fmt.Errorf("empty username")
	}
	if other, taken := usernames[name]; taken {
		return fmt.Errorf("username %q is already used in the target by user #%d, which was not imported from One API (rename one of them first)", name, other)
	}
	usernames[name] = id
	switch role {
	case roleUser, roleAdmin, roleRoot:
	default:
		return fmt.Errorf("role %d is not One API's 1 (user), 10 (admin) or 100 (root)", role)
	}
	u := queries.UserImportParams{
		ID: id, Username: name, DisplayName: t.str("display_name", ""), Role: int16(role),
		GroupName: strings.TrimSpace(t.str("group", "default")), CreatedAt: im.now,
	}
	if u.GroupName == "" {
		u.GroupName = "default"
	}
	switch status {
	case statusEnabled, statusDisabled:
		u.Status = int16(status)
	case userDeleted:
		u.Status, u.DeletedAt = statusDisabled, &im.now
	default:
		return fmt.Errorf("status %d is not One API's 1 (enabled), 2 (disabled) or 3 (deleted)", status)
	}
	// Older versions soft-delete with GORM's deleted_at instead.
	if deleted, err := t.time("deleted_at"); err != nil {
		return err
	} else if deleted != nil {
		u.Status, u.DeletedAt = statusDisabled, deleted
	}
	if created, err := t.time("created_at"); err != nil {
		return err
	} else if created != nil {
		u.CreatedAt = *created
	}
	if u.Quota, err = t.int("quota", 0); err != nil {
		return err
	}
	if u.UsedQuota, err = t.int("used_quota", 0); err != nil {
		return err
	}
	if u.RequestCount, err = t.int("request_count", 0); err != nil {
		return err
	}

	// One API hashes passwords with bcrypt (golang.org/x/crypto), as this
	// gateway does: the hash verifies here unchanged.
	hash := t.str("password", "")
	switch _, err := bcrypt.Cost([]byte(hash)); {
	case hash == "":
		// No password (an account made through GitHub, WeChat...): it signs
		// in as before, through its provider.
	case err != nil:
		im.rep.changed("users", label, "password is not a bcrypt hash, so it cannot be checked: password sign-in is off for this user until a reset")
		hash = ""
	case role >= roleRoot && bcrypt.CompareHashAndPassword([]byte(hash), []byte(oneAPIDefaultPassword)) == nil:
		u.MustChangePassword = true
		im.rep.changed("users", label, "still has One API's default password 123456: must choose a new one at the next sign-in")
	}
	u.PasswordHash = hash

	live := u.DeletedAt == nil
	if email := strings.TrimSpace(t.str("email", "")); email != "" && live {
		if holder, ok := uq.take("email", strings.ToLower(email), id); ok {
			u.Email = email
		} else {
			im.rep.changed("users", label, "email %s is also user #%d's: left empty here, where an address belongs to one account (sign-in by email, password reset)", email, holder)
		}
	}
	// Unique identities: a clash keeps the first holder. A deleted user keeps
	// none, as this gateway's own deletion frees them.
	ident := func(field, col string) pgtype.Text {
		v := strings.TrimSpace(t.str(col, ""))
		if v == "" || !live {
			return pgtype.Text{}
		}
		if holder, ok := uq.take(field, v, id); !ok {
			im.rep.changed("users", label, "%s %q is also user #%d's: not kept for this user", field, v, holder)
			return pgtype.Text{}
		}
		return pgtype.Text{String: v, Valid: true}
	}
	u.GitHubID = ident("GitHub id", "github_id")
	u.OIDCID = ident("OIDC id", "oidc_id")
	u.LarkID = ident("Lark id", "lark_id")
	u.WeChatID = ident("WeChat id", "wechat_id")
	if aff := strings.TrimSpace(t.str("aff_code", "")); aff != "" {
		if holder, ok := uq.take("invite code", aff, id); ok {
			u.AffCode = pgtype.Text{String: aff, Valid: true}
		} else {
			im.rep.changed("users", label, "invite code %q is also user #%d's: a new one is made when this user asks for an invite link", aff, holder)
		}
	}
	// The access token of the management API: One API keeps it in plain
	// text, this gateway only its hash, as for every other secret.
	if at := strings.TrimSpace(t.str("access_token", "")); at != "" && live {
		h := keys.Hash(at)
		if holder, ok := uq.take("access token", string(h), id); ok {
			u.AccessTokenHash, u.AccessTokenPrefix = h, keys.Prefix(at)
		} else {
			im.rep.changed("users", label, "access token is also user #%d's: not kept for this user", holder)
		}
	}
	if inviter, err := t.int("inviter_id", 0); err != nil {
		return err
	} else if inviter > 0 {
		*inviters = append(*inviters, struct{ id, inviter int64 }{id, inviter})
	}
	im.users = append(im.users, u)
	im.userIDs[id] = true
	rc.Imported++
	return nil
}
