package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// num formats v with three significant digits and a k/M/G suffix.
func num(v float64) string {
	a := math.Abs(v)
	switch {
	case v == 0:
		return "0"
	case a >= 1e9:
		return sig(v/1e9) + "G"
	case a >= 1e6:
		return sig(v/1e6) + "M"
	case a >= 1e4:
		return sig(v/1e3) + "k"
	}
	return sig(v)
}

// sig formats v with three significant digits, without a trailing ".0".
func sig(v float64) string {
	a := math.Abs(v)
	var s string
	switch {
	case a >= 100:
		s = strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		s = strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		s = strconv.FormatFloat(v, 'f', 2, 64)
	case a >= 0.01:
		s = strconv.FormatFloat(v, 'f', 3, 64)
	default:
		s = strconv.FormatFloat(v, 'g', 2, 64)
	}
	if strings.Contains(s, ".") && !strings.ContainsAny(s, "eE") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// ratio formats a ratio ("0.85×").
func ratio(v float64) string { return sig(v) + "×" }

// trimFloat formats a factor without trailing zeros.
func trimFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// statText formats a summary: the median, and the range when there are
// several values.
func statText(st *Stat) string {
	if len(st.Values) <= 1 || st.Min == st.Max {
		return num(st.Median)
	}
	return fmt.Sprintf("%s [%s–%s]", num(st.Median), num(st.Min), num(st.Max))
}

// duration formats seconds as 1h02m03s / 2m03s / 4.5s.
func duration(sec float64) string {
	if sec < 60 {
		return sig(sec) + "s"
	}
	s := int(sec + 0.5)
	if s >= 3600 {
		return fmt.Sprintf("%dh%02dm%02ds", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%dm%02ds", s/60, s%60)
}
