package oneapiimport

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx" for One API on PostgreSQL
	_ "modernc.org/sqlite"             // registers "sqlite", pure Go
)

// source is One API's database, opened read-only where the driver allows.
// Everything dialect-specific is here: how to open it and how to list its
// tables. The rest reads rows with plain SELECT *, which every dialect takes
// alike, so the three share one reading path.
type source struct {
	db      *sql.DB
	dialect string // sqlite, mysql or postgres
	display string // the URL without its password, for messages and the report
	tables  map[string]bool
}

// openSource opens rawURL: sqlite:///path/one-api.db, mysql://user:pass@host:3306/db
// or postgres://user:pass@host:5432/db.
func openSource(ctx context.Context, rawURL string) (*source, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		return nil, fmt.Errorf("--from %q: want sqlite:///path/one-api.db, mysql://user:pass@host:3306/db or postgres://user:pass@host:5432/db", rawURL)
	}
	s := &source{display: redact(u)}
	var driver, dsn string
	switch strings.ToLower(u.Scheme) {
	case "sqlite", "sqlite3", "file":
		s.dialect, driver = "sqlite", "sqlite"
		path := u.Path
		if u.Host != "" { // sqlite://data/one-api.db: a relative path
			path = filepath.Join(u.Host, u.Path)
		}
		if u.Opaque != "" { // sqlite:one-api.db
			path = u.Opaque
		}
		fi, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.display, err)
		}
		if fi.IsDir() {
			return nil, fmt.Errorf("%s: is a directory, not One API's database file (one-api.db)", s.display)
		}
		// mode=ro: an import never writes to One API's file, and a missing
		// file is an error rather than a new empty database.
		dsn = "file:" + path + "?mode=ro&_pragma=busy_timeout(5000)"
	case "mysql":
		s.dialect, driver = "mysql", "mysql"
		dsn, err = mysqlDSN(u)
		if err != nil {
			return nil, err
		}
	case "postgres", "postgresql":
		s.dialect, driver, dsn = "postgres", "pgx", rawURL
	default:
		return nil, fmt.Errorf("--from %s: unknown scheme %q (want sqlite, mysql or postgres)", s.display, u.Scheme)
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.display, err)
	}
	db.SetMaxOpenConns(2) // one reader for a table, one for the logs count
	s.db = db
	if err := s.listTables(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// mysqlDSN turns mysql://user:pass@host:3306/db?tls=true into the driver's
// form. Query parameters are the driver's own (tls, charset, ...).
func mysqlDSN(u *url.URL) (string, error) {
	c := mysql.NewConfig()
	c.User = u.User.Username()
	c.Passwd, _ = u.User.Password()
	c.Net = "tcp"
	c.Addr = u.Host
	if c.Addr == "" {
		c.Addr = "127.0.0.1:3306"
	} else if u.Port() == "" {
		c.Addr += ":3306"
	}
	c.DBName = strings.TrimPrefix(u.Path, "/")
	if c.DBName == "" {
		return "", fmt.Errorf("%s: name the database, e.g. mysql://user:pass@host:3306/oneapi", redact(u))
	}
	c.Timeout = 15 * time.Second
	c.ReadTimeout = 5 * time.Minute
	for k, vs := range u.Query() {
		if len(vs) == 0 {
			continue
		}
		switch k {
		case "tls":
			c.TLSConfig = vs[0]
		default:
			if c.Params == nil {
				c.Params = map[string]string{}
			}
			c.Params[k] = vs[0]
		}
	}
	if c.Params["charset"] == "" {
		if c.Params == nil {
			c.Params = map[string]string{}
		}
		c.Params["charset"] = "utf8mb4"
	}
	return c.FormatDSN(), nil
}

// redact drops the password from a URL shown to people.
func redact(u *url.URL) string {
	c := *u
	if _, ok := c.User.Password(); ok {
		c.User = url.UserPassword(c.User.Username(), "xxxxx")
	}
	return c.String()
}

func (s *source) listTables(ctx context.Context) error {
	var q string
	switch s.dialect {
	case "sqlite":
		q = "SELECT name FROM sqlite_master WHERE type = 'table'"
	case "mysql":
		q = "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
	case "postgres":
		q = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
	}
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("%s: cannot read it as a %s database: %w", s.display, s.dialect, err)
	}
	defer rows.Close()
	s.tables = map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return fmt.Errorf("%s: %w", s.display, err)
		}
		s.tables[strings.ToLower(name)] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: cannot read it as a %s database: %w", s.display, s.dialect, err)
	}
	return nil
}

// requiredColumns are what an import cannot do without; every other column
// may be missing (older One API versions lack some) and takes One API's
// default. Columns a version adds that are not read here are ignored.
var requiredColumns = map[string][]string{
	"users":    {"id", "username", "password"},
	"tokens":   {"id", "user_id", "key"},
	"channels": {"id", "type", "key"},
	"options":  {"key", "value"},
}

// checkOneAPI refuses a database that is not One API's before anything is read.
func (s *source) checkOneAPI() error {
	if s.tables["goose_db_version"] && s.tables["quota_leases"] {
		return fmt.Errorf("%s is a database of this gateway, not of One API: nothing to import", s.display)
	}
	var missing []string
	for _, t := range []string{"users", "tokens", "channels", "options"} {
		if !s.tables[t] {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s is not a One API database: table %s not found", s.display, strings.Join(missing, ", "))
	}
	return nil
}

// table reads every row of one table, by id where it has one.
type table struct {
	name string
	rows *sql.Rows
	cols map[string]int
	vals []any
	ptrs []any
	n    int // rows read so far
}

func (s *source) open(ctx context.Context, name string, orderBy string) (*table, error) {
	q := "SELECT * FROM " + name
	if orderBy != "" {
		q += " ORDER BY " + orderBy
	}
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("read table %s: %w", name, err)
	}
	names, err := rows.Columns()
	if err != nil {
		rows.Close()
		return nil, fmt.Errorf("read table %s: %w", name, err)
	}
	t := &table{name: name, rows: rows, cols: map[string]int{}, vals: make([]any, len(names)), ptrs: make([]any, len(names))}
	for i, c := range names {
		t.cols[strings.ToLower(c)] = i
		t.ptrs[i] = &t.vals[i]
	}
	for _, c := range requiredColumns[name] {
		if _, ok := t.cols[c]; !ok {
			rows.Close()
			return nil, fmt.Errorf("%s is not a One API database: table %s has no column %s", s.display, name, c)
		}
	}
	return t, nil
}

// next moves to the next row; false at the end or on an error (see err).
func (t *table) next() bool {
	if !t.rows.Next() {
		return false
	}
	t.n++
	return true
}

func (t *table) scan() error {
	if err := t.rows.Scan(t.ptrs...); err != nil {
		return fmt.Errorf("%s row %d: %w", t.name, t.n, err)
	}
	return nil
}

func (t *table) err() error {
	if err := t.rows.Err(); err != nil {
		return fmt.Errorf("read table %s after row %d: %w", t.name, t.n, err)
	}
	return nil
}

func (t *table) close() { t.rows.Close() }

func (t *table) has(col string) bool { _, ok := t.cols[col]; return ok }

func (t *table) raw(col string) any {
	i, ok := t.cols[col]
	if !ok {
		return nil
	}
	return t.vals[i]
}

// fieldError names the column of a row that could not be read.
type fieldError struct {
	col string
	err error
}

func (e *fieldError) Error() string { return "column " + e.col + ": " + e.err.Error() }

// int reads an integer column; a missing column or NULL is def.
func (t *table) int(col string, def int64) (int64, error) {
	v := t.raw(col)
	if v == nil {
		return def, nil
	}
	n, err := toInt(v)
	if err != nil {
		return 0, &fieldError{col, err}
	}
	return n, nil
}

func (t *table) float(col string) (float64, error) {
	v := t.raw(col)
	if v == nil {
		return 0, nil
	}
	f, err := toFloat(v)
	if err != nil {
		return 0, &fieldError{col, err}
	}
	return f, nil
}

func (t *table) bool(col string) (bool, error) {
	v := t.raw(col)
	if v == nil {
		return false, nil
	}
	b, err := toBool(v)
	if err != nil {
		return false, &fieldError{col, err}
	}
	return b, nil
}

// str reads a text column; a missing column or NULL is def.
func (t *table) str(col, def string) string {
	v := t.raw(col)
	if v == nil {
		return def
	}
	return toStr(v)
}

// time reads a timestamp column that GORM's soft delete or newer versions
// keep as a date rather than unix seconds.
func (t *table) time(col string) (*time.Time, error) {
	v := t.raw(col)
	switch v := v.(type) {
	case nil:
		return nil, nil
	case time.Time:
		return &v, nil
	}
	s := strings.TrimSpace(toStr(v))
	if s == "" {
		return nil, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n <= 0 {
			return nil, nil
		}
		tm := time.Unix(n, 0)
		return &tm, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05"} {
		if tm, err := time.Parse(layout, s); err == nil {
			return &tm, nil
		}
	}
	return nil, &fieldError{col, fmt.Errorf("not a time: %q", clip(s))}
}

// Values arrive as the driver gives them: MySQL's text protocol as []byte,
// SQLite and PostgreSQL as int64, float64, string, bool or time.Time.

func toInt(v any) (int64, error) {
	switch v := v.(type) {
	case int64:
		return v, nil
	case int32:
		return int64(v), nil
	case int:
		return int64(v), nil
	case float64:
		if v != float64(int64(v)) {
			return 0, fmt.Errorf("not a whole number: %v", v)
		}
		return int64(v), nil
	case bool:
		if v {
			return 1, nil
		}
		return 0, nil
	}
	s := strings.TrimSpace(toStr(v))
	if s == "" {
		return 0, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f == float64(int64(f)) {
		return int64(f), nil
	}
	return 0, fmt.Errorf("not a whole number: %q", clip(s))
}

func toFloat(v any) (float64, error) {
	switch v := v.(type) {
	case float64:
		return v, nil
	case int64:
		return float64(v), nil
	}
	s := strings.TrimSpace(toStr(v))
	if s == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("not a number: %q", clip(s))
	}
	return f, nil
}

func toBool(v any) (bool, error) {
	switch v := v.(type) {
	case bool:
		return v, nil
	case int64:
		return v != 0, nil
	}
	switch s := strings.ToLower(strings.TrimSpace(toStr(v))); s {
	case "1", "true", "t":
		return true, nil
	case "0", "false", "f", "":
		return false, nil
	default:
		return false, fmt.Errorf("not a boolean: %q", clip(s))
	}
}

func toStr(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []byte:
		return string(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case time.Time:
		return v.Format(time.RFC3339)
	}
	return fmt.Sprint(v)
}

// clip shortens a value quoted in a message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
