package mail

import (
	"fmt"
	"time"
)

// durationWords are the unit names of one language.
type durationWords struct {
	minute, minutes, hour, hours, day, days, and string
	singularZero                                 bool // French: "0 minute"
}

// wordsFor returns the unit names for a locale; locales without their own fall back to English.
func wordsFor(locale string) durationWords {
	switch locale {
	case "fr":
		return durationWords{"minute", "minutes", "heure", "heures", "jour", "jours", "et", true}
	case "de":
		return durationWords{"Minute", "Minuten", "Stunde", "Stunden", "Tag", "Tage", "und", false}
	default:
		return durationWords{"minute", "minutes", "hour", "hours", "day", "days", "and", false}
	}
}

// formatDuration writes d in words for locale: "10 minutes", "1 hour", "24 hours",
// "1 hour and 30 minutes", "3 days". It counts in whole minutes, rounding to the nearest (but at
// least one for a positive d); whole days are used from two days on, since "24 hours" reads
// better than "1 day" for a link's lifetime.
func formatDuration(locale string, d time.Duration) string {
	w := wordsFor(locale)
	unit := func(n int64, one, many string) string {
		if n == 1 || (n == 0 && w.singularZero) {
			return fmt.Sprintf("%d %s", n, one)
		}
		return fmt.Sprintf("%d %s", n, many)
	}
	mins := int64(d.Round(time.Minute) / time.Minute)
	if mins <= 0 {
		if d <= 0 {
			return unit(0, w.minute, w.minutes)
		}
		mins = 1
	}
	if mins >= 2*24*60 && mins%(24*60) == 0 {
		return unit(mins/(24*60), w.day, w.days)
	}
	h, m := mins/60, mins%60
	switch {
	case h == 0:
		return unit(m, w.minute, w.minutes)
	case m == 0:
		return unit(h, w.hour, w.hours)
	default:
		return unit(h, w.hour, w.hours) + " " + w.and + " " + unit(m, w.minute, w.minutes)
	}
}
