// Package oneapiimport moves a running One API (songquanpeng/one-api, v0.6
// schema, on SQLite, MySQL or PostgreSQL) into this gateway's database: users
// with their bcrypt password hashes, tokens (whose plain keys are hashed
// here, so every key keeps working), channels (keys encrypted under
// ENCRYPTION_KEY), options, redemption codes and, on request, logs. It is
// the `oneapi import` command; the SQLite and MySQL drivers are linked for
// it alone.
//
// Everything is read and checked before the first write, and written in
// one transaction on the target: an error anywhere writes nothing and names
// the table and row. Ids are kept, as sk-KEY-CHANNELID pins a channel by id
// and logs refer to users and channels by id.
package oneapiimport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"oneapi/keys"
	"oneapi/queries"
)

// Options are the command's flags.
type Options struct {
	// From is One API's database: sqlite:///path/one-api.db,
	// mysql://user:pass@host:3306/db or postgres://user:pass@host:5432/db.
	From string
	// DryRun reads and checks everything and reports, writing nothing.
	DryRun bool
	// Logs brings the logs table too, streamed in batches.
	Logs bool
	// Merge imports into a target that already holds data: rows an earlier
	// import wrote are skipped, so running the same import twice is a no-op.
	Merge bool
	// Cipher encrypts channel keys (ENCRYPTION_KEY).
	Cipher *keys.Cipher
	// Progress, when set, gets a line per table as it is read and written,
	// and a running count while logs stream.
	Progress io.Writer
}

// ErrTargetNotEmpty is returned when the target holds data and Merge is off.
var ErrTargetNotEmpty = errors.New("the target database already holds data")

// Run imports opts.From into the database of target, which must be migrated.
// The report is returned with a nil error only; on an error nothing was
// written.
func Run(ctx context.Context, target *pgxpool.Pool, opts Options) (*Report, error) {
	if opts.Cipher == nil {
		return nil, errors.New("no encryption key: channel keys must be encrypted (ENCRYPTION_KEY)")
	}
	src, err := openSource(ctx, opts.From)
	if err != nil {
		return nil, err
	}
	defer src.db.Close()
	if err := src.checkOneAPI(); err != nil {
		return nil, err
	}
	rep := &Report{Source: src.display, DryRun: opts.DryRun, Merge: opts.Merge}
	im := &importer{src: src, opts: opts, rep: rep, q: queries.New(target), now: time.Now()}
	if err := im.loadTarget(ctx); err != nil {
		return nil, err
	}
	// Everything but the logs is read and checked before anything is written.
	for _, step := range []struct {
		name string
		fn   func(context.Context) error
	}{
		{"users", im.readUsers}, {"tokens", im.readTokens}, {"channels", im.readChannels},
		{"redemptions", im.readRedemptions}, {"options", im.readOptions},
	} {
		if err := step.fn(ctx); err != nil {
			return nil, err
		}
		im.progress("read %s: %d rows", step.name, rep.count(step.name).Read)
	}
	if opts.DryRun {
		if opts.Logs {
			// Read and check every log row, write none.
			if err := im.streamLogs(ctx, nil); err != nil {
				return nil, err
			}
		}
		return rep, nil
	}
	err = pgx.BeginFunc(ctx, target, func(tx pgx.Tx) error {
		q := queries.New(tx)
		if err := im.write(ctx, q); err != nil {
			return err
		}
		if opts.Logs {
			if err := im.streamLogs(ctx, q); err != nil {
				return err
			}
		}
		if err := q.ImportSequencesAdvance(ctx); err != nil {
			return fmt.Errorf("advance id sequences: %w", err)
		}
		return q.ImportRecord(ctx, queries.ImportRecordParams{Source: src.display, Report: rep.String(), LastLogID: im.lastLogID})
	})
	if err != nil {
		return nil, fmt.Errorf("%w (nothing was written)", err)
	}
	return rep, nil
}

// importer holds one run's state: what the target has, and the rows read.
type importer struct {
	src  *source
	opts Options
	rep  *Report
	q    *queries.Queries // the target, outside the transaction (reads only)
	now  time.Time

	// The target before the import.
	bootstrapRoot int64                      // the untouched root of a first start, replaced
	imported      map[string]map[int64]bool  // source table -> ids an earlier import wrote
	targetUsers   map[int64]queries.User     // merge: users already here
	targetTokens  map[[32]byte]int64         // key hash -> token id
	targetIDs     map[string]map[int64]bool  // table -> ids already used here
	targetCodes   map[[32]byte]int64         // redemption code hash -> id
	targetOptions map[string]bool            // option keys set here
	tokenByName   map[tokenNameKey]tokenName // (user, name) -> token id, for log rows
	lastLogID     int64

	// Rows to write.
	users       []queries.UserImportParams
	inviters    []queries.UserImportSetInviterParams
	tokens      []queries.TokenImportParams
	channels    []queries.ChannelImportParams
	channelLogs []queries.LogInsertParams
	redemptions []queries.RedemptionImportParams
	options     []queries.OptionImportParams

	userIDs map[int64]bool // users the target will have (imported now or before)
	rootID  int64          // One API's root, creator of orphaned codes
}

type tokenNameKey struct {
	user int64
	name string
}

type tokenName struct {
	id     int64
	unique bool
}

func (im *importer) progress(format string, args ...any) {
	if im.opts.Progress != nil {
		fmt.Fprintf(im.opts.Progress, format+"\n", args...)
	}
}

// loadTarget reads what the target holds and refuses a non-empty one
// unless merging.
func (im *importer) loadTarget(ctx context.Context) error {
	st, err := im.q.ImportTargetState(ctx)
	if err != nil {
		return fmt.Errorf("read the target database (is it migrated?): %w", err)
	}
	im.imported = map[string]map[int64]bool{}
	im.targetIDs = map[string]map[int64]bool{}
	im.targetUsers = map[int64]queries.User{}
	im.targetTokens = map[[32]byte]int64{}
	im.targetCodes = map[[32]byte]int64{}
	im.targetOptions = map[string]bool{}
	im.userIDs = map[int64]bool{}
	im.tokenByName = map[tokenNameKey]tokenName{}
	for _, t := range []string{"users", "tokens", "channels", "redemptions"} {
		im.imported[t] = map[int64]bool{}
		im.targetIDs[t] = map[int64]bool{}
	}

	// A first start leaves root with the default password and nothing else:
	// that is an empty target, and One API's root replaces it.
	onlyBootstrap := st.Users == 1 && st.BootstrapRoot != 0
	empty := (st.Users == 0 || onlyBootstrap) && st.Tokens == 0 && st.Channels == 0 &&
		st.Redemptions == 0 && st.Options == 0 && !st.HasLogs && st.ImportedRows == 0
	if empty {
		im.bootstrapRoot = st.BootstrapRoot
		return nil
	}
	if !im.opts.Merge {
		what := fmt.Sprintf("%d users, %d tokens, %d channels, %d redemption codes, %d options", st.Users, st.Tokens, st.Channels, st.Redemptions, st.Options)
		if st.HasLogs {
			what += " and logs"
		}
		hint := "import into a new, empty database, or add --merge to add what is not imported yet"
		if st.ImportedRows > 0 {
			hint = "it was imported into before: add --merge to bring only what is new"
		}
		return fmt.Errorf("%w (%s): %s", ErrTargetNotEmpty, what, hint)
	}
	for _, t := range []string{"users", "tokens", "channels", "redemptions"} {
		ids, err := im.q.ImportedRowIDs(ctx, t)
		if err != nil {
			return err
		}
		for _, id := range ids {
			im.imported[t][id] = true
		}
	}
	users, err := im.q.UserListAll(ctx)
	if err != nil {
		return err
	}
	for _, u := range users {
		im.targetUsers[u.ID] = u
		im.targetIDs["users"][u.ID] = true
		im.userIDs[u.ID] = true
	}
	tokens, err := im.q.TokenListAll(ctx)
	if err != nil {
		return err
	}
	for _, t := range tokens {
		im.targetTokens[[32]byte(t.KeyHash)] = t.ID
		im.targetIDs["tokens"][t.ID] = true
		im.addTokenName(t.UserID, t.Name, t.ID)
	}
	channels, err := im.q.ChannelListAll(ctx)
	if err != nil {
		return err
	}
	for _, c := range channels {
		im.targetIDs["channels"][c.ID] = true
	}
	codes, err := im.q.RedemptionCodeHashes(ctx)
	if err != nil {
		return err
	}
	for _, c := range codes {
		im.targetCodes[[32]byte(c.CodeHash)] = c.ID
		im.targetIDs["redemptions"][c.ID] = true
	}
	opts, err := im.q.OptionList(ctx)
	if err != nil {
		return err
	}
	for _, o := range opts {
		im.targetOptions[o.Key] = true
	}
	im.lastLogID, err = im.q.ImportLastLogID(ctx)
	return err
}

func (im *importer) addTokenName(user int64, name string, id int64) {
	k := tokenNameKey{user, name}
	if _, dup := im.tokenByName[k]; dup {
		im.tokenByName[k] = tokenName{}
		return
	}
	im.tokenByName[k] = tokenName{id: id, unique: true}
}

// write inserts everything read, in the caller's transaction. A failure
// names the row.
func (im *importer) write(ctx context.Context, q *queries.Queries) error {
	if im.bootstrapRoot != 0 {
		if err := q.ImportDeleteBootstrapRoot(ctx, im.bootstrapRoot); err != nil {
			return fmt.Errorf("replace the first start's root user: %w", err)
		}
	}
	mark := func(table string, ids []int64) error {
		if len(ids) == 0 {
			return nil
		}
		return q.ImportMarkRows(ctx, queries.ImportMarkRowsParams{SourceTable: table, Ids: ids})
	}
	var ids []int64
	for _, u := range im.users {
		if err := q.UserImport(ctx, u); err != nil {
			return rowWriteError("users", u.ID, u.Username, err)
		}
		ids = append(ids, u.ID)
	}
	for _, inv := range im.inviters {
		if err := q.UserImportSetInviter(ctx, inv); err != nil {
			return rowWriteError("users", inv.ID, "inviter", err)
		}
	}
	if err := mark("users", ids); err != nil {
		return err
	}
	im.progress("wrote users: %d", len(im.users))

	ids = ids[:0]
	for _, t := range im.tokens {
		if err := q.TokenImport(ctx, t); err != nil {
			return rowWriteError("tokens", t.ID, t.Name, err)
		}
		ids = append(ids, t.ID)
	}
	if err := mark("tokens", ids); err != nil {
		return err
	}
	im.progress("wrote tokens: %d", len(im.tokens))

	ids = ids[:0]
	for _, c := range im.channels {
		if err := q.ChannelImport(ctx, c); err != nil {
			return rowWriteError("channels", c.ID, c.Name, err)
		}
		ids = append(ids, c.ID)
	}
	for _, l := range im.channelLogs {
		if err := q.LogInsert(ctx, l); err != nil {
			return rowWriteError("channels", l.ChannelID, "status log row", err)
		}
	}
	if err := mark("channels", ids); err != nil {
		return err
	}
	im.progress("wrote channels: %d", len(im.channels))

	ids = ids[:0]
	for _, r := range im.redemptions {
		if err := q.RedemptionImport(ctx, r); err != nil {
			return rowWriteError("redemptions", r.ID, r.Name, err)
		}
		ids = append(ids, r.ID)
	}
	if err := mark("redemptions", ids); err != nil {
		return err
	}
	im.progress("wrote redemption codes: %d", len(im.redemptions))

	for _, o := range im.options {
		if _, err := q.OptionImport(ctx, o); err != nil {
			return fmt.Errorf("options row %s: %w", o.Key, err)
		}
	}
	im.progress("wrote options: %d", len(im.options))
	return nil
}

func rowWriteError(table string, id int64, what string, err error) error {
	if queries.IsUniqueViolation(err) {
		return fmt.Errorf("%s row id=%d (%s): conflicts with a row already in the target: %w", table, id, what, err)
	}
	return fmt.Errorf("%s row id=%d (%s): %w", table, id, what, err)
}

// rowError names the One API row a check failed on.
func rowError(table string, id int64, err error) error {
	return fmt.Errorf("%s row id=%d: %w", table, id, err)
}

// unix turns One API's unix seconds into a time; 0 or less is no time.
func unix(sec int64) *time.Time {
	if sec <= 0 {
		return nil
	}
	t := time.Unix(sec, 0)
	return &t
}

// unixOr is unix with a fallback for NOT NULL columns.
func unixOr(sec int64, def time.Time) time.Time {
	if t := unix(sec); t != nil {
		return *t
	}
	return def
}
