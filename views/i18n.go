package views

import (
	"context"
	"fmt"
	"time"
	_ "time/tzdata" // the viewer's zone must resolve on a distroless image too
)

// Lang is a console language: a BCP 47 tag of a catalogue in messages_*.go.
type Lang string

const (
	English Lang = "en"
	Chinese Lang = "zh-CN"
)

// Langs are the languages the console speaks, in the order the header
// switch offers them.
var Langs = []Lang{English, Chinese}

// catalogues maps each language to its messages, key → text (a fmt format
// when the key is used with arguments).
var catalogues = map[Lang]map[string]string{English: messagesEN, Chinese: messagesZH}

// Locale is the viewer's language and time zone, set on the request context
// by the handlers' locale middleware and read by every component through ctx.
type Locale struct {
	Lang Lang
	Zone *time.Location
}

type localeKey struct{}

// WithLocale returns ctx carrying l.
func WithLocale(ctx context.Context, l Locale) context.Context {
	return context.WithValue(ctx, localeKey{}, l)
}

// LocaleOf is the locale on ctx; English and UTC when none was set.
func LocaleOf(ctx context.Context) Locale {
	l, _ := ctx.Value(localeKey{}).(Locale)
	if _, ok := catalogues[l.Lang]; !ok {
		l.Lang = English
	}
	if l.Zone == nil {
		l.Zone = time.UTC
	}
	return l
}

// T is the message key in the viewer's language, formatted with args when
// there are any. A key missing from a catalogue falls back to English, then
// to the key itself (TestCataloguesHaveTheSameKeys keeps that from happening).
func T(ctx context.Context, key string, args ...any) string {
	return Translate(LocaleOf(ctx).Lang, key, args...)
}

// Translate is T for a known language (mails, /api messages).
func Translate(lang Lang, key string, args ...any) string {
	s, ok := catalogues[lang][key]
	if !ok {
		if s, ok = messagesEN[key]; !ok {
			s = key
		}
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// LangName is how a language names itself on the switch.
func LangName(l Lang) string {
	if l == Chinese {
		return "中文"
	}
	return "English"
}

// Word is a status, role or type name ("enabled", "admin", "consume") in the
// viewer's language; a word the catalogue lacks (an unknown status) is shown
// as it is.
func Word(ctx context.Context, w string) string {
	if s, ok := catalogues[LocaleOf(ctx).Lang]["w."+w]; ok {
		return s
	}
	return w
}

// phraseKeys maps each English text of the catalogue back to its key, so a
// message made in English elsewhere (a page title, an error from handlers)
// can be shown in the viewer's language.
var phraseKeys = func() map[string]string {
	m := make(map[string]string, len(messagesEN))
	for k, s := range messagesEN {
		m[s] = k
	}
	return m
}()

// Phrase is an English text in the viewer's language when the catalogue
// has it, else the text unchanged.
func Phrase(ctx context.Context, english string) string {
	return PhraseIn(LocaleOf(ctx).Lang, english)
}

// PhraseIn is Phrase for a known language.
func PhraseIn(lang Lang, english string) string {
	if k, ok := phraseKeys[english]; ok {
		if s, ok := catalogues[lang][k]; ok {
			return s
		}
	}
	return english
}
