package oneapiimport

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// No MySQL server runs here, so the MySQL dump One API made is loaded into a
// SQLite database built from One API's own SQLite schema: its INSERT
// statements are parsed and replayed, by column name. The import then reads
// it through the same code that reads a MySQL server (only opening the
// connection and listing tables differ per dialect).

// sqliteFromDump builds a One API SQLite database from testdata's MySQL
// dump; edit, when set, rewrites the dump text first.
func sqliteFromDump(t *testing.T, edit func(string) string) string {
	t.Helper()
	dump, err := os.ReadFile("testdata/one-api-mysql.sql")
	if err != nil {
		t.Fatal(err)
	}
	text := string(dump)
	if edit != nil {
		text = edit(text)
	}
	path := filepath.Join(t.TempDir(), "one-api.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	schema, err := os.ReadFile("testdata/schema-sqlite.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(string(schema)); err != nil {
		t.Fatalf("One API's SQLite schema: %v", err)
	}
	cols := dumpColumns(text)
	for _, ins := range dumpInserts(t, text) {
		names := cols[ins.table]
		if len(names) == 0 {
			t.Fatalf("no CREATE TABLE for %s in the dump", ins.table)
		}
		for _, row := range ins.rows {
			if len(row) != len(names) {
				t.Fatalf("%s: %d values for %d columns", ins.table, len(row), len(names))
			}
			q := fmt.Sprintf("INSERT INTO %q (%s) VALUES (%s)", ins.table, quoteAll(names), strings.TrimSuffix(strings.Repeat("?,", len(row)), ","))
			if _, err := db.Exec(q, row...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	return path
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = `"` + n + `"`
	}
	return strings.Join(q, ",")
}

var (
	createTable = regexp.MustCompile("(?m)^CREATE TABLE `([a-z_]+)` \\(\n((?:  .*\n)+)\\)")
	columnLine  = regexp.MustCompile("^  `([a-z_]+)` ")
)

// dumpColumns reads each table's columns, in order, from its CREATE TABLE.
func dumpColumns(text string) map[string][]string {
	out := map[string][]string{}
	for _, m := range createTable.FindAllStringSubmatch(text, -1) {
		for _, line := range strings.Split(m[2], "\n") {
			if c := columnLine.FindStringSubmatch(line); c != nil {
				out[m[1]] = append(out[m[1]], c[1])
			}
		}
	}
	return out
}

type dumpInsert struct {
	table string
	rows  [][]any
}

// dumpInserts parses mysqldump's `INSERT INTO t VALUES (...),(...);`.
func dumpInserts(t *testing.T, text string) []dumpInsert {
	t.Helper()
	var out []dumpInsert
	const marker = "INSERT INTO `"
	for {
		i := strings.Index(text, marker)
		if i < 0 {
			return out
		}
		text = text[i+len(marker):]
		j := strings.IndexByte(text, '`')
		ins := dumpInsert{table: text[:j]}
		text = strings.TrimLeft(text[j+1:], " \n")
		text = strings.TrimPrefix(text, "VALUES")
		p := &valueParser{s: text}
		rows, err := p.tuples()
		if err != nil {
			t.Fatalf("INSERT INTO %s: %v", ins.table, err)
		}
		ins.rows = rows
		out = append(out, ins)
		text = p.s[p.i:]
	}
}

// valueParser reads MySQL literals: NULL, numbers and '...' strings with
// backslash escapes.
type valueParser struct {
	s string
	i int
}

func (p *valueParser) skipSpace() {
	for p.i < len(p.s) && strings.IndexByte(" \n\r\t", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *valueParser) tuples() ([][]any, error) {
	var rows [][]any
	for {
		p.skipSpace()
		if p.i >= len(p.s) || p.s[p.i] != '(' {
			return nil, fmt.Errorf("want ( at %d", p.i)
		}
		p.i++
		var row []any
		for {
			p.skipSpace()
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			row = append(row, v)
			p.skipSpace()
			if p.s[p.i] == ',' {
				p.i++
				continue
			}
			if p.s[p.i] == ')' {
				p.i++
				break
			}
			return nil, fmt.Errorf("want , or ) at %d", p.i)
		}
		rows = append(rows, row)
		p.skipSpace()
		switch p.s[p.i] {
		case ',':
			p.i++
		case ';':
			p.i++
			return rows, nil
		default:
			return nil, fmt.Errorf("want , or ; at %d", p.i)
		}
	}
}

func (p *valueParser) value() (any, error) {
	if strings.HasPrefix(p.s[p.i:], "NULL") {
		p.i += 4
		return nil, nil
	}
	if p.s[p.i] != '\'' {
		j := p.i
		for j < len(p.s) && strings.IndexByte("-+.0123456789eE", p.s[j]) >= 0 {
			j++
		}
		if j == p.i {
			return nil, fmt.Errorf("unexpected %q at %d", p.s[p.i], p.i)
		}
		num := p.s[p.i:j]
		p.i = j
		if strings.ContainsAny(num, ".eE") {
			var f float64
			_, err := fmt.Sscan(num, &f)
			return f, err
		}
		var n int64
		_, err := fmt.Sscan(num, &n)
		return n, err
	}
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch c {
		case '\\':
			p.i++
			switch e := p.s[p.i]; e {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case '0':
				b.WriteByte(0)
			case 'Z':
				b.WriteByte(26)
			default:
				b.WriteByte(e)
			}
		case '\'':
			if p.i+1 < len(p.s) && p.s[p.i+1] == '\'' {
				b.WriteByte('\'')
				p.i++
				break
			}
			p.i++
			return b.String(), nil
		default:
			b.WriteByte(c)
		}
		p.i++
	}
	return nil, fmt.Errorf("unterminated string")
}
