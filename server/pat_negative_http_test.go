package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/server/servertest"
)

// TestPATNegative runs the negative scenarios of listing and ending personal access tokens, in
// the style of TestNhostNegative: bad credentials are 401, ids that are not the caller's live
// PATs are 404, malformed ids 400, and none of them writes anything.
func TestPATNegative(t *testing.T) {
	runNegativeTable(t, []negOp{
		{"listPATs", listPATsNegative()},
		{"deletePAT", deletePATNegative()},
	})
}

func listPATsNegative() []negCase {
	return negForOp(http.MethodGet, "/v1/pat", fxUser,
		negAuthCases(fxUser, "", false),
	)
}

// fxOtherPAT signs up {{takenEmail}} and mints a PAT of theirs: {{otherPatId}}.
func fxOtherPAT(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	fxOtherUser(t, h, f)
	id, pat := mintPAT(t, h, f.get(t, "otherAccess"), "theirs")
	f.set("otherPatId", id, false)
	f.secrets = append(f.secrets, pat)
}

// fxDeletePAT ends {{patId}} through the API.
func fxDeletePAT(t *testing.T, h *servertest.Harness, f *negFixture) {
	t.Helper()
	res, err := h.Client.DeletePATWithResponse(context.Background(), f.get(t, "patId"), servertest.Bearer(f.get(t, "access")))
	if err != nil || res.StatusCode() != http.StatusOK {
		t.Fatalf("delete PAT: %v %v", err, res)
	}
}

func deletePATNegative() []negCase {
	const path = "/v1/pat/{{patId}}"
	withPAT := fxSteps(fxUser, fxPAT)
	notFound := func(name string, setup negSetup, path string) negCase {
		c := negRow(name, http.StatusNotFound, gen.ErrorResponseErrorInvalidRequest)
		c.setup, c.path = setup, path
		return c
	}
	badID := func(name, id string) negCase {
		c := negRow(name, http.StatusBadRequest, gen.ErrorResponseErrorInvalidRequest)
		c.path = "/v1/pat/" + id
		return c
	}
	// A PAT that has expired: minted, then the clock moves past it, then the user signs in again.
	expired := notFound("expired-pat", fxSteps(withPAT, fxAdvance(2*time.Hour), func(t *testing.T, h *servertest.Harness, f *negFixture) {
		fxSetSession(f, signIn(t, h, f.get(t, "email"), pwOwner))
	}), path)
	return negForOp(http.MethodDelete, path, withPAT,
		negAuthCases(withPAT, "", false),
		negAuthed(
			notFound("another-users-pat", fxSteps(withPAT, fxOtherPAT), "/v1/pat/{{otherPatId}}"),
			notFound("unknown-id", withPAT, "/v1/pat/"+uuid.NewString()),
			notFound("already-deleted", fxSteps(withPAT, fxDeletePAT), path),
			expired,
			badID("not-a-uuid", "not-a-uuid"),
			badID("upper-case-uuid", strings.ToUpper(uuid.NewString())),
			badID("uuid-without-dashes", strings.ReplaceAll(uuid.NewString(), "-", "")),
			badID("uuid-with-braces", "%7B"+uuid.NewString()+"%7D"),
		),
		negAuthed(negMethodCases(path, http.MethodGet, http.MethodPost, http.MethodPut)...),
	)
}
