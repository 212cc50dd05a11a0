package state

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"oneapi/prompt"
	"oneapi/queries"
	"oneapi/queries/dbtest"
)

func addVersion(t *testing.T, q *queries.Queries, promptID int64, n int32, src string) {
	t.Helper()
	c, err := prompt.Decode([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	enc := c.Encode()
	if _, err := q.PromptVersionCreate(context.Background(), queries.PromptVersionCreateParams{
		PromptID: promptID, Version: n, Content: enc, ContentHash: prompt.Hash(enc)}); err != nil {
		t.Fatal(err)
	}
	if err := q.PromptSetLatest(context.Background(), queries.PromptSetLatestParams{ID: promptID, LatestVersion: n}); err != nil {
		t.Fatal(err)
	}
}

func renderText(t *testing.T, v *PromptVersion) string {
	t.Helper()
	msgs, err := v.Template.Render(nil)
	if err != nil {
		t.Fatal(err)
	}
	return msgs[0].Text
}

// TestPromptResolution: labels, latest and numbers resolve from memory;
// a reload after a label move reuses the compiled versions it holds.
func TestPromptResolution(t *testing.T) {
	pool := dbtest.Pool(t)
	ctx := context.Background()
	q := queries.New(pool)
	u, err := q.UserCreate(ctx, queries.UserCreateParams{Username: "u", Role: RoleUser, Status: StatusEnabled, GroupName: "default"})
	if err != nil {
		t.Fatal(err)
	}
	shared, err := q.PromptCreate(ctx, queries.PromptCreateParams{Name: "greet"})
	if err != nil {
		t.Fatal(err)
	}
	for i, text := range []string{"one", "two", "three"} {
		addVersion(t, q, shared.ID, int32(i+1), `{"messages":[{"role":"system","content":"`+text+`"}]}`)
	}
	mine, err := q.PromptCreate(ctx, queries.PromptCreateParams{Name: "mine", OwnerID: &u.ID})
	if err != nil {
		t.Fatal(err)
	}
	addVersion(t, q, mine.ID, 1, `{"messages":[{"role":"user","content":"{{x}}"}]}`)

	st, err := New(ctx, pool, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	p := st.Prompt("greet")
	if p == nil || p.Latest != 3 || len(p.Versions) != 3 || !p.UsableBy(u.ID) {
		t.Fatalf("greet = %+v", p)
	}
	if m := st.Prompt("mine"); m == nil || !m.UsableBy(u.ID) || m.UsableBy(u.ID+1) {
		t.Fatalf("a private prompt is its owner's alone: %+v", m)
	}
	resolve := func(ref string) (string, error) {
		v, err := st.Prompt("greet").Resolve(ref)
		if err != nil {
			return "", err
		}
		return renderText(t, v), nil
	}
	for ref, want := range map[string]string{"": "three", "latest": "three", "1": "one", "2": "two"} {
		if got, err := resolve(ref); err != nil || got != want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", ref, got, err, want)
		}
	}
	for _, ref := range []string{"4", "0", "staging", "2x"} {
		var re *prompt.RefError
		if _, err := resolve(ref); !errors.As(err, &re) {
			t.Errorf("Resolve(%q) = %v, want a RefError", ref, err)
		}
	}

	before := st.Prompt("greet").Versions[1]
	for _, l := range []struct {
		label string
		v     int32
	}{{"production", 1}, {"staging", 2}} {
		if err := q.PromptLabelSet(ctx, queries.PromptLabelSetParams{PromptID: shared.ID, Label: l.label, Version: l.v}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Reload(ctx, KindPrompts, shared.ID); err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]string{"": "one", "production": "one", "staging": "two", "latest": "three"} {
		if got, err := resolve(ref); err != nil || got != want {
			t.Errorf("after labels: Resolve(%q) = %q, %v; want %q", ref, got, err, want)
		}
	}
	if st.Prompt("greet").Versions[1] != before {
		t.Error("a label move compiled the versions again")
	}
	if st.Prompt("mine") == nil {
		t.Error("reloading one prompt dropped another")
	}

	if _, err := q.PromptDelete(ctx, shared.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.Reload(ctx, KindPrompts, shared.ID); err != nil {
		t.Fatal(err)
	}
	if st.Prompt("greet") != nil || st.Prompt("mine") == nil {
		t.Error("a deleted prompt is still served, or another went with it")
	}
	if err := st.ReloadAll(ctx); err != nil || st.Prompt("mine").Versions[1] == nil {
		t.Errorf("full reload: %v", err)
	}
}

// A stored version is immutable: the database refuses to change it.
func TestPromptVersionsAreImmutable(t *testing.T) {
	pool := dbtest.Pool(t)
	ctx := context.Background()
	q := queries.New(pool)
	p, err := q.PromptCreate(ctx, queries.PromptCreateParams{Name: "p"})
	if err != nil {
		t.Fatal(err)
	}
	addVersion(t, q, p.ID, 1, `{"messages":[{"role":"system","content":"x"}]}`)
	if _, err := pool.Exec(ctx, `UPDATE prompt_versions SET content = '{"messages":[]}'`); err == nil {
		t.Error("a version was changed in place")
	}
}
