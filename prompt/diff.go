package prompt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Lines is a version as text, one line per line, for reading and diffing:
// each message under its role, then the variables, then the parameters.
func Lines(c Content) []string {
	var out []string
	for i, m := range c.Messages {
		out = append(out, fmt.Sprintf("── message %d: %s", i+1, m.Role))
		if m.Parts == nil {
			out = append(out, strings.Split(m.Text, "\n")...)
			continue
		}
		for _, p := range m.Parts {
			if p.Type == partImage {
				line := "[image " + p.ImageURL.URL
				if p.ImageURL.Detail != "" {
					line += ", detail " + p.ImageURL.Detail
				}
				out = append(out, line+"]")
			} else {
				out = append(out, strings.Split(p.Text, "\n")...)
			}
		}
	}
	if len(c.Variables) > 0 {
		out = append(out, "── variables")
		for _, v := range c.Variables {
			line := v.Name + " (" + v.Type
			switch {
			case v.Required:
				line += ", required)"
			case v.Default != nil:
				d, _ := marshal(*v.Default)
				line += ", default " + string(d) + ")"
			default:
				line += ", optional)"
			}
			out = append(out, line)
		}
	}
	if len(c.Parameters) > 0 {
		out = append(out, "── parameters")
		keys := make([]string, 0, len(c.Parameters))
		for k := range c.Parameters {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			var b bytes.Buffer
			if json.Indent(&b, c.Parameters[k], "  ", "  ") != nil {
				b.Write(c.Parameters[k])
			}
			out = append(out, strings.Split(k+": "+b.String(), "\n")...)
		}
	}
	return out
}

// DiffOp says what happened to a line between two texts.
type DiffOp byte

const (
	Same    DiffOp = ' '
	Removed DiffOp = '-'
	Added   DiffOp = '+'
)

// DiffLine is one line of a diff.
type DiffLine struct {
	Op   DiffOp
	Text string
}

// maxDiffCells bounds the longest-common-subsequence table; past it the
// changed middle is shown as removed, then added.
const maxDiffCells = 4 << 20

// Diff is a line diff of a into b: the longest common subsequence of the
// lines (after the common head and tail), the rest removed or added.
func Diff(a, b []string) []DiffLine {
	var out []DiffLine
	head := 0
	for head < len(a) && head < len(b) && a[head] == b[head] {
		head++
	}
	tail := 0
	for tail < len(a)-head && tail < len(b)-head && a[len(a)-1-tail] == b[len(b)-1-tail] {
		tail++
	}
	for _, l := range a[:head] {
		out = append(out, DiffLine{Same, l})
	}
	am, bm := a[head:len(a)-tail], b[head:len(b)-tail]
	if len(am)*len(bm) > maxDiffCells {
		for _, l := range am {
			out = append(out, DiffLine{Removed, l})
		}
		for _, l := range bm {
			out = append(out, DiffLine{Added, l})
		}
	} else {
		out = append(out, lcsDiff(am, bm)...)
	}
	for _, l := range a[len(a)-tail:] {
		out = append(out, DiffLine{Same, l})
	}
	return out
}

func lcsDiff(a, b []string) []DiffLine {
	n, m := len(a), len(b)
	// l[i][j] is the LCS length of a[i:] and b[j:].
	l := make([][]int32, n+1)
	for i := range l {
		l[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				l[i][j] = l[i+1][j+1] + 1
			} else {
				l[i][j] = max(l[i+1][j], l[i][j+1])
			}
		}
	}
	out := make([]DiffLine, 0, n+m)
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case a[i] == b[j]:
			out = append(out, DiffLine{Same, a[i]})
			i, j = i+1, j+1
		case l[i+1][j] >= l[i][j+1]:
			out = append(out, DiffLine{Removed, a[i]})
			i++
		default:
			out = append(out, DiffLine{Added, b[j]})
			j++
		}
	}
	for ; i < n; i++ {
		out = append(out, DiffLine{Removed, a[i]})
	}
	for ; j < m; j++ {
		out = append(out, DiffLine{Added, b[j]})
	}
	return out
}
