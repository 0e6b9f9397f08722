package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/store"
)

// The TOTP second factor's store methods (store/mfa.go).

func mfaCases() []testCase {
	return []testCase{
		{"totp-pending-active-disabled", mfaTOTPLifecycle},
		{"totp-step-only-forward", mfaTOTPSteps},
		{"mfa-ticket-every-column-and-use", mfaTicketUse},
		{"recovery-codes-replace-and-spend", mfaRecoveryCodes},
		{"sealed-values-reseal", mfaSealedValues},
	}
}

func mfaTOTPLifecycle(t *testing.T, e *env) {
	u := e.user()
	if _, err := e.st.TOTPState(e.ctx, uuid.New()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TOTPState(unknown) = %v, want ErrNotFound", err)
	}
	if err := e.st.SetPendingTOTP(e.ctx, uuid.New(), "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetPendingTOTP(unknown) = %v, want ErrNotFound", err)
	}
	if ok, err := e.st.ActivateTOTP(e.ctx, u.ID); err != nil || ok {
		t.Errorf("ActivateTOTP with no secret = %v, %v; want false", ok, err)
	}
	must(t, "SetPendingTOTP", e.st.SetPendingTOTP(e.ctx, u.ID, "sealed-1"))
	must(t, "SetPendingTOTP again (replaces)", e.st.SetPendingTOTP(e.ctx, u.ID, "sealed-2"))
	st, err := e.st.TOTPState(e.ctx, u.ID)
	if err != nil || st.Sealed == nil || *st.Sealed != "sealed-2" || st.Active || st.LastStep != nil {
		t.Fatalf("pending state = %+v, %v", st, err)
	}
	if ok, err := e.st.ActivateTOTP(e.ctx, u.ID); err != nil || !ok {
		t.Fatalf("ActivateTOTP = %v, %v", ok, err)
	}
	if ok, _ := e.st.ActivateTOTP(e.ctx, u.ID); ok {
		t.Error("ActivateTOTP twice succeeded")
	}
	if err := e.st.SetPendingTOTP(e.ctx, u.ID, "sealed-3"); !errors.Is(err, store.ErrTOTPActive) {
		t.Errorf("SetPendingTOTP while active = %v, want ErrTOTPActive", err)
	}
	if got := e.userByID(u.ID); got.ActiveMFAType == nil || *got.ActiveMFAType != store.MFATypeTOTP {
		t.Errorf("user active_mfa_type = %v, want totp", got.ActiveMFAType)
	}
	must(t, "ReplaceRecoveryCodes", e.st.ReplaceRecoveryCodes(e.ctx, u.ID, []store.RecoveryCode{
		{ID: uuid.New(), UserID: u.ID, CodeHash: []byte("h1"), CreatedAt: e.now()}}))
	if was, err := e.st.DisableTOTP(e.ctx, u.ID); err != nil || !was {
		t.Fatalf("DisableTOTP = %v, %v", was, err)
	}
	st, _ = e.st.TOTPState(e.ctx, u.ID)
	if st.Sealed != nil || st.Active || st.LastStep != nil {
		t.Errorf("state after DisableTOTP = %+v, want empty", st)
	}
	if ok, _ := e.st.SpendRecoveryCode(e.ctx, u.ID, []byte("h1")); ok {
		t.Error("a recovery code outlived DisableTOTP")
	}
	if was, err := e.st.DisableTOTP(e.ctx, u.ID); err != nil || was {
		t.Errorf("DisableTOTP again = %v, %v; want false", was, err)
	}
}

func mfaTOTPSteps(t *testing.T, e *env) {
	u := e.user()
	if ok, _ := e.st.AcceptTOTPStep(e.ctx, u.ID, 100); ok {
		t.Error("AcceptTOTPStep with no secret succeeded")
	}
	must(t, "SetPendingTOTP", e.st.SetPendingTOTP(e.ctx, u.ID, "sealed"))
	for _, c := range []struct {
		step int64
		want bool
	}{{100, true}, {100, false}, {99, false}, {101, true}, {1 << 40, true}} {
		if ok, err := e.st.AcceptTOTPStep(e.ctx, u.ID, c.step); err != nil || ok != c.want {
			t.Errorf("AcceptTOTPStep(%d) = %v, %v; want %v", c.step, ok, err, c.want)
		}
	}
	if st, _ := e.st.TOTPState(e.ctx, u.ID); st.LastStep == nil || *st.LastStep != 1<<40 {
		t.Errorf("last step = %v, want %d", st.LastStep, int64(1<<40))
	}
}

func mfaTicketUse(t *testing.T, e *env) {
	u := e.user()
	tk := &store.MFATicket{ID: uuid.New(), UserID: u.ID, TokenHash: []byte("ticket-hash-0123456789abcdef0123"), Method: "password",
		CreatedAt: e.now(), ExpiresAt: e.now().Add(5 * time.Minute)}
	must(t, "CreateMFATicket", e.st.CreateMFATicket(e.ctx, tk))
	got, err := e.st.UsableMFATicket(e.ctx, tk.TokenHash, 2)
	if err != nil || got.ID != tk.ID || got.UserID != u.ID || got.Method != "password" || got.Attempts != 0 ||
		!got.CreatedAt.Equal(tk.CreatedAt) || !got.ExpiresAt.Equal(tk.ExpiresAt) || got.UsedAt != nil {
		t.Fatalf("UsableMFATicket = %+v, %v; want %+v", got, err, tk)
	}
	for i, want := range []bool{true, true, false} {
		if ok, err := e.st.TakeMFATicketAttempt(e.ctx, tk.ID, 2); err != nil || ok != want {
			t.Errorf("TakeMFATicketAttempt #%d = %v, %v; want %v", i, ok, err, want)
		}
	}
	if _, err := e.st.UsableMFATicket(e.ctx, tk.TokenHash, 2); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UsableMFATicket out of tries = %v, want ErrNotFound", err)
	}
	must(t, "SpendMFATicket", e.st.SpendMFATicket(e.ctx, tk.ID))
	if err := e.st.SpendMFATicket(e.ctx, tk.ID); !errors.Is(err, store.ErrAlreadyUsed) {
		t.Errorf("SpendMFATicket twice = %v, want ErrAlreadyUsed", err)
	}
	late := &store.MFATicket{ID: uuid.New(), UserID: u.ID, TokenHash: []byte("ticket-hash-late"), Method: "magic-link",
		CreatedAt: e.now(), ExpiresAt: e.now().Add(time.Minute)}
	must(t, "CreateMFATicket", e.st.CreateMFATicket(e.ctx, late))
	e.clock.Advance(time.Minute)
	if _, err := e.st.UsableMFATicket(e.ctx, late.TokenHash, 5); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UsableMFATicket at expiry = %v, want ErrNotFound", err)
	}
	if err := e.st.SpendMFATicket(e.ctx, late.ID); !errors.Is(err, store.ErrAlreadyUsed) {
		t.Errorf("SpendMFATicket at expiry = %v, want ErrAlreadyUsed", err)
	}
}

func mfaRecoveryCodes(t *testing.T, e *env) {
	u, other := e.user(), e.user()
	codes := func(hashes ...string) []store.RecoveryCode {
		var out []store.RecoveryCode
		for _, h := range hashes {
			out = append(out, store.RecoveryCode{ID: uuid.New(), UserID: u.ID, CodeHash: []byte(h), CreatedAt: e.now()})
		}
		return out
	}
	must(t, "ReplaceRecoveryCodes", e.st.ReplaceRecoveryCodes(e.ctx, u.ID, codes("a", "b")))
	if ok, _ := e.st.SpendRecoveryCode(e.ctx, other.ID, []byte("a")); ok {
		t.Error("another user spent the code")
	}
	if ok, err := e.st.SpendRecoveryCode(e.ctx, u.ID, []byte("a")); err != nil || !ok {
		t.Errorf("SpendRecoveryCode = %v, %v", ok, err)
	}
	if ok, _ := e.st.SpendRecoveryCode(e.ctx, u.ID, []byte("a")); ok {
		t.Error("a recovery code was spent twice")
	}
	must(t, "ReplaceRecoveryCodes", e.st.ReplaceRecoveryCodes(e.ctx, u.ID, codes("c")))
	if ok, _ := e.st.SpendRecoveryCode(e.ctx, u.ID, []byte("b")); ok {
		t.Error("a replaced recovery code was spent")
	}
	if ok, _ := e.st.SpendRecoveryCode(e.ctx, u.ID, []byte("c")); !ok {
		t.Error("the new recovery code was refused")
	}
}

func mfaSealedValues(t *testing.T, e *env) {
	u, _ := e.user(), e.user() // the second has no secret: not listed
	must(t, "SetPendingTOTP", e.st.SetPendingTOTP(e.ctx, u.ID, "old"))
	col := store.SealedColumns[0]
	vals, err := e.st.SealedValues(e.ctx, col)
	if err != nil || len(vals) != 1 || vals[0].ID != u.ID || vals[0].Sealed != "old" {
		t.Fatalf("SealedValues = %+v, %v; want only %s's", vals, err, u.ID)
	}
	if ok, err := e.st.ResealValue(e.ctx, col, u.ID, "stale", "new"); err != nil || ok {
		t.Errorf("ResealValue of a changed value = %v, %v; want false", ok, err)
	}
	if ok, err := e.st.ResealValue(e.ctx, col, u.ID, "old", "new"); err != nil || !ok {
		t.Errorf("ResealValue = %v, %v", ok, err)
	}
	if st, _ := e.st.TOTPState(e.ctx, u.ID); st.Sealed == nil || *st.Sealed != "new" {
		t.Errorf("after ResealValue: %+v", st)
	}
}

// raceAcceptTOTPStep: 16 instances accept the same code at once; exactly one may.
func raceAcceptTOTPStep(t *testing.T, e *env, inTx bool) {
	u := e.user()
	must(t, "SetPendingTOTP", e.st.SetPendingTOTP(e.ctx, u.ID, "sealed"))
	for i := range raceIterations {
		oks := make([]bool, racers)
		errs := e.atOnce(racers, inTx, func(g int, st *store.Store) error {
			var err error
			oks[g], err = st.AcceptTOTPStep(e.ctx, u.ID, int64(1000+i))
			return err
		})
		won := 0
		for g, err := range errs {
			if err != nil {
				t.Fatalf("iteration %d goroutine %d: %v", i, g, err)
			}
			if oks[g] {
				won++
			}
		}
		if won != 1 {
			t.Fatalf("iteration %d: %d accepted the same step, want 1", i, won)
		}
	}
}

// raceSpendRecoveryCode: 16 sign-ins present the same recovery code at once; exactly one spends it.
func raceSpendRecoveryCode(t *testing.T, e *env, inTx bool) {
	u := e.user()
	for i := range raceIterations / 2 {
		hash := []byte{byte(i), 'r', 'c'}
		must(t, "ReplaceRecoveryCodes", e.st.ReplaceRecoveryCodes(e.ctx, u.ID,
			[]store.RecoveryCode{{ID: uuid.New(), UserID: u.ID, CodeHash: hash, CreatedAt: e.now()}}))
		oks := make([]bool, racers)
		errs := e.atOnce(racers, inTx, func(g int, st *store.Store) error {
			var err error
			oks[g], err = st.SpendRecoveryCode(e.ctx, u.ID, hash)
			return err
		})
		won := 0
		for g, err := range errs {
			if err != nil {
				t.Fatalf("iteration %d goroutine %d: %v", i, g, err)
			}
			if oks[g] {
				won++
			}
		}
		if won != 1 {
			t.Fatalf("iteration %d: the code was spent %d times, want 1", i, won)
		}
	}
}
