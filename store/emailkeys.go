package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/pressly/goose/v3"
	"gorm.io/gorm"
)

// emailKeysVersion is the migration that brings the addresses stored before the one address rule
// (email.go) under it. Until then an address was keyed by strings.ToLower: ceo@İbm.com had the
// key ceo@ibm.com, and an address written with capitals or decomposed letters outside ASCII
// (Åsa@x.se, ZOË@Example.org, Zoe + combining diaeresis) was stored as given, in a form the rule
// no longer accepts. For each user whose address has characters outside ASCII:
//
//   - An address already in the rule's form (zoë@müller.de, Zoë@Müller.de) keeps its key, which
//     is the one it had: nothing changes.
//   - An address whose canonical form (lower case, NFC; canonicalLegacyEmail) names the same
//     mailbox is rewritten to it and keyed by it: Åsa@x.se becomes åsa@x.se, keyed åsa@x.se as
//     before, and its owner signs in typing åsa@x.se as before.
//   - Otherwise the row is isolated: it keeps its stored address and is keyed by it (its ASCII
//     letters lower-cased), so it never again answers for the address its old key named, and no
//     dialect accepts its address, which is left for an operator to correct. That is a row whose
//     lower-casing turned a letter into an ASCII one (İ, the Kelvin sign), whose mail went to
//     another domain than its canonical form names (IDNA), or whose canonical form is another
//     row's key (Zoe + diaeresis beside ZOË, who keeps zoë): a key is taken by the row that held
//     it before (the one whose old key it is), and by nobody when several rows want it and none
//     held it.
//
// Pending tickets follow their user's address when they were mailed to it, and are otherwise
// (an address change) brought under the rule alone. Every row changed or isolated is logged by
// id and reason, never by address, and recorded in the audit log (action user.email_migrated).
//
// The migration is Go, not SQL, because it needs Unicode case mapping, normalisation and IDNA,
// which neither database offers alike; as a registered goose migration it runs once, inside
// goose's transaction and under its lock, like the SQL ones. It decides from the stored
// addresses, not the keys, so it serves as well a database that ran the first version of
// migration 7 (which keyed every such row by its stored address, locking out their owners);
// that migration is now empty. Down keeps the keys: the old ones are what let one address
// stand for another.
const emailKeysVersion = 9

// auditEmailMigrated is the audit action of a user row the migration rewrote or isolated.
const auditEmailMigrated = "user.email_migrated"

func (s *Store) emailKeysMigration() *goose.Migration {
	return goose.NewGoMigration(emailKeysVersion, &goose.GoFunc{RunTx: s.migrateEmailKeys}, nil)
}

// emailRow is a user's address and key as stored (key "" for none).
type emailRow struct {
	id         uuid.UUID
	email, key string
}

// ticketAddress is an unused ticket's address and key as stored.
type ticketAddress struct {
	id, userID uuid.UUID
	email, key string
}

// What the migration does to a row.
const (
	emailUnchanged = "unchanged"
	emailRewritten = "rewritten" // to its canonical form, keyed by it
	emailRekeyed   = "rekeyed"   // already in the rule's form, but keyed otherwise (by hand)
	emailIsolated  = "isolated"  // keyed by its stored address, which no dialect accepts
)

// Why a row is isolated.
const (
	isolatedLookAlike = "look-alike" // its lower case names another mailbox, or is no address the rule accepts
	isolatedCollision = "collision"  // its canonical form is another row's address
)

// emailPlan is what becomes of one row.
type emailPlan struct {
	row        emailRow
	email, key string // afterwards
	result     string // emailUnchanged ... emailIsolated
	reason     string // for emailIsolated
}

func (p *emailPlan) isolate(reason string) {
	p.email, p.key, p.result, p.reason = p.row.email, NormalizeEmail(p.row.email), emailIsolated, reason
}

// oldKey is the key the code before the rule gave an address.
func oldKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// planEmailKeys decides what becomes of rows: every user whose address or key has characters
// outside ASCII (a key of such a row can only collide with another such row's). It fails only
// when two rows would end with one key although neither can give way, which the code before the
// rule could not have written (keys edited by hand).
func planEmailKeys(rows []emailRow) ([]emailPlan, error) {
	plans := make([]emailPlan, len(rows))
	held := map[string]int{} // key as stored -> row
	had := map[string]int{}  // old key of the stored address -> row; -1 when two rows share one
	for i, r := range rows {
		p := emailPlan{row: r, email: r.email, key: r.key, result: emailUnchanged}
		switch {
		case isASCII(r.email): // a key outside ASCII set by hand: it stays, and others give way
		case CheckEmail(r.email) == nil:
			if p.key = NormalizeEmail(r.email); p.key != r.key {
				p.result = emailRekeyed
			}
		default:
			if c, ok := canonicalLegacyEmail(r.email); ok {
				p.email, p.key, p.result = c, c, emailRewritten
			} else {
				p.isolate(isolatedLookAlike)
			}
		}
		plans[i] = p
		if r.key != "" {
			held[r.key] = i
		}
		if r.email != "" {
			k := oldKey(r.email)
			if _, dup := had[k]; dup {
				had[k] = -1
			} else {
				had[k] = i
			}
		}
	}
	// A key wanted by several rows goes to the row that holds it, or failing that to the one
	// whose old key it was (a database where the first migration 7 moved it); the others that
	// would have been rewritten are isolated instead, which may free or claim further keys.
	for {
		claims := map[string][]int{}
		for i, p := range plans {
			if p.key != "" {
				claims[p.key] = append(claims[p.key], i)
			}
		}
		keys := make([]string, 0, len(claims))
		for k, c := range claims {
			if len(c) > 1 {
				keys = append(keys, k)
			}
		}
		if len(keys) == 0 {
			return plans, nil
		}
		slices.Sort(keys)
		for _, k := range keys {
			winner := -1
			if i, ok := held[k]; ok && slices.Contains(claims[k], i) {
				winner = i
			} else if i, ok := had[k]; ok && slices.Contains(claims[k], i) {
				winner = i // -1 (two rows had it) matches no claim
			}
			var stuck []string
			for _, i := range claims[k] {
				switch {
				case i == winner:
				case plans[i].result == emailRewritten:
					plans[i].isolate(isolatedCollision)
				default:
					stuck = append(stuck, rows[i].id.String())
				}
			}
			if len(stuck) > 1 || len(stuck) == 1 && winner >= 0 {
				if winner >= 0 {
					stuck = append(stuck, rows[winner].id.String())
				}
				return nil, fmt.Errorf("users %s would share one address key; correct their addresses by hand and migrate again",
					strings.Join(stuck, ", "))
			}
		}
	}
}

// migrateEmailKeys runs the plan in goose's transaction tx.
func (s *Store) migrateEmailKeys(ctx context.Context, tx *sql.Tx) error {
	db := s.db.Session(&gorm.Session{NewDB: true, Context: ctx})
	db.Statement.ConnPool = tx

	// Every row is read (the databases do not agree on what "outside ASCII" is in SQL), but only
	// those with characters outside ASCII are kept.
	var rows []emailRow
	err := eachRow(db.Raw(`SELECT id, email, email_lower FROM users WHERE email IS NOT NULL OR email_lower IS NOT NULL`),
		func(rs *sql.Rows) error {
			var (
				r          emailRow
				email, key sql.NullString
			)
			if err := rs.Scan(&r.id, &email, &key); err != nil {
				return err
			}
			if r.email, r.key = email.String, key.String; !isASCII(r.email) || !isASCII(r.key) {
				rows = append(rows, r)
			}
			return nil
		})
	if err != nil {
		return fmt.Errorf("read addresses: %w", err)
	}
	var tickets []ticketAddress
	err = eachRow(db.Raw(`SELECT id, user_id, email, email_lower FROM tickets WHERE used_at IS NULL`),
		func(rs *sql.Rows) error {
			var t ticketAddress
			if err := rs.Scan(&t.id, &t.userID, &t.email, &t.key); err != nil {
				return err
			}
			if !isASCII(t.email) || !isASCII(t.key) {
				tickets = append(tickets, t)
			}
			return nil
		})
	if err != nil {
		return fmt.Errorf("read tickets: %w", err)
	}
	plans, err := planEmailKeys(rows)
	if err != nil {
		return err
	}

	now := s.now()
	// Keys move in two steps, first to none, so that one row may take a key another gives up
	// whatever the order of the updates.
	var moving []uuid.UUID
	for _, p := range plans {
		if p.key != p.row.key {
			moving = append(moving, p.row.id)
		}
	}
	for chunk := range slices.Chunk(moving, 500) {
		if err := db.Exec(`UPDATE users SET email_lower = NULL WHERE id IN ?`, chunk).Error; err != nil {
			return fmt.Errorf("clear moving keys: %w", err)
		}
	}
	byUser := map[uuid.UUID]*emailPlan{}
	var listed []*emailPlan
	for i := range plans {
		p := &plans[i]
		byUser[p.row.id] = p
		if p.email != p.row.email || p.key != p.row.key {
			err := db.Exec(`UPDATE users SET email = ?, email_lower = ?, updated_at = ? WHERE id = ?`, p.email, p.key, now, p.row.id).Error
			if err != nil {
				return fmt.Errorf("update user %s: %w", p.row.id, translate(err))
			}
		}
		if p.result == emailUnchanged {
			continue
		}
		listed = append(listed, p)
		detail := JSONMap{"migration": emailKeysVersion, "result": p.result}
		outcome := OutcomeSuccess
		if p.result == emailIsolated {
			detail["reason"], outcome = p.reason, OutcomeFailure
		}
		id := p.row.id
		ev := &AuditEvent{ID: uuid.New(), At: now, Action: auditEmailMigrated, Outcome: outcome, TargetUserID: &id, Detail: detail}
		if err := db.Create(ev).Error; err != nil {
			return fmt.Errorf("audit user %s: %w", id, err)
		}
	}

	followed := 0
	for _, t := range tickets {
		email, key := t.email, NormalizeEmail(t.email)
		if u := byUser[t.userID]; u != nil && oldKey(t.email) == oldKey(u.row.email) {
			email, key = u.email, u.key // mailed to its user's address, which it follows
		} else if CheckEmail(t.email) != nil {
			if c, ok := canonicalLegacyEmail(t.email); ok {
				email, key = c, c
			}
		}
		if email == t.email && key == t.key {
			continue
		}
		if err := db.Exec(`UPDATE tickets SET email = ?, email_lower = ? WHERE id = ?`, email, key, t.id).Error; err != nil {
			return fmt.Errorf("update ticket %s: %w", t.id, err)
		}
		followed++
	}

	// Logged once everything is written: ids and what happened, never an address.
	counts := map[string]int{}
	for _, p := range listed {
		counts[p.result]++
		if p.result == emailIsolated {
			s.log.WarnContext(ctx, "email migration isolated a user: no dialect accepts its stored address, correct it by hand",
				"user_id", p.row.id.String(), "reason", p.reason)
		} else {
			s.log.InfoContext(ctx, "email migration changed a user", "user_id", p.row.id.String(), "result", p.result)
		}
	}
	if len(listed) > 0 || followed > 0 {
		s.log.InfoContext(ctx, "email migration done", "users_rewritten", counts[emailRewritten],
			"users_rekeyed", counts[emailRekeyed], "users_isolated", counts[emailIsolated], "tickets_updated", followed)
	}
	return nil
}

// eachRow calls scan on each row q returns.
func eachRow(q *gorm.DB, scan func(*sql.Rows) error) error {
	rs, err := q.Rows()
	if err != nil {
		return err
	}
	defer rs.Close()
	for rs.Next() {
		if err := scan(rs); err != nil {
			return err
		}
	}
	return rs.Err()
}
