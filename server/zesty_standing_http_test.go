package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/server/servertest"
	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/store/testdb"
)

// TestZestyTokenCreatorStanding: an access token acts only while its creator is an enabled
// member of its instance with at least the token's role. Once the creator is removed, demoted
// below the token, disabled or deleted, the token is answered as a stranger to the instance
// (404) and changes nothing, while the instance's Owner still sees and deletes it. Standing
// restored, the token acts again: it never had more power than its creator lends it.
func TestZestyTokenCreatorStanding(t *testing.T) {
	h := servertest.Start(t, adminSecretOn)
	ctx := context.Background()
	owner, _ := zUser(t, h, "standing-owner@example.com")
	_, strangerZUID := zUser(t, h, "standing-stranger@example.com")
	type fixture struct {
		base, creatorZUID string
		roles             map[string]string
	}
	admin := func(t *testing.T, do func(ctx context.Context, id uuid.UUID) (int, error), zuid string) {
		t.Helper()
		u, err := h.Store.UserByZUID(ctx, zuid)
		if err != nil {
			t.Fatal(err)
		}
		if status, err := do(ctx, u.ID); err != nil || status/100 != 2 {
			t.Fatalf("admin call: %d %v", status, err)
		}
	}
	disable := func(ctx context.Context, id uuid.UUID) (int, error) {
		res, err := h.Client.AdminDisableUserWithResponse(ctx, id, asAdmin)
		if err != nil {
			return 0, err
		}
		return res.StatusCode(), nil
	}
	enable := func(ctx context.Context, id uuid.UUID) (int, error) {
		res, err := h.Client.AdminEnableUserWithResponse(ctx, id, asAdmin)
		if err != nil {
			return 0, err
		}
		return res.StatusCode(), nil
	}
	remove := func(ctx context.Context, id uuid.UUID) (int, error) {
		res, err := h.Client.AdminDeleteUserWithResponse(ctx, id, asAdmin)
		if err != nil {
			return 0, err
		}
		return res.StatusCode(), nil
	}
	for i, c := range []struct {
		name    string
		lapse   func(t *testing.T, f fixture)
		restore func(t *testing.T, f fixture) // nil: the standing cannot come back
	}{
		{"removed-from-instance", func(t *testing.T, f fixture) {
			zWant(t, h, http.StatusOK, http.MethodDelete, f.base+"/users/"+f.creatorZUID, owner, "")
		}, func(t *testing.T, f fixture) {
			zWant(t, h, http.StatusCreated, http.MethodPost, f.base+"/users", owner, zJSON("userZUID", f.creatorZUID, "roleZUID", f.roles["admin"]))
		}},
		{"demoted-below-the-token", func(t *testing.T, f fixture) {
			zWant(t, h, http.StatusOK, http.MethodPost, f.base+"/users", owner, zJSON("userZUID", f.creatorZUID, "roleZUID", f.roles["developer"]))
		}, func(t *testing.T, f fixture) {
			zWant(t, h, http.StatusOK, http.MethodPost, f.base+"/users", owner, zJSON("userZUID", f.creatorZUID, "roleZUID", f.roles["admin"]))
		}},
		{"disabled", func(t *testing.T, f fixture) { admin(t, disable, f.creatorZUID) },
			func(t *testing.T, f fixture) { admin(t, enable, f.creatorZUID) }},
		{"deleted", func(t *testing.T, f fixture) { admin(t, remove, f.creatorZUID) }, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			inst := zObj(t, zWant(t, h, http.StatusCreated, http.MethodPost, "/v1/instances", owner, `{"name":"Standing"}`))["ZUID"].(string)
			f := fixture{base: "/v1/instances/" + inst, roles: zRoleZUIDs(t, h, owner, inst)}
			var creator string
			creator, f.creatorZUID = zUser(t, h, fmt.Sprintf("standing-creator-%d@example.com", i))
			zWant(t, h, http.StatusCreated, http.MethodPost, f.base+"/users", owner, zJSON("userZUID", f.creatorZUID, "roleZUID", f.roles["admin"]))
			created := zObj(t, zWant(t, h, http.StatusCreated, http.MethodPost, "/v1/tokens", creator, zJSON("name", "ci-"+c.name, "roleZUID", f.roles["admin"])))
			tok, tokZUID := created["token"].(string), created["ZUID"].(string)
			zWant(t, h, http.StatusOK, http.MethodGet, f.base, tok, "")
			zWant(t, h, http.StatusOK, http.MethodGet, "/verify", tok, "")

			c.lapse(t, f)
			// Only the token's last use is recorded; membership, roles and the instance stay.
			h.NoWrites(t, func() {
				// It can act for nothing, so it verifies as an unknown token does.
				status, lapsed := zAcc(t, h, http.MethodGet, "/verify", tok, "")
				_, unknown := zAcc(t, h, http.MethodGet, "/verify", tok[:len(tok)-1]+otherDigit(tok[len(tok)-1]), "")
				if status != http.StatusUnauthorized || fmt.Sprint(lapsed) != fmt.Sprint(unknown) {
					t.Errorf("GET /verify with a lapsed token: %d %v, want 401 as an unknown token gets: %v", status, lapsed, unknown)
				}
				zWant(t, h, http.StatusNotFound, http.MethodGet, f.base, tok, "")
				zWant(t, h, http.StatusNotFound, http.MethodGet, f.base+"/users/roles", tok, "")
				zWant(t, h, http.StatusNotFound, http.MethodPut, f.base, tok, `{"name":"pwned"}`)
				zWant(t, h, http.StatusNotFound, http.MethodPost, f.base+"/users", tok, zJSON("userZUID", strangerZUID, "roleZUID", f.roles["owner"]))
				if c.restore != nil { // the creator still exists: the token cannot re-add them either
					zWant(t, h, http.StatusNotFound, http.MethodPost, f.base+"/users", tok, zJSON("userZUID", f.creatorZUID, "roleZUID", f.roles["admin"]))
				}
				zWant(t, h, http.StatusNotFound, http.MethodGet, "/v1/roles/"+f.roles["seo"], tok, "")
				zWant(t, h, http.StatusNotFound, http.MethodGet, "/v1/tokens/"+tokZUID, tok, "")
				if got := zWant(t, h, http.StatusOK, http.MethodGet, "/v1/instances", tok, "").([]any); len(got) != 0 {
					t.Errorf("instances of a token whose creator lapsed: %v", got)
				}
				if got := zWant(t, h, http.StatusOK, http.MethodGet, "/v1/tokens", tok, "").([]any); len(got) != 0 {
					t.Errorf("tokens seen by a token whose creator lapsed: %v", got)
				}
			}, "api_tokens")
			// The Owner still sees it among the instance's tokens.
			zWant(t, h, http.StatusOK, http.MethodGet, "/v1/tokens/"+tokZUID, owner, "")
			seen := false
			for _, x := range zWant(t, h, http.StatusOK, http.MethodGet, "/v1/tokens", owner, "").([]any) {
				seen = seen || zObj(t, x)["ZUID"] == tokZUID
			}
			if !seen {
				t.Errorf("the Owner's token list lacks the lapsed token %s", tokZUID)
			}
			if c.restore != nil {
				c.restore(t, f)
				zWant(t, h, http.StatusOK, http.MethodGet, f.base, tok, "")
				zWant(t, h, http.StatusOK, http.MethodGet, "/verify", tok, "")
			}
			zWant(t, h, http.StatusOK, http.MethodDelete, "/v1/tokens/"+tokZUID, owner, "")
			zWant(t, h, http.StatusUnauthorized, http.MethodGet, f.base, tok, "")
		})
	}
}

// TestZestyTokenCreatorRemovedMidRequest: a token authenticated while its creator still stood
// behind it, whose creator is removed while its request waits for the instance, is refused once
// it gets there: membership changes check the creator's standing again under the instance lock,
// so the token cannot re-add anyone (its creator included) a moment after the removal.
// PostgreSQL only: the test holds the instance's row lock from its own connection, which SQLite
// has no equivalent of (its one writer would hold the token's authentication back instead, which
// then sees the removal).
func TestZestyTokenCreatorRemovedMidRequest(t *testing.T) {
	if testdb.Backend() != store.Postgres {
		t.Skip("needs PostgreSQL's row locks; SQLite serialises authentication with the removal")
	}
	ctx := context.Background()
	h, st, dsn := startOnOwnSchema(t)
	owner, _ := zUser(t, h, "midway-owner@example.com")
	creator, creatorZUID := zUser(t, h, "midway-creator@example.com")
	_, strangerZUID := zUser(t, h, "midway-stranger@example.com")
	instZUID := zObj(t, zWant(t, h, http.StatusCreated, http.MethodPost, "/v1/instances", owner, `{"name":"Midway"}`))["ZUID"].(string)
	base := "/v1/instances/" + instZUID
	roles := zRoleZUIDs(t, h, owner, instZUID)
	zWant(t, h, http.StatusCreated, http.MethodPost, base+"/users", owner, zJSON("userZUID", creatorZUID, "roleZUID", roles["admin"]))
	tok := zObj(t, zWant(t, h, http.StatusCreated, http.MethodPost, "/v1/tokens", creator, zJSON("name", "midway", "roleZUID", roles["admin"])))["token"].(string)
	inst, err := st.InstanceByZUID(ctx, instZUID)
	if err != nil {
		t.Fatal(err)
	}
	creatorID, strangerID := userIDOfZUID(t, h, creatorZUID), userIDOfZUID(t, h, strangerZUID)

	// Take the instance's lock, as a concurrent removal of the creator would. The token's request
	// authenticates (its creator still stands) and waits for the lock.
	tx, pid := holdInstanceLock(t, ctx, dsn, inst.ID)
	answer := blockedBy(t, ctx, dsn, pid, "the token's request", func() (int, error) {
		return zRaw(h, http.MethodPost, base+"/users", tok, zJSON("userZUID", strangerZUID, "roleZUID", roles["admin"]))
	})

	// The creator is removed and the lock let go: the waiting request must now be refused.
	if _, err := tx.Exec(ctx, "DELETE FROM instance_members WHERE instance_id = $1 AND user_id = $2", inst.ID, creatorID); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if status, err := answer(); err != nil || status != http.StatusNotFound {
		t.Fatalf("the token's request after its creator's removal: %d %v, want 404", status, err)
	}
	if _, err := st.MemberRole(ctx, inst.ID, strangerID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the stranger was added by a token whose creator had been removed: %v", err)
	}
}

// otherDigit is a digit other than c: a token with its last character swapped for it is unknown.
func otherDigit(c byte) string {
	if c == '0' {
		return "1"
	}
	return "0"
}
