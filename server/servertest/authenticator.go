package servertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// Authenticator is a software WebAuthn authenticator for tests: ES256 keys, "none"
// attestation, user presence and verification always given. It answers the options Latchkey
// hands out the way a browser and a security key together would, for pages at Origin.
type Authenticator struct {
	Origin string // the origin the "browser" reports in the client data
	creds  []*SoftKey
}

// SoftKey is one credential an Authenticator holds.
type SoftKey struct {
	ID         []byte
	RPID       string
	UserHandle []byte
	Counter    uint32 // the signature counter; each assertion adds one before signing
	key        *ecdsa.PrivateKey
}

// NewAuthenticator returns an authenticator for pages at origin.
func NewAuthenticator(origin string) *Authenticator { return &Authenticator{Origin: origin} }

// Keys are the credentials the authenticator holds, oldest first.
func (a *Authenticator) Keys() []*SoftKey { return a.creds }

// Create makes a new credential for creation options, as navigator.credentials.create() with a
// security key would, and returns the browser's serialisation of it.
func (a *Authenticator) Create(opts protocol.PublicKeyCredentialCreationOptions) (protocol.CredentialCreationResponse, error) {
	var out protocol.CredentialCreationResponse
	handle, err := userHandle(opts.User.ID)
	if err != nil {
		return out, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return out, err
	}
	id := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		return out, err
	}
	rpID := opts.RelyingParty.ID
	c := &SoftKey{ID: id, RPID: rpID, UserHandle: handle, key: key}
	clientData, err := a.clientData("webauthn.create", opts.Challenge)
	if err != nil {
		return out, err
	}
	ecdh, err := key.PublicKey.ECDH()
	if err != nil {
		return out, err
	}
	point := ecdh.Bytes() // 0x04 || X || Y
	cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: point[1:33], -3: point[33:65]})
	if err != nil {
		return out, err
	}
	authData := rpHash(rpID)
	authData = append(authData, 0x01|0x04|0x40) // user present, user verified, attested credential data
	authData = binary.BigEndian.AppendUint32(authData, 0)
	authData = append(authData, make([]byte, 16)...) // AAGUID: none
	authData = binary.BigEndian.AppendUint16(authData, uint16(len(id)))
	authData = append(authData, id...)
	authData = append(authData, cose...)
	attObj, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	if err != nil {
		return out, err
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return out, err
	}
	body, err := json.Marshal(map[string]any{
		"id": b64(id), "rawId": b64(id), "type": "public-key", "authenticatorAttachment": "cross-platform",
		"clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON": b64(clientData), "attestationObject": b64(attObj), "authenticatorData": b64(authData),
			"publicKey": b64(spki), "publicKeyAlgorithm": -7, "transports": []string{"usb"},
		},
	})
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return out, err
	}
	a.creds = append(a.creds, c)
	return out, nil
}

// Get signs request options with a credential the authenticator holds for their RP: one of
// allowCredentials when they list some, else (a passkey sign-in) the newest for the RP.
func (a *Authenticator) Get(opts protocol.PublicKeyCredentialRequestOptions) (protocol.CredentialAssertionResponse, error) {
	var c *SoftKey
	for i := len(a.creds) - 1; i >= 0 && c == nil; i-- {
		k := a.creds[i]
		if opts.RelyingPartyID != "" && k.RPID != opts.RelyingPartyID {
			continue
		}
		if len(opts.AllowedCredentials) == 0 {
			c = k
		}
		for _, d := range opts.AllowedCredentials {
			if string(d.CredentialID) == string(k.ID) {
				c = k
			}
		}
	}
	if c == nil {
		return protocol.CredentialAssertionResponse{}, errors.New("authenticator: no credential for these options")
	}
	return a.GetWith(c, opts)
}

// GetWith signs request options with the given credential.
func (a *Authenticator) GetWith(c *SoftKey, opts protocol.PublicKeyCredentialRequestOptions) (protocol.CredentialAssertionResponse, error) {
	var out protocol.CredentialAssertionResponse
	clientData, err := a.clientData("webauthn.get", opts.Challenge)
	if err != nil {
		return out, err
	}
	c.Counter++
	authData := rpHash(c.RPID)
	authData = append(authData, 0x01|0x04)
	authData = binary.BigEndian.AppendUint32(authData, c.Counter)
	sum := sha256.Sum256(clientData)
	digest := sha256.Sum256(append(append([]byte{}, authData...), sum[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, c.key, digest[:])
	if err != nil {
		return out, err
	}
	body, err := json.Marshal(map[string]any{
		"id": b64(c.ID), "rawId": b64(c.ID), "type": "public-key", "authenticatorAttachment": "cross-platform",
		"clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON": b64(clientData), "authenticatorData": b64(authData), "signature": b64(sig),
			"userHandle": b64(c.UserHandle),
		},
	})
	if err != nil {
		return out, err
	}
	err = json.Unmarshal(body, &out)
	return out, err
}

func (a *Authenticator) clientData(typ string, challenge []byte) ([]byte, error) {
	return json.Marshal(map[string]any{"type": typ, "challenge": b64(challenge), "origin": a.Origin, "crossOrigin": false})
}

// userHandle decodes user.id of creation options, which arrives as base64url text.
func userHandle(id any) ([]byte, error) {
	switch v := id.(type) {
	case string:
		return base64.RawURLEncoding.DecodeString(strings.TrimRight(v, "="))
	case protocol.URLEncodedBase64:
		return v, nil
	case []byte:
		return v, nil
	}
	return nil, fmt.Errorf("authenticator: user.id of type %T", id)
}

func rpHash(rpID string) []byte {
	h := sha256.Sum256([]byte(rpID))
	return h[:]
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
