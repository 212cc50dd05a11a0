package oneapiimport

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Report says what an import did (or, on a dry run, would do): counts per
// table, and every row or setting that was not carried over or was changed
// on the way, with the reason.
type Report struct {
	Source string
	DryRun bool
	Merge  bool
	// Tables in import order.
	Tables []*TableCount
	// NotCarried lists what stayed behind, and why.
	NotCarried []Note
	// Changed lists what was carried over in another form, and why.
	Changed []Note
	// NotServed lists imported channels whose type this version has no
	// adaptor for.
	NotServed []Note
	// UnknownOptions are One API settings this version does not know.
	UnknownOptions []string
}

// TableCount is one table's tally.
type TableCount struct {
	Table string
	// Read is the rows found in One API's table.
	Read int
	// Imported is the rows written (or, on a dry run, that would be).
	Imported int
	// Already is the rows an earlier import brought over (--merge skips them).
	Already int
	// Skipped is the rows not carried over (see NotCarried).
	Skipped int
}

// Note is one line of the report about one row or setting.
type Note struct {
	Table string
	Row   string // "#12 alice", an option key
	Text  string
}

func (n Note) String() string { return fmt.Sprintf("%s %s: %s", n.Table, n.Row, n.Text) }

func (r *Report) count(name string) *TableCount {
	for _, t := range r.Tables {
		if t.Table == name {
			return t
		}
	}
	t := &TableCount{Table: name}
	r.Tables = append(r.Tables, t)
	return t
}

func (r *Report) skip(table, row, format string, args ...any) {
	r.count(table).Skipped++
	r.NotCarried = append(r.NotCarried, Note{table, row, fmt.Sprintf(format, args...)})
}

func (r *Report) notCarried(table, row, format string, args ...any) {
	r.NotCarried = append(r.NotCarried, Note{table, row, fmt.Sprintf(format, args...)})
}

func (r *Report) changed(table, row, format string, args ...any) {
	r.Changed = append(r.Changed, Note{table, row, fmt.Sprintf(format, args...)})
}

// WriteTo prints the report for a person.
func (r *Report) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	switch {
	case r.DryRun:
		fmt.Fprintf(&b, "One API import from %s: dry run, nothing was written.\n\n", r.Source)
	case r.Merge:
		fmt.Fprintf(&b, "One API import from %s (merge): done, in one transaction.\n\n", r.Source)
	default:
		fmt.Fprintf(&b, "One API import from %s: done, in one transaction.\n\n", r.Source)
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	verb := "imported"
	if r.DryRun {
		verb = "to import"
	}
	fmt.Fprintf(tw, "table\tin One API\t%s\talready imported\tnot carried\t\n", verb)
	for _, t := range r.Tables {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t\n", t.Table, t.Read, t.Imported, t.Already, t.Skipped)
	}
	tw.Flush()
	section := func(title string, notes []Note) {
		if len(notes) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n%s\n", title)
		for _, n := range notes {
			fmt.Fprintf(&b, "  %s\n", n)
		}
	}
	section("Not carried over:", r.NotCarried)
	section("Carried over in another form:", r.Changed)
	section("Channels imported but not served yet by this version (requests fail over to other channels; disable them or keep them for a later version):", r.NotServed)
	if len(r.UnknownOptions) > 0 {
		fmt.Fprintf(&b, "\nOptions unknown to this version, not carried over: %s\n", strings.Join(r.UnknownOptions, ", "))
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

func (r *Report) String() string {
	var b strings.Builder
	_, _ = r.WriteTo(&b)
	return b.String()
}
