package tim

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite docs/im-errors.md from Table")

// imErrorsDoc is the documentation page generated from Table.
var imErrorsDoc = filepath.Join("..", "..", "docs", "im-errors.md")

// TestTableRowsOverTheWire sends every row of Table through the client
// against the fake backend (an injected ErrorCode, or an injected HTTP
// status) and checks the class, the meaning and the retry behaviour.
func TestTableRowsOverTheWire(t *testing.T) {
	const maxRetries = 2
	for _, row := range Table {
		for _, code := range rowCodes(row) {
			name := fmt.Sprintf("ErrorCode %d", code)
			if row.HTTPStatus != 0 {
				name = fmt.Sprintf("HTTP %d", row.HTTPStatus)
			}
			t.Run(name, func(t *testing.T) {
				h := newHarness(t, nil)
				c := h.client(t, func(cfg *Config) { cfg.MaxRetries = maxRetries })
				if row.HTTPStatus != 0 {
					h.fake.FailHTTP(row.HTTPStatus, -1)
				} else {
					h.fake.InjectError("create_group", code, -1)
				}
				_, err := c.CreateGroup(ctx, CreateGroupRequest{Type: GroupTypePublic, GroupID: "g", Name: "n"})
				if err == nil {
					t.Fatal("no error")
				}
				if got := ClassOf(err); got != row.Class {
					t.Errorf("class %q, want %q (%v)", got, row.Class, err)
				}
				if got := Meaning(err); got != row.Meaning {
					t.Errorf("meaning %q, want %q", got, row.Meaning)
				}
				want := 1
				switch {
				case row.Class == ClassRateLimited || row.Class == ClassTransient:
					want = 1 + maxRetries
				case code == 70001:
					want = 2 // one fresh ticket, then the refusal stands
				}
				if n := h.fake.Calls("create_group"); n != want {
					t.Errorf("%d calls, want %d", n, want)
				}
			})
		}
	}
}

// rowCodes returns the codes a row is tested with: both ends of a range and
// one inside it.
func rowCodes(r Row) []int {
	if r.CodeLast == 0 {
		return []int{r.Code}
	}
	return []int{r.Code, (r.Code + r.CodeLast) / 2, r.CodeLast}
}

func TestTableIsWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Table {
		key := fmt.Sprintf("code %d-%d", r.Code, r.CodeLast)
		switch {
		case r.HTTPStatus != 0 && (r.Code != 0 || r.CodeLast != 0):
			t.Errorf("%+v: both an HTTP status and an ErrorCode", r)
		case r.HTTPStatus != 0:
			key = fmt.Sprintf("http %d", r.HTTPStatus)
			if r.HTTPStatus < 300 || r.HTTPStatus > 599 {
				t.Errorf("%+v: HTTP status outside 3xx-5xx", r)
			}
		case r.Code <= 0 || (r.CodeLast != 0 && r.CodeLast <= r.Code):
			t.Errorf("%+v: bad code or range", r)
		}
		if seen[key] {
			t.Errorf("%s listed twice", key)
		}
		seen[key] = true
		if r.Class == ClassNone || r.Meaning == "" {
			t.Errorf("%+v: no class or no meaning", r)
		}
	}
	// Ranges must not swallow a code listed on its own.
	for _, a := range Table {
		for _, b := range Table {
			if a.CodeLast != 0 && b.CodeLast == 0 && b.Code >= a.Code && b.Code <= a.CodeLast {
				t.Errorf("%d is inside the range %d-%d", b.Code, a.Code, a.CodeLast)
			}
		}
	}
}

// TestCodesOutsideTheTable pins the rules ClassOf applies without a row.
func TestCodesOutsideTheTable(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want Class
	}{
		{"unknown ErrorCode", &Error{Code: 10007, HTTPStatus: 200}, ClassNone},
		{"70107 is beyond the UserSig range", &Error{Code: 70107, HTTPStatus: 200}, ClassNone},
		{"HTTP 502 from a proxy", &Error{HTTPStatus: 502}, ClassTransient},
		{"HTTP 500 from a proxy", &Error{HTTPStatus: 500}, ClassTransient},
		{"an ErrorCode in a non-200 answer is not trusted", &Error{Code: 60016, HTTPStatus: 502}, ClassTransient},
		{"transport", &Error{Err: fmt.Errorf("connection reset")}, ClassTransient},
		{"not ours", fmt.Errorf("60016"), ClassNone},
	} {
		if got := ClassOf(tt.err); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
		if Meaning(tt.err) != "" {
			t.Errorf("%s: has a meaning", tt.name)
		}
	}
}

// TestIMErrorsDoc keeps docs/im-errors.md equal to what Table says;
// `make im-errors-doc` rewrites it (this test with -update-docs).
func TestIMErrorsDoc(t *testing.T) {
	want := renderIMErrorsDoc()
	if *updateDocs {
		if err := os.WriteFile(imErrorsDoc, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(imErrorsDoc)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("docs/im-errors.md differs from tim.Table; run `make im-errors-doc` and commit the result")
	}
}

// classDoc says what the operator does for each class; the controller's
// classify function is where that happens.
var classDoc = []struct {
	class Class
	does  string
}{
	{ClassTransient, "Retried by the client with jittered exponential backoff, then by the work queue. Condition `Synced=False`, reason `ReconcileError`."},
	{ClassRateLimited, "Retried by the client with backoff; then REST calls for the ChatGroup pause with a growing backoff. `Synced=False`, reason `RateLimited`."},
	{ClassCredentials, "Not retried. REST calls for the ChatGroup pause for 10 minutes and the resync stops. `Ready=False` and `Synced=False`, reason `CredentialsInvalid`; the message names the code and the fix."},
	{ClassAppUnavailable, "As for Credentials: not retried, calls pause, the resync stops, reason `CredentialsInvalid`; the message says the app itself is unavailable, which code, and what to do in the IM console."},
	{ClassRejected, "Final: the same spec is not sent again for an hour; a spec change (or a new value of the resync annotation) sends at once. `Synced=False`, reason `RejectedByIM`, with the code and its meaning."},
	{ClassNotFound, "Expected answers the controller acts on: the group is created (Enforce) or reported missing."},
	{ClassAlreadyExists, "Expected answer on create: the existing group is adopted."},
}

func renderIMErrorsDoc() string {
	var b strings.Builder
	b.WriteString(`# IM errors and what the operator does with them

<!-- Generated from internal/tim/errors.go (tim.Table) by make im-errors-doc.
     Do not edit by hand: the test fails when this file and the table differ. -->

Every failed REST call is classified by one table in the code,
` + "`tim.Table`" + ` in ` + "`internal/tim/errors.go`" + `. This page is generated from it.

The IM backend always answers HTTP 200 and puts the result in the
` + "`ErrorCode`" + ` of its JSON envelope, so a non-200 status comes from a proxy, a
gateway or a wrong URL on the way. Rules for what the table does not list:

- a network failure or client timeout is **Transient** (a failed TLS
  certificate check is not: it is reported as is);
- any HTTP status other than 200 that is not listed is **Transient**;
- an ErrorCode that is not listed is unclassified: reported with reason
  ` + "`ReconcileError`" + ` and retried with the work queue's backoff.

## What each class does

| Class | What the operator does |
|---|---|
`)
	for _, c := range classDoc {
		fmt.Fprintf(&b, "| %s | %s |\n", c.class, c.does)
	}
	b.WriteString(`
## The table

| ErrorCode or HTTP status | Class | Meaning |
|---|---|---|
`)
	for _, r := range Table {
		what := fmt.Sprintf("%d", r.Code)
		switch {
		case r.HTTPStatus != 0:
			what = fmt.Sprintf("HTTP %d", r.HTTPStatus)
		case r.CodeLast != 0:
			what = fmt.Sprintf("%d-%d", r.Code, r.CodeLast)
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", what, r.Class, r.Meaning)
	}
	b.WriteString(`
Sources: Tencent Cloud IM "REST API common error codes" and "Account error
codes" (cloud.tencent.com/document/product/679/131708), and the group API
error codes of each REST command's page.
`)
	return b.String()
}

// Every class the table uses is documented.
func TestEveryClassIsDocumented(t *testing.T) {
	doc := map[Class]bool{}
	for _, c := range classDoc {
		doc[c.class] = true
	}
	for _, r := range Table {
		if !doc[r.Class] {
			t.Errorf("class %q has no entry in classDoc", r.Class)
		}
	}
}
