package server

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/store"
	"golang.org/x/time/rate"
)

// Algorithms Latchkey can manage keys for in the database.
const (
	AlgES256 = "ES256"
	AlgRS256 = "RS256"
	AlgEdDSA = "EdDSA"
)

// ManagedAlgorithms are the values LATCHKEY_JWT_ALGORITHM accepts.
var ManagedAlgorithms = []string{AlgES256, AlgRS256, AlgEdDSA}

// signingKey is one key in memory: what signs and what verifies, and its public JWK.
type signingKey struct {
	kid     string
	method  jwt.SigningMethod
	private any // crypto.Signer, or []byte for HMAC
	public  any // crypto.PublicKey, or []byte for HMAC
	jwk     *gen.JWK
}

// keyring holds the keys that sign and verify access tokens. Managed keys live in the database so
// every instance signs with the same newest key and verifies the newest two; a key rotated on one
// instance reaches the others at their next reload (periodic, or at once when a token names a kid
// this instance has not seen). A static key (from a Hasura-style JWT secret) never changes.
type keyring struct {
	store    *store.Store
	alg      string
	static   bool
	log      *slog.Logger
	interval time.Duration

	mu       sync.RWMutex
	current  *signingKey
	byKID    map[string]*signingKey
	jwks     gen.JWKSet
	reloadMu sync.Mutex
	reloads  *rate.Limiter // reloads triggered by unknown kids
}

// keysKept is how many of the newest managed keys verify tokens: the current one and the one it
// replaced, so tokens minted just before a rotation stay valid until they expire.
const keysKept = 2

func newKeyring(ctx context.Context, st *store.Store, cfg JWTConfig, interval time.Duration, log *slog.Logger) (*keyring, error) {
	k := &keyring{store: st, alg: cfg.Algorithm, log: log, interval: interval, reloads: rate.NewLimiter(10, 5)}
	if cfg.Secret != nil {
		key, err := cfg.Secret.signingKey()
		if err != nil {
			return nil, fmt.Errorf("JWT secret: %w", err)
		}
		k.static = true
		k.install([]*signingKey{key})
		return k, nil
	}
	if err := k.reload(ctx); err != nil {
		return nil, err
	}
	if k.current == nil || k.current.method.Alg() != k.alg {
		// First start, or the configured algorithm changed: make a key of the configured kind.
		// Two instances starting together may both do this; both keys are then published and
		// the newer one signs, which is harmless.
		if _, err := RotateSigningKey(ctx, st, k.alg); err != nil {
			return nil, err
		}
		if err := k.reload(ctx); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// RotateSigningKey generates a new key of the given algorithm and stores it as the newest, so it
// signs from the next reload of every instance. It returns the new key id.
func RotateSigningKey(ctx context.Context, st *store.Store, alg string) (string, error) {
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case AlgES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case AlgRS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case AlgEdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return "", fmt.Errorf("unsupported signing algorithm %q", alg)
	}
	if err != nil {
		return "", fmt.Errorf("generate %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", fmt.Errorf("encode key: %w", err)
	}
	kid := uuid.NewString()
	if err := st.CreateSigningKey(ctx, &store.SigningKey{KID: kid, Alg: alg, PrivateKey: der}); err != nil {
		return "", err
	}
	return kid, nil
}

// reload reads the newest keys from the database.
func (k *keyring) reload(ctx context.Context) error {
	rows, err := k.store.SigningKeys(ctx, keysKept)
	if err != nil {
		return err
	}
	keys := make([]*signingKey, 0, len(rows))
	for _, r := range rows {
		key, err := parseManagedKey(r)
		if err != nil {
			return fmt.Errorf("signing key %s: %w", r.KID, err)
		}
		keys = append(keys, key)
	}
	k.install(keys)
	return nil
}

// install makes keys[0] the signer and all of keys the verifiers.
func (k *keyring) install(keys []*signingKey) {
	byKID := make(map[string]*signingKey, len(keys))
	set := gen.JWKSet{Keys: []gen.JWK{}}
	for _, key := range keys {
		byKID[key.kid] = key
		if key.jwk != nil {
			set.Keys = append(set.Keys, *key.jwk)
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(keys) > 0 {
		k.current = keys[0]
	}
	k.byKID, k.jwks = byKID, set
}

// signer is the key that signs new tokens.
func (k *keyring) signer() *signingKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.current
}

// verifier finds the key a token names. An unknown kid triggers a reload, so a key rotated on
// another instance verifies here at once; reloads are rate-limited (a small burst, then ten a
// second) so tokens with made-up kids cannot turn into a query each.
func (k *keyring) verifier(ctx context.Context, kid string) (*signingKey, bool) {
	k.mu.RLock()
	if k.static {
		key := k.current
		k.mu.RUnlock()
		return key, kid == "" || kid == key.kid
	}
	key, ok := k.byKID[kid]
	k.mu.RUnlock()
	if ok || kid == "" || !k.reloads.Allow() {
		return key, ok
	}
	k.reloadMu.Lock()
	defer k.reloadMu.Unlock()
	k.mu.RLock()
	key, ok = k.byKID[kid]
	k.mu.RUnlock()
	if ok {
		return key, true
	}
	if err := k.reload(ctx); err != nil {
		k.log.WarnContext(ctx, "reload signing keys", "error", err)
		return nil, false
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	key, ok = k.byKID[kid]
	return key, ok
}

// has reports whether the key named kid still verifies tokens.
func (k *keyring) has(kid string) bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.static {
		return kid == "" || kid == k.current.kid
	}
	_, ok := k.byKID[kid]
	return ok
}

// publicSet is the JWKS: the public halves of the keys that verify.
func (k *keyring) publicSet() gen.JWKSet {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.jwks
}

// run reloads managed keys every interval until ctx ends.
func (k *keyring) run(ctx context.Context) {
	if k.static || k.interval <= 0 {
		return
	}
	t := time.NewTicker(k.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := k.reload(ctx); err != nil && ctx.Err() == nil {
				k.log.WarnContext(ctx, "reload signing keys", "error", err)
			}
		}
	}
}

func parseManagedKey(r store.SigningKey) (*signingKey, error) {
	priv, err := x509.ParsePKCS8PrivateKey(r.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	return newAsymmetricKey(r.KID, r.Alg, priv)
}

func newAsymmetricKey(kid, alg string, priv any) (*signingKey, error) {
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, errors.New("not a signing key")
	}
	method := jwt.GetSigningMethod(alg)
	if method == nil {
		return nil, fmt.Errorf("unsupported algorithm %q", alg)
	}
	pub := signer.Public()
	jwk, err := publicJWK(kid, alg, pub)
	if err != nil {
		return nil, err
	}
	return &signingKey{kid: kid, method: method, private: signer, public: pub, jwk: jwk}, nil
}

// publicJWK renders a public key as a JWK (RFC 7517/7518/8037).
func publicJWK(kid, alg string, pub crypto.PublicKey) (*gen.JWK, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	str := func(s string) *string { return &s }
	jwk := &gen.JWK{Kid: kid, Alg: alg, Use: "sig"}
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		pt, err := p.Bytes() // uncompressed: 0x04 || X || Y, each coordinate the curve's size
		if err != nil {
			return nil, err
		}
		size := (len(pt) - 1) / 2
		jwk.Kty, jwk.Crv = "EC", str(p.Curve.Params().Name)
		jwk.X, jwk.Y = str(b64(pt[1:1+size])), str(b64(pt[1+size:]))
	case *rsa.PublicKey:
		jwk.Kty = "RSA"
		jwk.N, jwk.E = str(b64(p.N.Bytes())), str(b64(big.NewInt(int64(p.E)).Bytes()))
	case ed25519.PublicKey:
		jwk.Kty, jwk.Crv, jwk.X = "OKP", str("Ed25519"), str(b64(p))
	default:
		return nil, fmt.Errorf("unsupported public key %T", pub)
	}
	return jwk, nil
}

// HasuraJWTSecret is Nhost's and Hasura's JWT secret setting (HASURA_GRAPHQL_JWT_SECRET), for
// deployments that already share a key with Hasura. HMAC keys are given in Key; asymmetric ones as
// a PEM public key in Key and the PEM private key in SigningKey (Nhost's extension).
type HasuraJWTSecret struct {
	Type            string `json:"type"`
	Key             string `json:"key"`
	SigningKey      string `json:"signing_key"`
	KID             string `json:"kid"`
	ClaimsNamespace string `json:"claims_namespace"`
	Issuer          string `json:"issuer"`
}

// Validate checks the secret without keeping anything.
func (h *HasuraJWTSecret) Validate() error {
	_, err := h.signingKey()
	return err
}

func (h *HasuraJWTSecret) signingKey() (*signingKey, error) {
	switch h.Type {
	case "HS256", "HS384", "HS512":
		if len(h.Key) < 32 {
			return nil, fmt.Errorf("%s key must be at least 32 characters", h.Type)
		}
		key := []byte(h.Key)
		return &signingKey{kid: h.KID, method: jwt.GetSigningMethod(h.Type), private: key, public: key}, nil
	case "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "Ed25519", "EdDSA":
		if h.SigningKey == "" {
			return nil, fmt.Errorf("%s needs signing_key (a PEM private key) so Latchkey can sign", h.Type)
		}
		block, _ := pem.Decode([]byte(h.SigningKey))
		if block == nil {
			return nil, errors.New("signing_key is not PEM")
		}
		priv, err := parsePrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		alg := h.Type
		if alg == "Ed25519" {
			alg = AlgEdDSA
		}
		kid := h.KID
		if kid == "" {
			kid = "static"
		}
		return newAsymmetricKey(kid, alg, priv)
	default:
		return nil, fmt.Errorf("unsupported JWT secret type %q", h.Type)
	}
}

func parsePrivateKey(der []byte) (any, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("signing_key is not a PKCS #8, PKCS #1 or EC private key")
}
