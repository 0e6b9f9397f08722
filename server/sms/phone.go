package sms

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Number is a phone number as SMS sign-in keeps it.
type Number struct {
	E164        string // "+4915123456789": how numbers are stored and compared
	CallingCode int    // 49
	Type        string // one of the type names below
}

// Number types, as phonenumbers classifies them, by the names settings use.
const (
	TypeMobile         = "mobile"
	TypeFixedOrMobile  = "fixed-line-or-mobile"
	TypeFixedLine      = "fixed-line"
	TypeTollFree       = "toll-free"
	TypePremiumRate    = "premium-rate"
	TypeSharedCost     = "shared-cost"
	TypeVoIP           = "voip"
	TypePersonal       = "personal-number"
	TypePager          = "pager"
	TypeUAN            = "uan"
	TypeVoicemail      = "voicemail"
	TypeUnknown        = "unknown"
	DefaultDeniedTypes = TypePremiumRate + "," + TypeSharedCost
)

var typeNames = map[phonenumbers.PhoneNumberType]string{
	phonenumbers.MOBILE: TypeMobile, phonenumbers.FIXED_LINE_OR_MOBILE: TypeFixedOrMobile,
	phonenumbers.FIXED_LINE: TypeFixedLine, phonenumbers.TOLL_FREE: TypeTollFree,
	phonenumbers.PREMIUM_RATE: TypePremiumRate, phonenumbers.SHARED_COST: TypeSharedCost,
	phonenumbers.VOIP: TypeVoIP, phonenumbers.PERSONAL_NUMBER: TypePersonal, phonenumbers.PAGER: TypePager,
	phonenumbers.UAN: TypeUAN, phonenumbers.VOICEMAIL: TypeVoicemail,
}

// TypeNames lists the type names a deny list may hold.
func TypeNames() []string {
	out := make([]string, 0, len(typeNames)+1)
	for _, n := range typeNames {
		out = append(out, n)
	}
	slices.Sort(out)
	return append(out, TypeUnknown)
}

// ErrInvalidNumber: the input is not a valid phone number (given the default region, for a
// national number).
var ErrInvalidNumber = fmt.Errorf("not a valid phone number")

// Parse reads a phone number as people type it: international with "+" (or "00"), or national
// when defaultRegion (an ISO 3166 code such as "DE") is set; spaces, dashes, dots and brackets
// are ignored. It returns the number in E.164 with its calling code and type.
func Parse(raw, defaultRegion string) (Number, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return Number{}, ErrInvalidNumber
	}
	region := strings.ToUpper(strings.TrimSpace(defaultRegion))
	if region == "" {
		region = "ZZ" // unknown: only international numbers parse
	}
	n, err := phonenumbers.Parse(raw, region)
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return Number{}, ErrInvalidNumber
	}
	name, ok := typeNames[phonenumbers.GetNumberType(n)]
	if !ok {
		name = TypeUnknown
	}
	return Number{E164: phonenumbers.Format(n, phonenumbers.E164), CallingCode: int(n.GetCountryCode()), Type: name}, nil
}

// Mobile reports whether texts reach numbers of this type: mobile numbers, and the numbering
// plans (the US, Canada) that do not tell mobile from fixed numbers.
func (n Number) Mobile() bool { return n.Type == TypeMobile || n.Type == TypeFixedOrMobile }

// ParseCallingCodes reads a list of country calling codes ("49, +44, 1"); empty is none.
func ParseCallingCodes(v string) ([]int, error) {
	var out []int
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		c, err := strconv.Atoi(strings.TrimPrefix(f, "+"))
		if err != nil || c < 1 || c > 999 {
			return nil, fmt.Errorf("%q is not a country calling code (e.g. 49 or +44)", f)
		}
		out = append(out, c)
	}
	return out, nil
}

// ParseTypes reads a list of number type names ("premium-rate,shared-cost"); empty is none.
func ParseTypes(v string) ([]string, error) {
	var out []string
	known := TypeNames()
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		f = strings.ToLower(f)
		if !slices.Contains(known, f) {
			return nil, fmt.Errorf("%q is not a number type (one of %s)", f, strings.Join(known, ", "))
		}
		out = append(out, f)
	}
	return out, nil
}

// KnownRegion reports whether region (an ISO 3166 code) is one phone numbers are known for.
func KnownRegion(region string) bool {
	_, ok := phonenumbers.GetSupportedRegions()[strings.ToUpper(region)]
	return ok
}
