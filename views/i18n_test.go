package views

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestCataloguesHaveTheSameKeys: every key exists in both languages, with
// the same fmt verbs, and the Chinese text is not an English copy.
func TestCataloguesHaveTheSameKeys(t *testing.T) {
	verbs := regexp.MustCompile(`%[sdv]`)
	for k, en := range messagesEN {
		zh, ok := messagesZH[k]
		if !ok {
			t.Errorf("key %q missing from messagesZH", k)
			continue
		}
		if a, b := verbs.FindAllString(en, -1), verbs.FindAllString(zh, -1); strings.Join(a, "") != strings.Join(b, "") {
			t.Errorf("key %q: verbs %v in English, %v in Chinese", k, a, b)
		}
	}
	for k := range messagesZH {
		if _, ok := messagesEN[k]; !ok {
			t.Errorf("key %q missing from messagesEN", k)
		}
	}
}

// TestEveryUsedKeyIsInTheCatalogue: each T(ctx, "key") in the templates
// names a key of the catalogue (else a page would show the bare key).
func TestEveryUsedKeyIsInTheCatalogue(t *testing.T) {
	files, _ := filepath.Glob("*.templ")
	use := regexp.MustCompile(`\bT\(ctx, "([^"]+)"`)
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range use.FindAllStringSubmatch(string(b), -1) {
			n++
			if _, ok := messagesEN[m[1]]; !ok {
				t.Errorf("%s: key %q is not in the catalogue", f, m[1])
			}
		}
	}
	if n < 300 {
		t.Errorf("only %d uses of T found: the templates lost their translations?", n)
	}
}

func TestLocaleOnContext(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	ctx := WithLocale(context.Background(), Locale{Lang: Chinese, Zone: sh})
	if got := T(ctx, "sign_in"); got != "登录" {
		t.Errorf("T(zh, sign_in) = %q", got)
	}
	if got := T(context.Background(), "sign_in"); got != "Sign in" {
		t.Errorf("T(default, sign_in) = %q", got)
	}
	if got := Phrase(ctx, "Your profile was saved."); got != "你的个人资料已保存。" {
		t.Errorf("Phrase = %q", got)
	}
	if got := Phrase(ctx, "no such phrase"); got != "no such phrase" {
		t.Errorf("Phrase of an unknown text = %q", got)
	}
	at := time.Date(2026, 12, 1, 16, 30, 0, 0, time.UTC)
	if got := FormatTime(ctx, &at); got != "2026-12-02 00:30:00 CST" {
		t.Errorf("FormatTime in Shanghai = %q", got)
	}
	if got := Word(ctx, "enabled"); got != "已启用" {
		t.Errorf("Word = %q", got)
	}
}
