package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/store"
)

// smsCases: phone numbers are unique, and the SMS outbox hands each text to one claimer.
func smsCases() []testCase {
	return []testCase{
		{"phone-unique-and-found", smsPhoneUnique},
		{"claim-once-then-settle", smsClaimOnce},
	}
}

func smsPhoneUnique(t *testing.T, e *env) {
	const phone = "+4915123456789"
	a := e.user(func(u *store.User) { u.PhoneNumber = ptr(phone) })
	b := e.user()
	got := mustValue(e.st.UserByPhone(e.ctx, phone))(t, "UserByPhone")
	if got.ID != a.ID || len(got.Roles) != 1 {
		t.Fatalf("UserByPhone = %+v, want user %s with its role", got, a.ID)
	}
	err := e.st.SetUserPhone(e.ctx, b.ID, ptr(phone), true)
	var ce *store.ConflictError
	if !errors.As(err, &ce) || ce.Field != "phoneNumber" {
		t.Fatalf("SetUserPhone(taken) = %v, want a phoneNumber conflict", err)
	}
	dup := e.newUser(func(u *store.User) { u.PhoneNumber = ptr(phone) })
	if err := e.st.CreateUser(e.ctx, dup, nil); !errors.As(err, &ce) || ce.Field != "phoneNumber" {
		t.Fatalf("CreateUser(taken phone) = %v, want a phoneNumber conflict", err)
	}
	if err := e.st.MarkPhoneVerified(e.ctx, b.ID, phone); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("MarkPhoneVerified(not the user's number) = %v, want ErrNotFound", err)
	}
	must(t, "MarkPhoneVerified", e.st.MarkPhoneVerified(e.ctx, a.ID, phone))
	must(t, "SetUserPhone(clear)", e.st.SetUserPhone(e.ctx, a.ID, nil, true))
	if _, err := e.st.UserByPhone(e.ctx, phone); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UserByPhone(cleared) = %v, want ErrNotFound", err)
	}
	must(t, "SetUserPhone(free again)", e.st.SetUserPhone(e.ctx, b.ID, ptr(phone), false))
	if got := mustValue(e.st.UserByPhone(e.ctx, phone))(t, "UserByPhone"); got.ID != b.ID || got.PhoneNumberVerified {
		t.Fatalf("UserByPhone = %+v, want user %s, unverified", got, b.ID)
	}
	if err := e.st.SetUserPhone(e.ctx, uuid.New(), nil, false); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SetUserPhone(no user) = %v, want ErrNotFound", err)
	}
}

func smsClaimOnce(t *testing.T, e *env) {
	const texts = 12
	for range texts {
		body := "code"
		must(t, "EnqueueSMS", e.st.EnqueueSMS(e.ctx, &store.OutboxSMS{ID: uuid.New(), Kind: "signin-code", Recipient: "+4915123456789",
			Body: &body, CreatedAt: e.now(), ExpiresAt: e.now().Add(time.Hour)}))
	}
	lease := e.now().Add(time.Hour)
	var mu sync.Mutex
	seen := map[uuid.UUID]int{}
	var wg sync.WaitGroup
	for range racers {
		wg.Go(func() {
			for {
				batch, err := e.st.ClaimDueSMS(e.ctx, 2, lease)
				if err != nil {
					t.Errorf("ClaimDueSMS: %v", err)
					return
				}
				if len(batch) == 0 {
					return
				}
				mu.Lock()
				for _, m := range batch {
					seen[m.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != texts {
		t.Fatalf("%d texts claimed, want %d", len(seen), texts)
	}
	var ids []uuid.UUID
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("text %s claimed %d times", id, n)
		}
		ids = append(ids, id)
	}
	must(t, "MarkSMSSent", e.st.MarkSMSSent(e.ctx, ids[0], "SM1"))
	must(t, "MarkSMSFailed(give up)", e.st.MarkSMSFailed(e.ctx, ids[1], "refused", time.Time{}))
	rows := mustValue(e.st.SMSOutbox(e.ctx, "+4915123456789"))(t, "SMSOutbox")
	for _, m := range rows {
		settled := m.ID == ids[0] || m.ID == ids[1]
		if settled != (m.Body == nil) {
			t.Fatalf("text %s: settled %v, body kept %v", m.ID, settled, m.Body != nil)
		}
		if m.ID == ids[0] && (m.SentAt == nil || m.ProviderID != "SM1") || m.ID == ids[1] && m.FailedAt == nil {
			t.Fatalf("text %s not settled: %+v", m.ID, m)
		}
	}
}
