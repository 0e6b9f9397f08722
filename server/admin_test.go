package server

import (
	"net/http"
	"testing"

	"github.com/latchkey/latchkey/gen"
)

// TestAdminRendersEveryCode: every Code, the admin API's own included, renders in the admin shape
// with a status of 400 or more and a code of the contract's enum; field problems are keyed by
// field without the pointer's slash.
func TestAdminRendersEveryCode(t *testing.T) {
	s := &Server{cfg: DefaultConfig()}
	enum := map[gen.AdminErrorError]bool{}
	for _, c := range []string{"invalid-request", "unauthenticated", "forbidden", "not-found", "method-not-allowed", "conflict",
		"payload-too-large", "unsupported-media-type", "internal"} {
		enum[gen.AdminErrorError(c)] = true
	}
	for _, code := range append(Codes, CodeForbidden, CodeConflict) {
		r := dialectAdmin.render(s, &Error{Code: code}, "")
		b, ok := r.Body.(gen.AdminError)
		if !ok || r.Status < 400 || b.Status != r.Status || !enum[b.Error] || b.Message == "" {
			t.Errorf("code=%s: %d %+v", code, r.Status, r.Body)
		}
	}
	r := renderAdmin(s, &Error{Code: CodeInvalidRequest, Fields: []FieldError{{Field: "/email", Reason: "bad"}, {Field: "/email", Reason: "worse"}, {Field: "limit", Reason: "too big"}}})
	b := r.Body.(gen.AdminError)
	if r.Status != http.StatusBadRequest || b.Fields == nil || (*b.Fields)["email"] != "bad; worse" || (*b.Fields)["limit"] != "too big" {
		t.Errorf("fields: %+v", b)
	}
	if got := dialectForPath("/v1/admin/anything"); got != dialectAdmin {
		t.Errorf("dialectForPath(/v1/admin/anything) = %s", got)
	}
	if got := dialectForPath("/v1/administrators"); got != dialectNhost {
		t.Errorf("dialectForPath(/v1/administrators) = %s", got)
	}
}
