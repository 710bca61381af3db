package poolweb

import (
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// point is one sample of a hashrate series.
type point struct {
	At    time.Time
	Value float64 // H/s
}

// chart is a hashrate series over a period, drawn as inline SVG: no
// script, no request, and its text escaped here.
type chart struct {
	Title    string // its accessible name
	From, To time.Time
	Points   []point
}

// The drawing's coordinate system; the page scales it to its width.
const (
	chartWidth  = 640.0
	chartHeight = 220.0
	plotLeft    = 72.0
	plotRight   = chartWidth - 12
	plotTop     = 12.0
	plotBottom  = chartHeight - 28
)

// svg draws c: a y axis in hashrate units from 0 to a round number
// above the highest sample, a time axis with UTC labels, the samples as
// a line over a filled area (one sample is a dot). Samples that are not
// finite, below 0 or outside the period are left out; with none left
// the chart says so.
func (c chart) svg() template.HTML {
	pts := c.usable()
	from, to := c.From.UTC(), c.To.UTC()
	if !to.After(from) {
		to = from.Add(time.Hour)
	}
	peak := 0.0
	for _, p := range pts {
		peak = max(peak, p.Value)
	}
	step, top := yScale(peak)
	unit, size := hashrateUnit(top)

	x := func(t time.Time) float64 {
		return plotLeft + (plotRight-plotLeft)*t.Sub(from).Seconds()/to.Sub(from).Seconds()
	}
	y := func(v float64) float64 { return plotBottom - (plotBottom-plotTop)*v/top }

	var b strings.Builder
	title := template.HTMLEscapeString(c.Title)
	b.WriteString(`<svg class="chart" viewBox="0 0 ` + num(chartWidth) + ` ` + num(chartHeight) +
		`" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="` + title + `"><title>` + title + `</title>` + "\n")

	// The y axis: a grid line and a label per step.
	for i := 0; float64(i)*step <= top*(1+1e-9); i++ {
		v := float64(i) * step
		yy := num(y(v))
		b.WriteString(`<line class="grid" x1="` + num(plotLeft) + `" y1="` + yy + `" x2="` + num(plotRight) + `" y2="` + yy + `"/>`)
		label := "0"
		if v > 0 {
			label = significant(v/size, 3) + " " + unit
		}
		b.WriteString(`<text class="label" x="` + num(plotLeft-6) + `" y="` + num(y(v)+4) + `" text-anchor="end">` + label + "</text>\n")
	}
	// The time axis.
	tickStep, layout := timeTicks(to.Sub(from))
	for t := firstTick(from, tickStep); !t.After(to); t = t.Add(tickStep) {
		xx := num(x(t))
		b.WriteString(`<line class="tick" x1="` + xx + `" y1="` + num(plotBottom) + `" x2="` + xx + `" y2="` + num(plotBottom+4) + `"/>`)
		b.WriteString(`<text class="label" x="` + xx + `" y="` + num(chartHeight-8) + `" text-anchor="middle">` + t.Format(layout) + "</text>\n")
	}
	b.WriteString(`<line class="axis" x1="` + num(plotLeft) + `" y1="` + num(plotBottom) + `" x2="` + num(plotRight) + `" y2="` + num(plotBottom) + `"/>` + "\n")

	switch len(pts) {
	case 0:
		b.WriteString(`<text class="empty" x="` + num((plotLeft+plotRight)/2) + `" y="` + num((plotTop+plotBottom)/2) + `" text-anchor="middle">no data in this period</text>` + "\n")
	case 1:
		b.WriteString(`<circle class="dot" cx="` + num(x(pts[0].At)) + `" cy="` + num(y(pts[0].Value)) + `" r="4"/>` + "\n")
	default:
		var line strings.Builder
		for i, p := range pts {
			if i > 0 {
				line.WriteByte(' ')
			}
			line.WriteString(num(x(p.At)) + "," + num(y(p.Value)))
		}
		area := num(x(pts[0].At)) + "," + num(plotBottom) + " " + line.String() + " " + num(x(pts[len(pts)-1].At)) + "," + num(plotBottom)
		b.WriteString(`<polygon class="area" points="` + area + `"/>` + "\n")
		b.WriteString(`<polyline class="line" fill="none" points="` + line.String() + `"/>` + "\n")
	}
	b.WriteString("</svg>")
	return template.HTML(b.String())
}

// usable are c's samples that can be drawn, in time order.
func (c chart) usable() []point {
	var out []point
	for _, p := range c.Points {
		if math.IsNaN(p.Value) || math.IsInf(p.Value, 0) || p.Value < 0 {
			continue
		}
		if p.At.Before(c.From) || p.At.After(c.To) {
			continue
		}
		out = append(out, p)
	}
	slices.SortStableFunc(out, func(a, b point) int { return a.At.Compare(b.At) })
	return out
}

// yScale is a round step (1, 2 or 5 times a power of ten) giving four
// or five steps up to a top at least peak; an all-zero or empty series
// is drawn up to 1 H/s.
func yScale(peak float64) (step, top float64) {
	if !(peak > 0) || math.IsInf(peak, 0) {
		return 0.25, 1
	}
	raw := peak / 4
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if step = m * pow; step >= raw {
			break
		}
	}
	return step, math.Ceil(peak/step-1e-9) * step
}

// timeTicks is the spacing and label layout of the time axis for a
// period: hours for a day or two, days for weeks.
func timeTicks(span time.Duration) (time.Duration, string) {
	switch {
	case span <= 6*time.Hour:
		return time.Hour, "15:04"
	case span <= 2*24*time.Hour:
		return 6 * time.Hour, "15:04"
	case span <= 10*24*time.Hour:
		return 24 * time.Hour, "Jan 2"
	}
	return 7 * 24 * time.Hour, "Jan 2"
}

// firstTick is the first multiple of step (from the Unix epoch, UTC) at
// or after from.
func firstTick(from time.Time, step time.Duration) time.Time {
	t := from.Truncate(step)
	if t.Before(from) {
		t = t.Add(step)
	}
	return t.UTC()
}

// num writes a coordinate with one decimal.
func num(v float64) string {
	return strconv.FormatFloat(v, 'f', 1, 64)
}
