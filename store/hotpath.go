package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"
)

// The two queries behind nearly every request (the session check of an authenticated call and
// the rotation of a refresh token) bypass GORM on PostgreSQL: they run through pgx's native
// interface on a connection of the same pool, with the columns listed here once. Measured on
// GET /user, this and reading roles as a native array are a fifth of the server's CPU. SQLite
// and transaction-bound stores take the GORM path beside each.

// UUIDs go to and come from pgx as [16]byte: uuid.UUID's driver.Valuer and sql.Scanner would
// make pgx format and parse them as text (and first fail a binary encode) on every statement.

// userColumns is every users column, in the order userDest reads them, for a users row aliased u.
const userColumns = `u.id, u.zuid, u.created_at, u.updated_at, u.last_seen_at, u.email, u.email_lower,
	u.username, u.phone_number, u.phone_number_verified, u.display_name, u.avatar_url, u.locale,
	u.metadata, u.default_role, u.email_verified, u.disabled, u.is_anonymous, u.new_password_required,
	u.password_hash, u.totp_secret, u.active_mfa_type`

// userDest are scan destinations for userColumns; metadata arrives as JSON text in md.
func userDest(u *User, md *[]byte) []any {
	return []any{(*[16]byte)(&u.ID), &u.ZUID, &u.CreatedAt, &u.UpdatedAt, &u.LastSeenAt, &u.Email, &u.EmailLower,
		&u.Username, &u.PhoneNumber, &u.PhoneNumberVerified, &u.DisplayName, &u.AvatarURL, &u.Locale,
		md, &u.DefaultRole, &u.EmailVerified, &u.Disabled, &u.IsAnonymous, &u.NewPasswordRequired,
		&u.PasswordHash, &u.TOTPSecret, &u.ActiveMFAType}
}

// pgRoles is the sorted roles of users row u as a text array.
const pgRoles = `COALESCE((SELECT array_agg(role ORDER BY role) FROM user_roles WHERE user_id = u.id), '{}')`

// batchTimeout bounds one batch of hot-path statements.
const batchTimeout = 30 * time.Second

// errClosed: the store was closed while a call waited.
var errClosed = errors.New("store closed")

// hotPaths batch the hot statements of a PostgreSQL store.
type hotPaths struct {
	sessions  *coalescer[uuid.UUID, liveSession]
	rotations *coalescer[rotation, rotated]
}

// startHotPaths starts the batching workers: a few, so batches overlap instead of queueing
// behind one another, and never more than the pool can serve beside the other queries.
func (s *Store) startHotPaths(poolSize int) {
	workers := max(1, min(2, poolSize/4))
	s.hot = &hotPaths{
		sessions:  newCoalescer(workers, 64, s.loadLiveSessions),
		rotations: newCoalescer(workers, 64, s.runRotations),
	}
}

func (h *hotPaths) close() {
	if h != nil {
		h.sessions.close()
		h.rotations.close()
	}
}

// native runs fn on a pgx connection of the PostgreSQL pool; ok is false when the store is not a
// PostgreSQL store outside a transaction, and the caller takes its GORM path.
func (s *Store) native(ctx context.Context, fn func(*pgx.Conn) error) (ok bool, err error) {
	if s.pg == nil {
		return false, nil
	}
	conn, err := s.pg.Conn(ctx)
	if err != nil {
		return true, err
	}
	defer conn.Close()
	return true, conn.Raw(func(dc any) error { return fn(dc.(*stdlib.Conn).Conn()) })
}

// scanSessionUser reads userColumns, the roles and a session id from row, and then into extra.
func scanSessionUser(row pgx.Row, extra ...any) (*User, uuid.UUID, error) {
	var (
		u   User
		md  []byte
		sid uuid.UUID
	)
	dest := append(append(userDest(&u, &md), &u.Roles, (*[16]byte)(&sid)), extra...)
	if err := row.Scan(dest...); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, uuid.Nil, ErrNotFound
		}
		return nil, uuid.Nil, err
	}
	if string(md) == "{}" { // nearly every user's: no JSON decoder needed
		u.Metadata = JSONMap{}
	} else if err := u.Metadata.Scan(md); err != nil {
		return nil, uuid.Nil, err
	}
	return &u, sid, nil
}

// liveSession is a live session's user and the session's expiry.
type liveSession struct {
	user    *User
	expires time.Time
}

func (s *Store) liveSessionUserPG(ctx context.Context, sessionID uuid.UUID) (liveSession, bool, error) {
	if s.pg == nil {
		return liveSession{}, false, nil
	}
	ls, err := s.hot.sessions.do(ctx, sessionID)
	return ls, true, err
}

// liveSessionsSQL looks up a batch of sessions by id, one primary-key probe per id. The plainer
// "WHERE s.id = ANY($1) AND s.expires_at > $2" let PostgreSQL's generic plan, which cannot see
// how many ids the array holds, walk the expires_at index over every live session and filter by
// id: with 855 sessions, a batch of 8 read 570 buffers instead of 24, and that grows
// with the table. The LIMIT keeps each lookup a subquery of its own: one probe per id, which no
// guess about the array's length can trade for a walk over every live session.
//
// The array goes through a scalar subquery, "(SELECT $1::uuid[])", so that no plan can see its
// length. Given the array itself, each execution's custom plan counted its 1-16 ids and came out
// cheaper than the generic plan's guess of 10, so PostgreSQL kept planning the statement afresh:
// pg_stat_statements showed one plan per call, 160 µs of planning against 70 µs of execution.
// Hidden, both plans guess alike and the prepared statement settles on its generic plan.
const liveSessionsSQL = `SELECT ` + userColumns + `, ` + pgRoles + `, s.id, s.expires_at
	FROM unnest((SELECT $1::uuid[])) AS k(id)
	CROSS JOIN LATERAL (SELECT id, user_id, expires_at FROM sessions
		WHERE id = k.id AND revoked_at IS NULL AND expires_at > $2 LIMIT 1) s
	JOIN users u ON u.id = s.user_id`

// loadLiveSessions answers a batch of session checks with one query. The query starts after
// every caller in the batch arrived, so it sees every revocation committed before any of them.
func (s *Store) loadLiveSessions(ctx context.Context, ids []uuid.UUID) []result[liveSession] {
	out := make([]result[liveSession], len(ids))
	keys := make([][16]byte, len(ids))
	for i, id := range ids {
		keys[i] = id
	}
	found := make(map[uuid.UUID]liveSession, len(ids))
	_, err := s.native(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, liveSessionsSQL, keys, s.now())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var exp time.Time
			u, sid, err := scanSessionUser(rows, &exp)
			if err != nil {
				return err
			}
			found[sid] = liveSession{u, exp}
		}
		return rows.Err()
	})
	for i, id := range ids {
		switch ls, ok := found[id]; {
		case err != nil:
			out[i].err = err
		case !ok:
			out[i].err = ErrNotFound
		default:
			cp := *ls.user // each caller gets its own copy
			cp.Roles = append([]string(nil), ls.user.Roles...)
			out[i].val = liveSession{&cp, ls.expires}
		}
	}
	return out
}

// sessionSlide is how stale a session's last-activity mark may get before a refresh moves it
// (and the session's expiry) forward; writing it on every refresh would double the work of the
// server's hottest write.
const sessionSlide = time.Minute

// slideSQL is the expiry a session slides to, given the one asked for (the SQL expression to):
// no further than the expiry of the API token it was opened with, if any. A token that lapses
// ends its sessions with it; most sessions have none, and pay for no lookup.
func slideSQL(to string) string {
	return `CASE WHEN api_token_id IS NULL THEN ` + to + ` ELSE (SELECT CASE WHEN t.expires_at < ` + to +
		` THEN t.expires_at ELSE ` + to + ` END FROM api_tokens t WHERE t.id = sessions.api_token_id) END`
}

// rotateSQL rotates one refresh token in one statement, atomic on its own: spend the token
// (only while its session lives and its user is enabled), slide the session, store the successor,
// and return the user with roles. It is the server's hottest write.
var rotateSQL = `WITH live AS (
		SELECT s.id FROM refresh_tokens rt
		JOIN sessions s ON s.id = rt.session_id
		JOIN users u ON u.id = s.user_id
		WHERE rt.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND NOT u.disabled
	), spent AS (
		UPDATE refresh_tokens SET used_at = $2, successor = $3
		WHERE token_hash = $1 AND rotates AND used_at IS NULL AND expires_at > $2
		  AND session_id IN (SELECT id FROM live)
		RETURNING session_id
	), slid AS (
		UPDATE sessions SET last_active_at = $2, expires_at = ` + slideSQL("$4") + `
		WHERE id IN (SELECT session_id FROM spent) AND last_active_at < $5
	), ins AS (
		INSERT INTO refresh_tokens (id, session_id, token_hash, rotates, created_at, expires_at)
		SELECT $6, session_id, $7, true, $2, $8 FROM spent
	)
	SELECT ` + userColumns + `, ` + pgRoles + `, spent.session_id
	FROM spent JOIN sessions s ON s.id = spent.session_id JOIN users u ON u.id = s.user_id`

// rotated is the outcome of one rotation.
type rotated struct {
	user *User
	sid  uuid.UUID
}

// rotation is a rotation with the time it was asked at.
type rotation struct {
	Rotation
	now time.Time
}

// rotatePG is RotateRefreshToken on PostgreSQL, in whatever batch it lands in.
func (s *Store) rotatePG(ctx context.Context, r Rotation, now time.Time) (*User, uuid.UUID, bool, error) {
	if s.pg == nil {
		return nil, uuid.Nil, false, nil
	}
	res, err := s.hot.rotations.do(ctx, rotation{r, now})
	return res.user, res.sid, true, err
}

// runRotations sends a batch of rotations as one pipeline: one round trip, and one implicit
// transaction with one commit for all of them (the protocol's single Sync). A later rotation of
// the same token in the batch sees the earlier one's spend and changes nothing, as it would in
// separate transactions.
func (s *Store) runRotations(ctx context.Context, rs []rotation) []result[rotated] {
	out := make([]result[rotated], len(rs))
	if len(rs) == 1 {
		out[0] = s.runRotationPipeline(ctx, rs, []int{0})[0]
		return out
	}
	// Statements in token-hash order, so concurrent batches take row locks in one order.
	order := make([]int, len(rs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return bytes.Compare(rs[a].Hash, rs[b].Hash) })
	res := s.runRotationPipeline(ctx, rs, order)
	failed := false
	for i, oi := range order {
		out[oi] = res[i]
		failed = failed || (res[i].err != nil && !errors.Is(res[i].err, ErrNotFound))
	}
	if failed {
		// The pipeline's one transaction rolled back as a whole; give each rotation its own, so
		// one failing member cannot fail the others.
		for i := range rs {
			out[i] = s.runRotationPipeline(ctx, rs, []int{i})[0]
		}
	}
	return out
}

// runRotationPipeline sends the rotations rs[order[0]], rs[order[1]], … as one pipeline.
func (s *Store) runRotationPipeline(ctx context.Context, rs []rotation, order []int) []result[rotated] {
	out := make([]result[rotated], len(order))
	_, err := s.native(ctx, func(c *pgx.Conn) error {
		b := &pgx.Batch{}
		for _, i := range order {
			r := rs[i]
			b.Queue(rotateSQL, r.Hash, r.now, r.Sealed, r.SessionExpiresAt, r.now.Add(-sessionSlide),
				[16]byte(r.Next.ID), r.Next.TokenHash, r.Next.ExpiresAt)
		}
		br := c.SendBatch(ctx, b)
		for i := range order {
			u, sid, err := scanSessionUser(br.QueryRow())
			out[i] = result[rotated]{val: rotated{u, sid}, err: err}
		}
		return br.Close()
	})
	if err != nil { // the transaction failed: nothing of it was committed
		for i := range out {
			out[i] = result[rotated]{err: err}
		}
	}
	return out
}

// rotateGORM is RotateRefreshToken on SQLite (whose statements run in-process, so a transaction
// of several is cheap) and within transactions.
func (s *Store) rotateGORM(ctx context.Context, r Rotation, now time.Time) (*User, uuid.UUID, error) {
	var (
		u   *User
		sid uuid.UUID
	)
	err := s.Tx(ctx, func(tx *Store) error {
		var spent []RefreshToken
		err := tx.w(ctx).Raw(`UPDATE refresh_tokens SET used_at = ?, successor = ?
			WHERE token_hash = ? AND rotates AND used_at IS NULL AND expires_at > ?
			  AND EXISTS (SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id
			              WHERE s.id = refresh_tokens.session_id -- correlated: two key lookups,
			                AND s.revoked_at IS NULL AND s.expires_at > ? AND NOT u.disabled) -- not a scan
			RETURNING session_id`, now, r.Sealed, r.Hash, now, now).Scan(&spent).Error
		if err != nil {
			return err
		}
		if len(spent) == 0 {
			return ErrNotFound
		}
		sid = spent[0].SessionID
		exp := r.SessionExpiresAt
		if err := tx.w(ctx).Model(&Session{}).Where("id = ? AND last_active_at < ?", sid, now.Add(-sessionSlide)).
			Updates(map[string]any{"last_active_at": now, "expires_at": gorm.Expr(slideSQL("?"), exp, exp, exp)}).Error; err != nil {
			return err
		}
		r.Next.SessionID = sid
		if err := tx.w(ctx).Create(r.Next).Error; err != nil {
			return translate(err)
		}
		ls, err := tx.sessionUser(ctx, sid, false)
		u = ls.user
		return err
	})
	return u, sid, err
}

// sessionUser loads the user of a session with roles, and the session's expiry, through GORM;
// live restricts it to sessions neither revoked nor expired.
func (s *Store) sessionUser(ctx context.Context, sid uuid.UUID, live bool) (liveSession, error) {
	q := `SELECT users.*, ` + s.rolesJSON("users") + ` AS roles_json, sessions.id AS session_id,
			sessions.expires_at AS session_expires_at
		FROM sessions JOIN users ON users.id = sessions.user_id WHERE sessions.id = ?`
	args := []any{sid}
	if live {
		q += ` AND sessions.revoked_at IS NULL AND sessions.expires_at > ?`
		args = append(args, s.now())
	}
	var row sessionUserRow
	res := s.r(ctx).Raw(q, args...).Scan(&row)
	if res.Error != nil {
		return liveSession{}, fmt.Errorf("load session user: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return liveSession{}, ErrNotFound
	}
	u, err := row.user()
	return liveSession{u, row.SessionExpiresAt}, err
}

// openSessionPG is OpenSession on PostgreSQL: three inserts in one pipeline and one implicit
// transaction. Times go in as UTC, as the models' save hooks would put them.
func (s *Store) openSessionPG(ctx context.Context, sess *Session, rt *RefreshToken, ev *AuditEvent) (bool, error) {
	if ev.At.IsZero() {
		ev.At = s.now()
	}
	return s.native(ctx, func(c *pgx.Conn) error {
		md, err := ev.Detail.Value()
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO sessions (id, user_id, method, created_at, last_active_at, expires_at, user_agent, ip, api_token_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			[16]byte(sess.ID), [16]byte(sess.UserID), sess.Method, sess.CreatedAt.UTC(), sess.LastActiveAt.UTC(), sess.ExpiresAt.UTC(),
			sess.UserAgent, sess.IP, sess.APITokenID)
		b.Queue(`INSERT INTO refresh_tokens (id, session_id, token_hash, rotates, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6)`,
			[16]byte(rt.ID), [16]byte(rt.SessionID), rt.TokenHash, rt.Rotates, rt.CreatedAt.UTC(), rt.ExpiresAt.UTC())
		b.Queue(`INSERT INTO audit_events (id, at, action, outcome, actor_user_id, actor_token_name,
				target_user_id, session_id, ip, user_agent, request_id, detail)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			[16]byte(ev.ID), ev.At.UTC(), ev.Action, ev.Outcome, ev.ActorUserID, ev.ActorTokenName,
			ev.TargetUserID, ev.SessionID, ev.IP, ev.UserAgent, ev.RequestID, md)
		return c.SendBatch(ctx, b).Close()
	})
}
