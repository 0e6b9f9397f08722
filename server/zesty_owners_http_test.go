package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/servertest"
	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/store/testdb"
)

// zRaw sends a Zesty Accounts request from any goroutine: it reports a transport failure as an
// error instead of failing the test, and returns the status. The server still checks the answer
// against the contract.
func zRaw(h *servertest.Harness, method, path, token, body string) (int, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.URL+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := h.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if _, err := io.Copy(io.Discard, res.Body); err != nil {
		return 0, err
	}
	return res.StatusCode, nil
}

// TestZestyLastOwnerRace: owners who demote or remove each other at the same moment never leave
// their instance without an Owner. The guard counts the Owners and then writes; under PostgreSQL's
// read committed, two such transactions each counted two Owners before either wrote, and both
// went through. SQLite's single writer serialises them anyway. Each round starts with three
// Owners taking away the next one's ownership in a ring, all at once.
func TestZestyLastOwnerRace(t *testing.T) {
	h := servertest.Start(t)
	ctx := context.Background()
	const owners = 3
	toks, zuids := make([]string, owners), make([]string, owners)
	for i := range owners {
		toks[i], zuids[i] = zUser(t, h, fmt.Sprintf("race-owner-%d@example.com", i))
	}
	instZUID := zObj(t, zWant(t, h, http.StatusCreated, http.MethodPost, "/v1/instances", toks[0], `{"name":"Race"}`))["ZUID"].(string)
	base := "/v1/instances/" + instZUID
	roles := zRoleZUIDs(t, h, toks[0], instZUID)
	inst, err := h.Store.InstanceByZUID(ctx, instZUID)
	if err != nil {
		t.Fatal(err)
	}
	survivor := 0
	for round := range 40 {
		// Whoever is still Owner makes everyone Owner again (added back after a removal).
		for i := range owners {
			if i == survivor {
				continue
			}
			status, err := zRaw(h, http.MethodPost, base+"/users", toks[survivor], zJSON("userZUID", zuids[i], "roleZUID", roles["owner"]))
			if err != nil || (status != http.StatusOK && status != http.StatusCreated) {
				t.Fatalf("round %d: owner %d makes %d Owner again: %d %v", round, survivor, i, status, err)
			}
		}
		remove := round%2 == 1
		start := make(chan struct{})
		statuses := make([]int, owners)
		var wg sync.WaitGroup
		for i := range owners {
			next := (i + 1) % owners
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				var err error
				if remove {
					statuses[i], err = zRaw(h, http.MethodDelete, base+"/users/"+zuids[next], toks[i], "")
				} else {
					statuses[i], err = zRaw(h, http.MethodPost, base+"/users", toks[i], zJSON("userZUID", zuids[next], "roleZUID", roles["admin"]))
				}
				if err != nil {
					t.Errorf("round %d: owner %d: %v", round, i, err)
				}
			}()
		}
		close(start)
		wg.Wait()
		n := ownersOf(t, h, inst.ID)
		if n < 1 {
			t.Fatalf("round %d (remove=%v): no Owner left; answers %v", round, remove, statuses)
		}
		succeeded := 0
		for i, s := range statuses {
			switch s {
			case http.StatusOK:
				succeeded++
			case http.StatusForbidden, http.StatusConflict, http.StatusNotFound:
				// Refused: the caller had lost ownership (or membership) first, or was the last Owner.
			default:
				t.Fatalf("round %d: owner %d answered %d", round, i, s)
			}
		}
		if succeeded >= owners {
			t.Fatalf("round %d: all %d took ownership away: %v", round, owners, statuses)
		}
		// The next round starts from an Owner who is still one.
		survivor = -1
		for i := range owners {
			if r, err := h.Store.MemberRole(ctx, inst.ID, userIDOfZUID(t, h, zuids[i])); err == nil && r.SystemRole == "owner" {
				survivor = i
				break
			}
		}
		if survivor < 0 {
			t.Fatalf("round %d: no owner found among the three, yet %d counted", round, n)
		}
	}
}

// ownersOf counts the members of an instance whose role grants Owner.
func ownersOf(t *testing.T, h *servertest.Harness, instanceID int64) int {
	t.Helper()
	ms, err := h.Store.InstanceMembers(context.Background(), instanceID)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range ms {
		if m.Role.SystemRole == store.SystemRoleOwner {
			n++
		}
	}
	return n
}

// userIDOfZUID is the id of the user with a ZUID.
func userIDOfZUID(t *testing.T, h *servertest.Harness, zuid string) uuid.UUID {
	t.Helper()
	u, err := h.Store.UserByZUID(context.Background(), zuid)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// TestZestyLastActiveOwner: an Owner whose account is disabled cannot run the instance, so the
// last Owner who can is not let go while only disabled Owners remain. Enabled again, the other
// Owner counts again.
func TestZestyLastActiveOwner(t *testing.T) {
	h := servertest.Start(t, adminSecretOn)
	ctx := context.Background()
	a, _ := zUser(t, h, "active-owner@example.com")
	_, bZUID := zUser(t, h, "disabled-owner@example.com")
	_, cZUID := zUser(t, h, "contributor-member@example.com") // a third member, never an Owner
	instZUID := zObj(t, zWant(t, h, http.StatusCreated, http.MethodPost, "/v1/instances", a, `{"name":"Disabled"}`))["ZUID"].(string)
	base := "/v1/instances/" + instZUID
	roles := zRoleZUIDs(t, h, a, instZUID)
	zWant(t, h, http.StatusCreated, http.MethodPost, base+"/users", a, zJSON("userZUID", bZUID, "roleZUID", roles["owner"]))
	zWant(t, h, http.StatusCreated, http.MethodPost, base+"/users", a, zJSON("userZUID", cZUID, "roleZUID", roles["contributor"]))
	self := zObj(t, zWant(t, h, http.StatusOK, http.MethodGet, "/verify", a, ""))["ZUID"].(string)

	b, err := h.Store.UserByZUID(ctx, bZUID)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := h.Client.AdminDisableUserWithResponse(ctx, b.ID, asAdmin); err != nil || res.StatusCode() != http.StatusOK {
		t.Fatalf("disable: %v %v", err, res)
	}
	h.NoWrites(t, func() {
		zWant(t, h, http.StatusConflict, http.MethodPost, base+"/users", a, zJSON("userZUID", self, "roleZUID", roles["admin"]))
		zWant(t, h, http.StatusConflict, http.MethodDelete, base+"/users/"+self, a, "")
	})
	if res, err := h.Client.AdminEnableUserWithResponse(ctx, b.ID, asAdmin); err != nil || res.StatusCode() != http.StatusOK {
		t.Fatalf("enable: %v %v", err, res)
	}
	zWant(t, h, http.StatusOK, http.MethodPost, base+"/users", a, zJSON("userZUID", self, "roleZUID", roles["admin"]))
}

// TestZestyLastOwnerDeletedOrDisabled: an administrator may delete or disable the last Owner of
// an instance (a departed or compromised account must go, and only an Owner could appoint
// another), and the audit event names the instances left without an Owner who can act. An
// Owner who leaves another enabled Owner behind leaves nothing to report.
func TestZestyLastOwnerDeletedOrDisabled(t *testing.T) {
	h := servertest.Start(t, adminSecretOn)
	ctx := context.Background()
	userOf := func(zuid string) uuid.UUID { return userIDOfZUID(t, h, zuid) }
	lastEvent := func(action string) map[string]any {
		t.Helper()
		defer h.Clock.Advance(time.Second) // the next event is the newest by its time alone
		ev, err := h.Store.AuditEvents(ctx, action, 1)
		if err != nil || len(ev) != 1 {
			t.Fatalf("audit %s: %v %v", action, ev, err)
		}
		return ev[0].Detail
	}
	sole, soleZUID := zUser(t, h, "sole-owner@example.com")
	shared, sharedZUID := zUser(t, h, "shared-owner@example.com")
	_, coZUID := zUser(t, h, "co-owner@example.com")
	alone := zObj(t, zWant(t, h, http.StatusCreated, http.MethodPost, "/v1/instances", sole, `{"name":"Alone"}`))["ZUID"].(string)
	together := zObj(t, zWant(t, h, http.StatusCreated, http.MethodPost, "/v1/instances", shared, `{"name":"Together"}`))["ZUID"].(string)
	zWant(t, h, http.StatusCreated, http.MethodPost, "/v1/instances/"+together+"/users", shared,
		zJSON("userZUID", coZUID, "roleZUID", zRoleZUIDs(t, h, shared, together)["owner"]))

	if res, err := h.Client.AdminDisableUserWithResponse(ctx, userOf(soleZUID), asAdmin); err != nil || res.StatusCode() != http.StatusOK {
		t.Fatalf("disable: %v %v", err, res)
	}
	if got := lastEvent("admin.user_disable")["instances_left_without_owner"]; fmt.Sprint(got) != "["+alone+"]" {
		t.Errorf("disabling the sole Owner: instances_left_without_owner = %v, want [%s]", got, alone)
	}
	if res, err := h.Client.AdminDeleteUserWithResponse(ctx, userOf(soleZUID), asAdmin); err != nil || res.StatusCode() != http.StatusNoContent {
		t.Fatalf("delete: %v %v", err, res)
	}
	if got := lastEvent("admin.user_delete")["instances_left_without_owner"]; fmt.Sprint(got) != "["+alone+"]" {
		t.Errorf("deleting the sole Owner: instances_left_without_owner = %v, want [%s]", got, alone)
	}
	if res, err := h.Client.AdminDeleteUserWithResponse(ctx, userOf(sharedZUID), asAdmin); err != nil || res.StatusCode() != http.StatusNoContent {
		t.Fatalf("delete: %v %v", err, res)
	}
	if got, ok := lastEvent("admin.user_delete")["instances_left_without_owner"]; ok {
		t.Errorf("deleting one of two Owners reports ownerless instances: %v", got)
	}
}

// TestAdminOwnerRemovalWaitsForInstance: an administrator disabling or deleting one of two
// Owners while the other demotes themselves must not leave the instance without an Owner
// unnoticed. The demotion's guard counted the first Owner as still able to act; unless the
// administrator's transaction waits for the instance's lock, it counts the second Owner as still
// one and reports no ownerless instance, and both commit. Here the demotion holds the instance's
// lock (from the test's own connection) until the administrator's request waits for it: that
// request must then see the demotion and name the instance in its audit event.
// PostgreSQL only: SQLite's one writer runs the two transactions one after the other anyway.
func TestAdminOwnerRemovalWaitsForInstance(t *testing.T) {
	if testdb.Backend() != store.Postgres {
		t.Skip("needs PostgreSQL's row locks; SQLite runs one write transaction at a time")
	}
	ctx := context.Background()
	h, st, dsn := startOnOwnSchema(t, adminSecretOn)
	for _, c := range []struct {
		name, action string
		remove       func(id uuid.UUID) (int, error)
	}{
		{"disable", "admin.user_disable", func(id uuid.UUID) (int, error) {
			res, err := h.Client.AdminDisableUserWithResponse(ctx, id, asAdmin)
			if err != nil {
				return 0, err
			}
			return res.StatusCode(), nil
		}},
		{"delete", "admin.user_delete", func(id uuid.UUID) (int, error) {
			res, err := h.Client.AdminDeleteUserWithResponse(ctx, id, asAdmin)
			if err != nil {
				return 0, err
			}
			return res.StatusCode(), nil
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			first, firstZUID := zUser(t, h, "removed-owner-"+c.name+"@example.com")
			_, secondZUID := zUser(t, h, "demoted-owner-"+c.name+"@example.com")
			instZUID := zObj(t, zWant(t, h, http.StatusCreated, http.MethodPost, "/v1/instances", first, `{"name":"Both"}`))["ZUID"].(string)
			roles := zRoleZUIDs(t, h, first, instZUID)
			zWant(t, h, http.StatusCreated, http.MethodPost, "/v1/instances/"+instZUID+"/users", first, zJSON("userZUID", secondZUID, "roleZUID", roles["owner"]))
			inst, err := st.InstanceByZUID(ctx, instZUID)
			if err != nil {
				t.Fatal(err)
			}
			adminRole, err := st.InstanceRoleByZUID(ctx, roles["admin"])
			if err != nil {
				t.Fatal(err)
			}

			// The second Owner's demotion: it holds the instance's lock, has passed its guard
			// (the first Owner can still act) and has written, but not committed.
			tx, pid := holdInstanceLock(t, ctx, dsn, inst.ID)
			if _, err := tx.Exec(ctx, "UPDATE instance_members SET role_id = $1 WHERE instance_id = $2 AND user_id = $3",
				adminRole.ID, inst.ID, userIDOfZUID(t, h, secondZUID)); err != nil {
				t.Fatal(err)
			}
			firstID := userIDOfZUID(t, h, firstZUID)
			answer := blockedBy(t, ctx, dsn, pid, "the administrator's request", func() (int, error) { return c.remove(firstID) })
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if status, err := answer(); err != nil || status/100 != 2 {
				t.Fatalf("the administrator's request: %d %v", status, err)
			}
			ev, err := st.AuditEvents(ctx, c.action, 1)
			if err != nil || len(ev) != 1 {
				t.Fatalf("audit %s: %v %v", c.action, ev, err)
			}
			if got := ev[0].Detail["instances_left_without_owner"]; fmt.Sprint(got) != "["+instZUID+"]" {
				t.Errorf("instances_left_without_owner = %v, want [%s]", got, instZUID)
			}
		})
	}
}

// holdInstanceLock takes the lock a membership change takes on instance id's row, on a
// connection of its own, and returns its open transaction and the backend's pid.
func holdInstanceLock(t *testing.T, ctx context.Context, dsn string, id int64) (pgx.Tx, int) {
	t.Helper()
	holder, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Close(context.Background()) })
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	var pid int
	if err := tx.QueryRow(ctx, "SELECT pg_backend_pid() FROM instances WHERE id = $1 FOR NO KEY UPDATE", id).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	return tx, pid
}

// blockedBy starts do in the background and returns once PostgreSQL shows it waiting for a lock
// that backend pid holds; it fails the test if do finishes first, or never waits. The returned
// func waits (at most 10 s) for do's answer once the lock is let go.
func blockedBy(t *testing.T, ctx context.Context, dsn string, pid int, what string, do func() (int, error)) (answer func() (int, error)) {
	t.Helper()
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		status, err := do()
		done <- result{status, err}
	}()
	watcher, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for waiting := 0; waiting == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%s never waited for the instance lock", what)
		}
		select {
		case r := <-done:
			t.Fatalf("%s finished without waiting for the instance lock: %d %v", what, r.status, r.err)
		default:
		}
		if err := watcher.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", pid).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
	}
	return func() (int, error) {
		select {
		case r := <-done:
			return r.status, r.err
		case <-time.After(10 * time.Second):
			t.Fatalf("%s did not finish once the lock was let go", what)
			return 0, nil
		}
	}
}

// startOnOwnSchema starts a server on a PostgreSQL schema of the test's own and returns the
// schema's URL too, for tests that hold locks from connections of their own.
func startOnOwnSchema(t *testing.T, opts ...func(*server.Config)) (*servertest.Harness, *store.Store, string) {
	t.Helper()
	ctx := context.Background()
	clock := testdb.NewClock()
	dsn := testdb.PostgresSchema(t)
	st, err := store.Open(ctx, store.Options{URL: dsn, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return servertest.StartOn(t, st, clock, opts...), st, dsn
}
