package apps

import (
	"slices"
	"testing"
	"time"
)

// Of two apps with one SDKAppID the default app, then the older, serves it;
// the other is never returned. Subscribers hear of a change, not of a Set
// that changes nothing, and of the apps whose serving it moves.
func TestRegistryServesOneAppPerSDKAppIDAndTellsOfChanges(t *testing.T) {
	r := New()
	var heard []string
	r.Subscribe(func(name string) { heard = append(heard, name) })
	t0 := time.Unix(1000, 0)

	r.Set(App{Name: "older", SDKAppID: 7, Since: t0})
	r.Set(App{Name: "newer", SDKAppID: 7, Since: t0.Add(time.Hour)})
	if a, ok := r.BySDKAppID(7); !ok || a.Name != "older" {
		t.Fatalf("SDKAppID 7 served by %v, want older", a)
	}
	if _, dupOf, ok := r.Lookup("newer"); ok || dupOf != "older" {
		t.Fatalf("Lookup(newer) = ok %v dupOf %q, want a duplicate of older", ok, dupOf)
	}
	if !r.Has("newer") || !r.Has("older") || r.Has("nothing") {
		t.Fatalf("Has: newer %v, older %v, nothing %v; want a duplicate and the app it copies loaded, nothing not", r.Has("newer"), r.Has("older"), r.Has("nothing"))
	}

	heard = nil
	r.Set(App{Name: "older", SDKAppID: 7, Since: t0}) // the same again
	if len(heard) != 0 {
		t.Fatalf("an unchanged Set notified %v", heard)
	}
	r.Set(App{Name: DefaultName, SDKAppID: 7})
	if a, _ := r.BySDKAppID(7); a.Name != DefaultName {
		t.Fatalf("the default app does not win its SDKAppID: %s", a.Name)
	}
	slices.Sort(heard)
	if !slices.Equal(heard, []string{DefaultName, "newer", "older"}) {
		t.Fatalf("notified %v, want the default app and both apps it displaced", heard)
	}

	heard = nil
	r.Delete(DefaultName)
	r.Delete("nothing") // unknown: no notification
	if a, _ := r.BySDKAppID(7); a.Name != "older" {
		t.Fatalf("after the default app went, SDKAppID 7 served by %s, want older", a.Name)
	}
	if len(heard) != 3 {
		t.Fatalf("notified %v, want default, newer, older", heard)
	}
	if got := r.Serving(); len(got) != 1 || got[0].Name != "older" {
		t.Fatalf("Serving() = %v, want only older", got)
	}

	r.Set(App{Name: "rotating", SDKAppID: 9, CredentialsVersion: CredentialsVersion("k1")})
	heard = nil
	r.Set(App{Name: "rotating", SDKAppID: 9, CredentialsVersion: CredentialsVersion("k2")})
	if !slices.Equal(heard, []string{"rotating"}) {
		t.Fatalf("a new key notified %v, want rotating", heard)
	}
}

func TestAllowsAndNames(t *testing.T) {
	a := &App{Name: "shop", AllowedNamespaces: []string{"shop"}}
	if !a.Allows("shop") || a.Allows("games") {
		t.Fatal("allowedNamespaces not applied")
	}
	if !(&App{Name: "any"}).Allows("games") {
		t.Fatal("no allowedNamespaces must allow every namespace")
	}
	if NameOfRef("") != DefaultName || NameOfRef("shop") != "shop" {
		t.Fatal("NameOfRef")
	}
	if (&App{Name: DefaultName}).Ref() != "" || a.Ref() != "shop" {
		t.Fatal("Ref")
	}
}
