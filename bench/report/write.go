package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/spoolhq/spool/bench/harness"
)

// Document is the content of results.json.
type Document struct {
	Results *harness.Results `json:"results"`
	Summary *Summary         `json:"summary"`
	Targets []Outcome        `json:"targets"`
}

// Files are the names Write writes in its directory.
const (
	MarkdownFile = "results.md"
	JSONFile     = "results.json"
)

// Write writes results.md, results.json and the charts into dir (created
// if needed) and returns the markdown.
func Write(dir string, res *harness.Results) ([]byte, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	sum := Summarize(res)
	outcomes := Evaluate(Targets, res, sum)
	var names []string
	for _, c := range charts(res, sum) {
		if err := os.WriteFile(filepath.Join(dir, c.file), c.svg, 0o644); err != nil {
			return nil, err
		}
		names = append(names, c.file)
	}
	js, err := json.MarshalIndent(Document{Results: res, Summary: sum, Targets: outcomes}, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, JSONFile), append(js, '\n'), 0o644); err != nil {
		return nil, err
	}
	var md bytes.Buffer
	Markdown(&md, res, sum, outcomes, names)
	if err := os.WriteFile(filepath.Join(dir, MarkdownFile), md.Bytes(), 0o644); err != nil {
		return nil, err
	}
	return md.Bytes(), nil
}
