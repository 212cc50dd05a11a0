package oneapiimport

import (
	"net/url"
	"strings"
	"testing"
)

// No MySQL server runs in the tests: this checks what the MySQL path does
// before it reaches one, the driver's DSN made from --from.
func TestMySQLDSN(t *testing.T) {
	for _, tc := range []struct{ url, want, err string }{
		{url: "mysql://root:p%40ss@db.internal:3306/oneapi", want: "root:p@ss@tcp(db.internal:3306)/oneapi?"},
		{url: "mysql://u:p@db/oneapi?tls=true", want: "u:p@tcp(db:3306)/oneapi?", err: ""},
		{url: "mysql://u:p@db:3306/", err: "name the database"},
	} {
		u, _ := url.Parse(tc.url)
		dsn, err := mysqlDSN(u)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "p@ss") {
				t.Errorf("%s: err %v", tc.url, err)
			}
			continue
		}
		if err != nil || !strings.HasPrefix(dsn, tc.want) || !strings.Contains(dsn, "charset=utf8mb4") {
			t.Errorf("%s: dsn %q (%v), want prefix %q with utf8mb4", tc.url, dsn, err, tc.want)
		}
		if strings.Contains(tc.url, "tls=true") && !strings.Contains(dsn, "tls=true") {
			t.Errorf("%s: tls lost: %q", tc.url, dsn)
		}
	}
	u, _ := url.Parse("mysql://root:secret@db:3306/oneapi")
	if s := redact(u); strings.Contains(s, "secret") {
		t.Errorf("redact = %q", s)
	}
}
