package servertest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Every secret that crosses a test server's edge (passwords, tokens, tickets, codes, admin
// secrets, in requests and in answers) is harvested here, and every server's log is kept, so that
// the end of a test run can check that no log line of any server holds any of them (Leaks).

// MinSecretLen is the shortest value treated as a secret: shorter ones (a deliberately short
// password in a negative test) would match by chance in ids and timings. Mailed numeric codes
// (6 or 7 digits) are the exception: they are matched as whole numbers that are not JSON numbers
// (see FindLeaks).
const MinSecretLen = 8

// isShortCode: a numeric code (6 digits or more). Codes are matched as whole digit runs only,
// whatever their length: an 8-digit code would otherwise match inside a duration in nanoseconds.
func isShortCode(s string) bool {
	return len(s) >= 6 && strings.Trim(s, "0123456789") == ""
}

var (
	leakMu   sync.Mutex
	secrets  = map[string]string{} // secret → where it was seen first
	allLogs  []namedLog
	logCount int
)

type namedLog struct {
	name string
	log  fmt.Stringer
}

// RegisterSecret adds a value that must never appear in a server log.
func RegisterSecret(where, s string) {
	if len(s) < MinSecretLen && !isShortCode(s) {
		return
	}
	leakMu.Lock()
	defer leakMu.Unlock()
	if _, ok := secrets[s]; !ok {
		secrets[s] = where
	}
}

// Harvested reports whether s was seen as a secret; for the harvester's own tests.
func Harvested(s string) bool {
	leakMu.Lock()
	defer leakMu.Unlock()
	_, ok := secrets[s]
	return ok
}

func registerLog(name string, l fmt.Stringer) {
	leakMu.Lock()
	defer leakMu.Unlock()
	logCount++
	allLogs = append(allLogs, namedLog{fmt.Sprintf("%s #%d", name, logCount), l})
}

// Leaks checks every server log of the run against every harvested secret and describes each hit.
func Leaks() []string {
	leakMu.Lock()
	logs := map[string]fmt.Stringer{}
	for _, l := range allLogs {
		logs[l.name] = l.log
	}
	list := make(map[string]string, len(secrets))
	for s, w := range secrets {
		list[s] = w
	}
	leakMu.Unlock()
	return FindLeaks(logs, list)
}

// FindLeaks reports every secret (value → where it came from) found in any of the logs. It looks
// each log up once by 8-byte windows instead of searching it once per secret. A short numeric
// code counts only as a whole digit run that is not a JSON number or a fraction (so a duration
// of 123456ns or a timestamp's microseconds do not match a code by chance).
func FindLeaks(logs map[string]fmt.Stringer, secrets map[string]string) []string {
	byPrefix := map[uint64][]string{}
	codes := map[string]bool{}
	for s := range secrets {
		switch {
		case isShortCode(s):
			codes[s] = true
		case len(s) >= MinSecretLen:
			k := binary.LittleEndian.Uint64([]byte(s[:8]))
			byPrefix[k] = append(byPrefix[k], s)
		}
	}
	var found []string
	for name, l := range logs {
		text := l.String()
		seen := map[string]bool{}
		for i := 0; i+8 <= len(text); i++ {
			cands := byPrefix[binary.LittleEndian.Uint64([]byte(text[i:i+8]))]
			for _, s := range cands {
				if !seen[s] && strings.HasPrefix(text[i:], s) {
					seen[s] = true
					found = append(found, fmt.Sprintf("log of %s holds a secret from %s: %q", name, secrets[s], s))
				}
			}
		}
		for i := 0; i < len(text); {
			if !isDigit(text[i]) {
				i++
				continue
			}
			j := i
			for j < len(text) && isDigit(text[j]) {
				j++
			}
			run := text[i:j]
			if codes[run] && !seen[run] && (i == 0 || !isAlnum(text[i-1]) && text[i-1] != ':' && text[i-1] != '.') &&
				(j == len(text) || !isAlnum(text[j])) {
				seen[run] = true
				found = append(found, fmt.Sprintf("log of %s holds a code from %s: %q", name, secrets[run], run))
			}
			i = j
		}
	}
	sort.Strings(found)
	return found
}

// secretKeys are the field, parameter and header names whose values are secrets, compared
// lower-case without '_' and '-'.
var secretKeys = map[string]bool{
	"password": true, "newpassword": true, "currentpassword": true, "previouspassword": true,
	"proposedpassword": true, "passwordchallenge": true, "passwordconfirmation": true, "temporarypassword": true,
	"refreshtoken": true, "accesstoken": true, "idtoken": true, "personalaccesstoken": true, "token": true,
	"sessiontoken": true, "session": true, "ticket": true, "otp": true, "code": true, "confirmationcode": true,
	"sid": true, "secret": true, "adminsecret": true, "xadminsecret": true, "xsessiontoken": true,
	"totpsecret": true, "recoverycodes": true, "mfaticket": true, // the second factor's
	"connect": true, "state": true, "codeverifier": true, // federated sign-in
}

func secretKey(k string) bool {
	return secretKeys[strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(k))]
}

// looseSecretField finds secret fields in bodies that are not valid JSON (negative tests).
var looseSecretField = regexp.MustCompile(`"([A-Za-z_]+)"\s*:\s*"([^"]+)"`)

// harvest records the secrets of one exchange.
func harvest(req *http.Request, reqBody []byte, resHeader http.Header, resBody []byte) {
	where := req.Method + " " + req.URL.Path
	add := func(v string) { RegisterSecret(where, v) }
	for name, vs := range req.Header {
		for _, v := range vs {
			switch {
			case strings.EqualFold(name, "Authorization"):
				_, cred, _ := strings.Cut(v, " ")
				add(cred)
				if _, tok, ok := strings.Cut(cred, "token="); ok { // Rails: Token token="…"
					add(strings.Trim(tok, `"`))
				}
			case secretKey(name):
				add(v)
			}
		}
	}
	harvestQuery(req.URL.RawQuery, add)
	ct, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if ct == "application/x-www-form-urlencoded" {
		harvestQuery(string(reqBody), add)
	} else {
		harvestJSON(reqBody, add)
	}
	for name, vs := range resHeader {
		for _, v := range vs {
			if secretKey(name) {
				add(v)
			}
			if strings.EqualFold(name, "Location") {
				if u, err := url.Parse(v); err == nil {
					harvestQuery(u.RawQuery, add)
					harvestQuery(u.Fragment, add)
				}
			}
		}
	}
	harvestJSON(resBody, add)
}

func harvestQuery(q string, add func(string)) {
	vals, _ := url.ParseQuery(q) // what parses is enough
	for k, vs := range vals {
		if secretKey(k) {
			for _, v := range vs {
				add(v)
			}
		}
	}
}

func harvestJSON(body []byte, add func(string)) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		for _, m := range looseSecretField.FindAllSubmatch(body, -1) {
			if secretKey(string(m[1])) {
				add(string(m[2]))
			}
		}
		return
	}
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch t := v.(type) {
		case map[string]any:
			for k, x := range t {
				walk(k, x)
			}
		case []any:
			for _, x := range t {
				walk(key, x)
			}
		case string:
			if secretKey(key) {
				add(t)
			}
		}
	}
	walk("", v)
}

// teeBody copies what the server reads of a request body, for harvest.
type teeBody struct {
	io.ReadCloser
	buf bytes.Buffer
}

func (t *teeBody) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if t.buf.Len() < 1<<20 {
		t.buf.Write(p[:n])
	}
	return n, err
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

func isAlnum(b byte) bool { return isDigit(b) || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }
