package prompt

import (
	"fmt"
	"strconv"
)

// RefError is a version or label a prompt does not have.
type RefError struct{ Msg string }

func (e *RefError) Error() string { return e.Msg }

// Resolve picks the version a request's ref names: "" is the production
// label when the prompt has one, else the latest version; "latest" the
// latest; a number that version; any other word a label. It does not check
// that a numbered version exists (the caller holds the versions).
func Resolve(name, ref string, latest int, labels map[string]int) (int, error) {
	switch {
	case ref == "":
		if v, ok := labels[LabelProduction]; ok {
			return v, nil
		}
		return latest, nil
	case ref == LabelLatest:
		return latest, nil
	case ref[0] >= '0' && ref[0] <= '9':
		v, err := strconv.Atoi(ref)
		if err != nil || v < 1 || v > latest {
			return 0, &RefError{fmt.Sprintf("The prompt `%s` has no version %q.", name, ref)}
		}
		return v, nil
	}
	v, ok := labels[ref]
	if !ok {
		return 0, &RefError{fmt.Sprintf("The prompt `%s` has no label `%s`.", name, ref)}
	}
	return v, nil
}
