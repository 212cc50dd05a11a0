package oneapiimport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"oneapi/state"
	"sort"
	"strconv"
	"strings"

	"oneapi/keys"
	"oneapi/queries"
	"oneapi/relay/adaptor"
)

func (im *importer) readTokens(ctx context.Context) error {
	t, err := im.src.open(ctx, "tokens", "id")
	if err != nil {
		return err
	}
	defer t.close()
	rc := im.rep.count("tokens")
	seen := map[[32]byte]int64{}
	for t.next() {
		rc.Read++
		if err := t.scan(); err != nil {
			return err
		}
		id, err := t.int("id", 0)
		if err != nil {
			return rowError("tokens", int64(rc.Read), err)
		}
		if err := im.readToken(t, id, rc, seen); err != nil {
			return rowError("tokens", id, err)
		}
	}
	return t.err()
}

func (im *importer) readToken(t *table, id int64, rc *TableCount, seen map[[32]byte]int64) error {
	name := t.str("name", "")
	label := fmt.Sprintf("#%d %s", id, name)
	userID, err := t.int("user_id", 0)
	if err != nil {
		return err
	}
	if im.imported["tokens"][id] {
		rc.Already++
		return nil
	}
	if im.targetIDs["tokens"][id] {
		return fmt.Errorf("id %d is already used in the target by a token not imported from One API: ids are kept, so this token cannot be added", id)
	}
	key := t.str("key", "")
	// One API shows a key as "sk-" + the stored value and accepts it with or
	// without the prefix, and with "-CHANNELID" after it; the relay here
	// takes the same forms and hashes what is left after "sk-" and the
	// channel suffix. So the stored value is the key, whatever it looks like.
	switch {
	case key == "":
		im.rep.skip("tokens", label, "empty key")
		return nil
	case strings.ContainsAny(key, "- \t\r\n"):
		// One API splits the key on '-' too: a key containing one never
		// authenticated there either.
		im.rep.skip("tokens", label, "the key contains '-' or a space, so no client could use it (One API cut it at the '-' too)")
		return nil
	case !im.userIDs[userID]:
		im.rep.skip("tokens", label, "its user #%d does not exist in One API", userID)
		return nil
	}
	hash := keys.Hash("sk-" + key)
	h := [32]byte(hash)
	if other, dup := seen[h]; dup {
		return fmt.Errorf("same key as token #%d", other)
	}
	if other, dup := im.targetTokens[h]; dup {
		return fmt.Errorf("the same key is already token #%d in the target, which was not imported from One API", other)
	}
	seen[h] = id
	tok := queries.TokenImportParams{
		ID: id, UserID: userID, Name: name, KeyHash: hash, KeyPrefix: keys.Prefix("sk-" + key),
		Models: strings.TrimSpace(t.str("models", "")), Subnet: strings.TrimSpace(t.str("subnet", "")), CreatedAt: im.now,
	}
	status, err := t.int("status", statusEnabled)
	if err != nil {
		return err
	}
	expires, err := t.int("expired_time", -1)
	if err != nil {
		return err
	}
	if tok.RemainQuota, err = t.int("remain_quota", 0); err != nil {
		return err
	}
	if tok.UnlimitedQuota, err = t.bool("unlimited_quota"); err != nil {
		return err
	}
	if tok.UsedQuota, err = t.int("used_quota", 0); err != nil {
		return err
	}
	created, err := t.int("created_time", 0)
	if err != nil {
		return err
	}
	tok.CreatedAt = unixOr(created, im.now)
	accessed, err := t.int("accessed_time", 0)
	if err != nil {
		return err
	}
	tok.AccessedAt = unix(accessed)
	if expires != -1 {
		tok.ExpiresAt = unix(expires)
		if tok.ExpiresAt == nil { // 0 or another negative number: One API compares it and finds it past
			tok.ExpiresAt = unix(1)
		}
	}
	expiredNow := tok.ExpiresAt != nil && tok.ExpiresAt.Before(im.now)
	exhaustedNow := !tok.UnlimitedQuota && tok.RemainQuota <= 0
	// One API stores "expired" (3) and "exhausted" (4) as statuses; here
	// both follow from the expiry and the remaining quota, so a key still
	// gets the same refusal (token_expired, token_quota_exhausted). A token
	// whose status says so though its expiry or quota no longer does was
	// still refused by One API: it stays refused, as disabled.
	switch status {
	case statusEnabled, statusDisabled:
		tok.Status = int16(status)
	case tokenExpired:
		tok.Status = statusEnabled
		if !expiredNow {
			tok.Status = statusDisabled
			im.rep.changed("tokens", label, "marked expired in One API though its expiry is not past: imported disabled (One API refused it too); enable it in the console to use it")
		}
	case tokenExhausted:
		tok.Status = statusEnabled
		if !exhaustedNow {
			tok.Status = statusDisabled
			im.rep.changed("tokens", label, "marked exhausted in One API though it has quota left: imported disabled (One API refused it too); enable it in the console to use it")
		}
	default:
		return fmt.Errorf("status %d is not One API's 1 to 4", status)
	}
	im.tokens = append(im.tokens, tok)
	im.addTokenName(userID, name, id)
	rc.Imported++
	return nil
}

func (im *importer) readChannels(ctx context.Context) error {
	t, err := im.src.open(ctx, "channels", "id")
	if err != nil {
		return err
	}
	defer t.close()
	rc := im.rep.count("channels")
	for t.next() {
		rc.Read++
		if err := t.scan(); err != nil {
			return err
		}
		id, err := t.int("id", 0)
		if err != nil {
			return rowError("channels", int64(rc.Read), err)
		}
		if err := im.readChannel(t, id, rc); err != nil {
			return rowError("channels", id, err)
		}
	}
	return t.err()
}

// channelOtherKey is where One API reads the legacy `other` column of a
// channel type (middleware/distributor.go): the setting it stood for
// before `config` existed.
var channelOtherKey = map[int]string{
	adaptor.TypeAzure:          "api_version",
	adaptor.TypeXunfei:         "api_version",
	adaptor.TypeGemini:         "api_version",
	adaptor.TypeAIProxyLibrary: "library_id",
	adaptor.TypeAli:            "plugin",
}

func (im *importer) readChannel(t *table, id int64, rc *TableCount) error {
	name := t.str("name", "")
	label := fmt.Sprintf("#%d %s", id, name)
	if im.imported["channels"][id] {
		rc.Already++
		return nil
	}
	if im.targetIDs["channels"][id] {
		return fmt.Errorf("id %d is already used in the target by a channel not imported from One API: ids are kept (sk-KEY-%d pins this channel), so it cannot be added", id, id)
	}
	typ, err := t.int("type", 0)
	if err != nil {
		return err
	}
	status, err := t.int("status", statusEnabled)
	if err != nil {
		return err
	}
	c := queries.ChannelImportParams{
		ID: id, Type: int32(typ), Name: name,
		BaseURL: strings.TrimSpace(t.str("base_url", "")), Models: t.str("models", ""),
		Groups: t.str("group", "default"), SystemPrompt: t.str("system_prompt", ""),
		TestModel: t.str("test_model", ""), CreatedAt: im.now,
	}
	if strings.TrimSpace(c.Groups) == "" {
		c.Groups = "default"
	}
	key := t.str("key", "")
	c.KeyCiphertext, c.KeyHint = im.opts.Cipher.Seal(key), keys.Hint(key)
	switch status {
	case statusEnabled, statusDisabled, 3:
		c.Status = int16(status)
	default:
		c.Status = statusDisabled
		im.rep.changed("channels", label, "status %d is none of One API's 1 to 3: imported disabled", status)
	}
	if c.Priority, err = t.int("priority", 0); err != nil {
		return err
	}
	weight, err := t.int("weight", 0)
	if err != nil {
		return err
	}
	c.Weight = int32(min(max(weight, 0), 1<<31-1))
	if c.UsedQuota, err = t.int("used_quota", 0); err != nil {
		return err
	}
	if c.Balance, err = t.float("balance"); err != nil {
		return err
	}
	var rt, tt, bt, ct int64
	for _, f := range []struct {
		col string
		v   *int64
	}{{"response_time", &rt}, {"test_time", &tt}, {"balance_updated_time", &bt}, {"created_time", &ct}} {
		if *f.v, err = t.int(f.col, 0); err != nil {
			return err
		}
	}
	c.ResponseTimeMs = int32(min(max(rt, 0), 1<<31-1))
	c.TestTime, c.BalanceUpdatedAt, c.CreatedAt = unix(tt), unix(bt), unixOr(ct, im.now)

	if c.ModelMapping, err = modelMapping(t.str("model_mapping", "")); err != nil {
		return &fieldError{"model_mapping", err}
	}
	cfg, err := channelConfig(t.str("config", ""))
	if err != nil {
		return &fieldError{"config", err}
	}
	if other := strings.TrimSpace(t.str("other", "")); other != "" {
		if k, ok := channelOtherKey[int(typ)]; ok {
			if cfg[k] == "" {
				cfg[k] = other
			}
		} else {
			im.rep.notCarried("channels", label, "the legacy `other` value %q means nothing for this channel type", clip(other))
		}
	}
	if len(cfg) > 0 {
		b, _ := json.Marshal(cfg)                              // keys sorted
		c.Config = state.SealConfig(im.opts.Cipher, string(b)) // its secrets, as keys are
	}

	tp, known := adaptor.TypeByID(int(typ))
	switch {
	case !known:
		im.rep.NotServed = append(im.rep.NotServed, Note{"channels", label, fmt.Sprintf("type %d is unknown to this version", typ)})
	case adaptor.For(int(typ)) == nil:
		im.rep.NotServed = append(im.rep.NotServed, Note{"channels", label, fmt.Sprintf("type %d (%s)", typ, tp.Name)})
	}

	// One API v0.6 keeps no reason for a disabled channel (it mails root);
	// forks keep one in other_info. Either way the console's logs say how
	// the channel came to be disabled.
	if c.Status != statusEnabled {
		why := "disabled by hand in One API"
		if c.Status == 3 {
			why = "disabled automatically by One API"
		}
		if info := t.str("other_info", ""); info != "" {
			var oi struct {
				Reason string `json:"status_reason"`
			}
			if json.Unmarshal([]byte(info), &oi) == nil && oi.Reason != "" {
				why += ": " + oi.Reason
			}
		}
		im.channelLogs = append(im.channelLogs, queries.LogInsertParams{
			Type: logTypeSystem, ChannelID: id,
			Content: fmt.Sprintf("channel %d imported from One API as disabled (%s)", id, why),
		})
	}
	im.channels = append(im.channels, c)
	rc.Imported++
	return nil
}

const logTypeSystem = 4

// modelMapping checks One API's model_mapping: a JSON object of model to
// model. The routing state would skip a channel whose mapping it cannot
// read, so a broken one stops the import rather than the channel.
func modelMapping(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "{}" || s == "null" {
		return "", nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return "", fmt.Errorf("not a JSON object of model names (%v): fix it in One API, or clear it, and import again", err)
	}
	b, _ := json.Marshal(m)
	return string(b), nil
}

// channelConfig reads One API's config column (region, ak, sk, user_id,
// api_version, library_id, plugin, vertex_ai_project_id, ...), a JSON
// object of strings, into the same map this gateway keeps.
func channelConfig(s string) (map[string]string, error) {
	out := map[string]string{}
	s = strings.TrimSpace(s)
	if s == "" || s == "{}" || s == "null" {
		return out, nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("not a JSON object (%v): fix it in One API, or clear it, and import again", err)
	}
	for k, v := range m {
		switch v := v.(type) {
		case nil:
		case string:
			if v != "" {
				out[k] = v
			}
		case float64:
			out[k] = strconv.FormatFloat(v, 'f', -1, 64)
		case bool:
			out[k] = strconv.FormatBool(v)
		default:
			b, _ := json.Marshal(v)
			out[k] = string(b)
		}
	}
	return out, nil
}

func (im *importer) readRedemptions(ctx context.Context) error {
	rc := im.rep.count("redemptions")
	if !im.src.tables["redemptions"] {
		return nil
	}
	t, err := im.src.open(ctx, "redemptions", "id")
	if err != nil {
		return err
	}
	defer t.close()
	seen := map[[32]byte]int64{}
	for t.next() {
		rc.Read++
		if err := t.scan(); err != nil {
			return err
		}
		id, err := t.int("id", 0)
		if err != nil {
			return rowError("redemptions", int64(rc.Read), err)
		}
		if err := im.readRedemption(t, id, rc, seen); err != nil {
			return rowError("redemptions", id, err)
		}
	}
	return t.err()
}

func (im *importer) readRedemption(t *table, id int64, rc *TableCount, seen map[[32]byte]int64) error {
	name := t.str("name", "")
	label := fmt.Sprintf("#%d %s", id, name)
	if im.imported["redemptions"][id] {
		rc.Already++
		return nil
	}
	if im.targetIDs["redemptions"][id] {
		return fmt.Errorf("id %d is already used in the target by a redemption code not imported from One API", id)
	}
	code := strings.TrimSpace(t.str("key", ""))
	if code == "" {
		im.rep.skip("redemptions", label, "empty code")
		return nil
	}
	// Stored as this gateway stores its own codes: the hash, and a prefix
	// to recognise it by. The code redeems as before, once.
	hash := keys.Hash(code)
	h := [32]byte(hash)
	if other, dup := seen[h]; dup {
		return fmt.Errorf("same code as redemption #%d", other)
	}
	if other, dup := im.targetCodes[h]; dup {
		return fmt.Errorf("the same code is already redemption #%d in the target, which was not imported from One API", other)
	}
	seen[h] = id
	r := queries.RedemptionImportParams{ID: id, Name: name, CodeHash: hash, CodePrefix: strings.TrimPrefix(keys.Prefix(code), "sk-")}
	status, err := t.int("status", statusEnabled)
	if err != nil {
		return err
	}
	switch status {
	case statusEnabled, statusDisabled, 3:
		r.Status = int16(status)
	default:
		return fmt.Errorf("status %d is not One API's 1 (unused), 2 (disabled) or 3 (used)", status)
	}
	if r.Quota, err = t.int("quota", 100); err != nil {
		return err
	}
	creator, err := t.int("user_id", 0)
	if err != nil {
		return err
	}
	r.UserID = creator
	if !im.userIDs[creator] {
		if im.rootID == 0 {
			return errors.New("its creator does not exist and there is no root user to give it to")
		}
		r.UserID = im.rootID
		im.rep.changed("redemptions", label, "creator #%d does not exist in One API: recorded as created by root (#%d)", creator, im.rootID)
	}
	created, err := t.int("created_time", 0)
	if err != nil {
		return err
	}
	redeemed, err := t.int("redeemed_time", 0)
	if err != nil {
		return err
	}
	r.CreatedAt, r.RedeemedAt = unixOr(created, im.now), unix(redeemed)
	if r.Status == 3 && r.RedeemedAt == nil {
		r.RedeemedAt = &r.CreatedAt
	}
	im.redemptions = append(im.redemptions, r)
	rc.Imported++
	return nil
}

// sortedKeys returns m's keys in order, for stable reports.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
