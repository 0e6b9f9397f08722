package server

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/store"
)

// createPAT mints a personal access token for the caller. The plaintext is returned once; only
// its hash is stored.
func (s *Server) createPAT(ctx context.Context, p *principal, expiresAt time.Time, metadata map[string]any) (uuid.UUID, secret, error) {
	if p.User.IsAnonymous {
		return uuid.Nil, "", &Error{Code: CodeForbiddenAnonymous}
	}
	now := s.now()
	if !expiresAt.After(now) {
		return uuid.Nil, "", &Error{Code: CodeInvalidRequest, Fields: []FieldError{{Field: "/expiresAt", Reason: "must be in the future"}}}
	}
	tok, err := newOpaqueToken()
	if err != nil {
		return uuid.Nil, "", err
	}
	name, _ := metadata["name"].(string)
	uid := p.User.ID
	t := &store.APIToken{
		ID:        uuid.New(),
		Kind:      store.APITokenPAT,
		UserID:    &uid,
		Name:      truncate(name, 200),
		TokenHash: hashSecret(tok),
		Metadata:  store.JSONMap(metadata),
		CreatedAt: now,
		ExpiresAt: expiresAt.UTC(),
	}
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		if err := tx.CreateAPIToken(ctx, t); err != nil {
			return err
		}
		return s.record(ctx, tx, auditEvent{Action: auditPATCreate, User: uid, Session: p.SessionID,
			Detail: store.JSONMap{"token_id": t.ID.String(), "name": t.Name}})
	})
	if err != nil {
		return uuid.Nil, "", err
	}
	return t.ID, tok, nil
}
