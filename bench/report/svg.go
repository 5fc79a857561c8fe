package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"slices"
)

// canvas writes an SVG document by hand: a handful of shapes is all the
// charts need, and it keeps the module free of plotting dependencies.
type canvas struct {
	b bytes.Buffer
}

func newCanvas(w, h float64) *canvas {
	c := &canvas{}
	fmt.Fprintf(&c.b, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" font-family="Helvetica, Arial, sans-serif">`+"\n", w, h, w, h)
	fmt.Fprintf(&c.b, `<rect x="0" y="0" width="%g" height="%g" fill="#ffffff"/>`+"\n", w, h)
	return c
}

func esc(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func (c *canvas) text(x, y float64, anchor string, size float64, fill, s string) {
	fmt.Fprintf(&c.b, `<text x="%.1f" y="%.1f" text-anchor="%s" font-size="%g" fill="%s">%s</text>`+"\n", x, y, anchor, size, fill, esc(s))
}

func (c *canvas) bold(x, y float64, anchor string, size float64, s string) {
	fmt.Fprintf(&c.b, `<text x="%.1f" y="%.1f" text-anchor="%s" font-size="%g" font-weight="bold" fill="#222">%s</text>`+"\n", x, y, anchor, size, esc(s))
}

func (c *canvas) rect(x, y, w, h float64, fill string) {
	fmt.Fprintf(&c.b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n", x, y, max(w, 0), max(h, 0), fill)
}

func (c *canvas) line(x1, y1, x2, y2 float64, stroke string, width float64, dash string) {
	d := ""
	if dash != "" {
		d = fmt.Sprintf(` stroke-dasharray="%s"`, dash)
	}
	fmt.Fprintf(&c.b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%g"%s/>`+"\n", x1, y1, x2, y2, stroke, width, d)
}

func (c *canvas) polyline(pts [][2]float64, stroke string, width float64, dash string) {
	var b bytes.Buffer
	for _, p := range pts {
		fmt.Fprintf(&b, "%.1f,%.1f ", p[0], p[1])
	}
	d := ""
	if dash != "" {
		d = fmt.Sprintf(` stroke-dasharray="%s"`, dash)
	}
	fmt.Fprintf(&c.b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="%g"%s/>`+"\n", bytes.TrimSpace(b.Bytes()), stroke, width, d)
}

func (c *canvas) circle(x, y, r float64, fill string) {
	fmt.Fprintf(&c.b, `<circle cx="%.1f" cy="%.1f" r="%g" fill="%s"/>`+"\n", x, y, r, fill)
}

func (c *canvas) bytes() []byte {
	c.b.WriteString("</svg>\n")
	return c.b.Bytes()
}

// legendItem is one entry of a chart's legend.
type legendItem struct{ name, color, dash string }

// legend draws items in a row from (x, y) and returns the height used.
func (c *canvas) legend(x, y, width float64, items []legendItem) float64 {
	cx, cy := x, y
	for _, it := range items {
		w := 30 + 7*float64(len([]rune(it.name)))
		if cx+w > x+width && cx > x {
			cx, cy = x, cy+18
		}
		c.line(cx, cy-4, cx+18, cy-4, it.color, 3, it.dash)
		c.text(cx+22, cy, "start", 12, "#222", it.name)
		cx += w
	}
	return cy - y + 18
}

// bar is one bar of a bar panel: the median v with its range [lo, hi].
type bar struct {
	label      string
	v, lo, hi  float64
	color      string
	annotation string
}

// barPanel is one small chart of horizontal bars.
type barPanel struct {
	title      string
	bars       []bar
	limit      float64 // drawn as a dashed line when > 0
	limitLabel string
}

// barChart lays panels out in a grid of two columns.
func barChart(title, subtitle string, panels []barPanel) []byte {
	const (
		pw, gap, labelW, rowH = 470.0, 20.0, 110.0, 22.0
	)
	heights := make([]float64, len(panels))
	for i, p := range panels {
		heights[i] = 50 + rowH*float64(len(p.bars)) + 14
	}
	var rows []float64
	for i := 0; i < len(panels); i += 2 {
		h := heights[i]
		if i+1 < len(panels) {
			h = max(h, heights[i+1])
		}
		rows = append(rows, h)
	}
	top := 56.0
	total := top
	for _, h := range rows {
		total += h + gap
	}
	c := newCanvas(2*pw+3*gap, total)
	c.bold(gap, 24, "start", 16, title)
	c.text(gap, 42, "start", 12, "#555", subtitle)
	y := top
	for r, h := range rows {
		for col := range 2 {
			i := 2*r + col
			if i >= len(panels) {
				break
			}
			drawBarPanel(c, gap+float64(col)*(pw+gap), y, pw, labelW, rowH, panels[i])
		}
		y += h + gap
	}
	return c.bytes()
}

func drawBarPanel(c *canvas, x, y, w, labelW, rowH float64, p barPanel) {
	c.bold(x, y+14, "start", 13, p.title)
	scale := p.limit
	for _, b := range p.bars {
		scale = max(scale, b.hi, b.v)
	}
	if scale <= 0 {
		scale = 1
	}
	barX, barW := x+labelW, w-labelW-90
	y0 := y + 28
	c.line(barX, y0, barX, y0+rowH*float64(len(p.bars)), "#999", 1, "")
	for i, b := range p.bars {
		by := y0 + float64(i)*rowH
		c.text(barX-6, by+rowH/2+4, "end", 12, "#222", b.label)
		bw := barW * b.v / scale
		c.rect(barX, by+3, bw, rowH-6, b.color)
		if b.hi > b.lo {
			lx, hx := barX+barW*b.lo/scale, barX+barW*b.hi/scale
			c.line(lx, by+rowH/2, hx, by+rowH/2, "#222", 1, "")
			c.line(lx, by+6, lx, by+rowH-6, "#222", 1, "")
			c.line(hx, by+6, hx, by+rowH-6, "#222", 1, "")
		}
		c.text(barX+max(bw, barW*b.hi/scale)+5, by+rowH/2+4, "start", 11, "#222", b.annotation)
	}
	if p.limit > 0 {
		lx := barX + barW*p.limit/scale
		bottom := y0 + rowH*float64(len(p.bars))
		c.line(lx, y0-4, lx, bottom+2, "#444", 1.5, "4,3")
		c.text(lx, bottom+13, "middle", 10, "#444", p.limitLabel)
	}
}

// point is one point of a series: y with its range [lo, hi].
type point struct{ x, y, lo, hi float64 }

// series is one line of a line panel.
type series struct {
	name, color, dash string
	points            []point
}

// tick is a labelled position on an axis.
type tick struct {
	v     float64
	label string
}

// linePanel is one small line chart.
type linePanel struct {
	title, xLabel, yLabel string
	logX, logY            bool
	xTicks                []tick // nil: chosen from the data
	series                []series
}

// lineChart lays panels out side by side under one legend.
func lineChart(title, subtitle string, panels []linePanel) []byte {
	const pw, ph, gap = 470.0, 320.0, 20.0
	var items []legendItem
	for _, p := range panels {
		for _, s := range p.series {
			if !slices.ContainsFunc(items, func(it legendItem) bool { return it.name == s.name }) {
				items = append(items, legendItem{s.name, s.color, s.dash})
			}
		}
	}
	width := float64(len(panels))*(pw+gap) + gap
	probe := newCanvas(width, 10)
	lh := probe.legend(gap, 0, width-2*gap, items)
	top := 56 + lh + 6
	c := newCanvas(width, top+ph+gap)
	c.bold(gap, 24, "start", 16, title)
	c.text(gap, 42, "start", 12, "#555", subtitle)
	c.legend(gap, 64, width-2*gap, items)
	for i, p := range panels {
		drawLinePanel(c, gap+float64(i)*(pw+gap), top, pw, ph, p)
	}
	return c.bytes()
}

// axis maps data values to pixels, linearly or logarithmically.
type axis struct {
	lo, hi   float64
	log      bool
	from, to float64
}

func (a axis) pos(v float64) float64 {
	f := func(v float64) float64 {
		if a.log {
			return math.Log10(max(v, 1e-12))
		}
		return v
	}
	lo, hi := f(a.lo), f(a.hi)
	if hi == lo {
		return (a.from + a.to) / 2
	}
	return a.from + (f(v)-lo)/(hi-lo)*(a.to-a.from)
}

// newAxis fits lo..hi, widened to whole decades on a log axis.
func newAxis(lo, hi float64, log bool, from, to float64) axis {
	if log {
		lo = math.Pow(10, math.Floor(math.Log10(max(lo, 1e-9))))
		hi = math.Pow(10, math.Ceil(math.Log10(max(hi, 1e-9))))
		if hi <= lo {
			hi = lo * 10
		}
	} else {
		lo = min(lo, 0)
		hi = hi * 1.08
		if hi <= lo {
			hi = lo + 1
		}
	}
	return axis{lo: lo, hi: hi, log: log, from: from, to: to}
}

// ticks returns tick values for the axis: 1-2-5 steps.
func (a axis) ticks() []float64 {
	var out []float64
	if a.log {
		for d := a.lo; d <= a.hi*1.0001; d *= 10 {
			out = append(out, d)
			if a.hi/a.lo <= 100 {
				for _, m := range []float64{2, 5} {
					if d*m < a.hi {
						out = append(out, d*m)
					}
				}
			}
		}
		slices.Sort(out)
		return out
	}
	span := a.hi - a.lo
	step := math.Pow(10, math.Floor(math.Log10(span/5)))
	for _, m := range []float64{1, 2, 5, 10} {
		if span/(step*m) <= 6 {
			step *= m
			break
		}
	}
	for v := math.Ceil(a.lo/step) * step; v <= a.hi; v += step {
		out = append(out, v)
	}
	return out
}

func drawLinePanel(c *canvas, x, y, w, h float64, p linePanel) {
	c.bold(x, y+14, "start", 13, p.title)
	left, right, top, bottom := x+58, x+w-10, y+28, y+h-46
	xlo, xhi, ylo, yhi := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range p.series {
		for _, pt := range s.points {
			xlo, xhi = min(xlo, pt.x), max(xhi, pt.x)
			ylo, yhi = min(ylo, pt.lo, pt.y), max(yhi, pt.hi, pt.y)
		}
	}
	if math.IsInf(xlo, 0) {
		c.text((left+right)/2, (top+bottom)/2, "middle", 12, "#777", "no data")
		return
	}
	var xa axis
	if p.logX {
		xa = axis{lo: xlo / 1.15, hi: xhi * 1.15, log: true, from: left, to: right}
	} else {
		pad := max((xhi-xlo)*0.05, 0.5)
		xa = axis{lo: xlo - pad, hi: xhi + pad, from: left, to: right}
	}
	ya := newAxis(ylo, yhi, p.logY, bottom, top)
	for _, t := range ya.ticks() {
		py := ya.pos(t)
		c.line(left, py, right, py, "#e5e5e5", 1, "")
		c.text(left-5, py+4, "end", 10, "#444", num(t))
	}
	xt := p.xTicks
	if xt == nil {
		for _, t := range xa.ticks() {
			xt = append(xt, tick{t, num(t)})
		}
	}
	for _, t := range xt {
		px := xa.pos(t.v)
		c.line(px, bottom, px, bottom+4, "#444", 1, "")
		c.text(px, bottom+16, "middle", 10, "#444", t.label)
	}
	c.line(left, bottom, right, bottom, "#444", 1, "")
	c.line(left, top, left, bottom, "#444", 1, "")
	c.text((left+right)/2, bottom+34, "middle", 11, "#333", p.xLabel)
	fmt.Fprintf(&c.b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="11" fill="#333" transform="rotate(-90 %.1f %.1f)">%s</text>`+"\n",
		x+12, (top+bottom)/2, x+12, (top+bottom)/2, esc(p.yLabel))
	for _, s := range p.series {
		var pts [][2]float64
		for _, pt := range s.points {
			px, py := xa.pos(pt.x), ya.pos(pt.y)
			pts = append(pts, [2]float64{px, py})
			if pt.hi > pt.lo {
				c.line(px, ya.pos(pt.lo), px, ya.pos(pt.hi), s.color, 1, "")
			}
			c.circle(px, py, 3, s.color)
		}
		if len(pts) > 1 {
			c.polyline(pts, s.color, 2, s.dash)
		}
	}
}
